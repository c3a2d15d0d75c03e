"""A gateware plan for convolutional EP (``ConvConfig``) on a board's part: where the
weights and feature maps live, how many block RAMs and multipliers that takes, and a
cycle bound per training sample.  No conv gateware exists yet; this is the budget it
would be built to, so that a network too big for the part fails in a second instead
of after a synthesis run, and so that the speed it could reach is known before anyone
writes it (docs/cnn-gateware.md explains each choice).

The schedule counted here, on ``lanes`` MAC lanes of one multiplier each:

* Lane mapping per weight layer: ``c = min(lanes, C_out)`` *channel lanes*, one per
  output channel (a weight bank each), times ``g = lanes // c`` *groups*.  A conv
  forward pass gives the groups different output positions (they share each weight
  read); the transposed conv and the fc passes give them different input channels or
  inputs, so each group needs its own read of the weight bank, and a dual-port bank
  serves at most two (``min(g, 2)`` groups do useful work).
* Per relaxation step (Jacobi and even/odd alike: every state changes once per step, so
  every forward is computed once per step): the forward of every weight layer above the
  input -- the conv at every position of a pooling window, since the max needs all of
  them -- writing the pooled pre-activation and the window's argmax; the transposed conv
  (top-down) through the un-pooling, which only reaches the argmax positions, so it
  costs ``1/q**2`` of the forward; then the activation pass (round, clip, nudge).  The
  input layer's drive and routing are computed once per sample.
* The update: the statistic at ``s*`` is taken right after the nudged phase's first
  forward passes (which give the routing at ``s*``), before any state moves; the
  statistic at ``s^beta`` needs one more forward pass of the conv layers (the routing at
  the final states).  With ``batch_size > 1`` both go into per-weight accumulators that
  hold the batch's exact sum; the rounded update (one multiplier unit, a weight a
  cycle) runs once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epfpga.conv.config import ConvConfig
from epfpga.errors import EpfpgaError

from .parts import BOARD_BUILDS, PARTS, Part, blocks

#: A memory bank of at most this many bits goes to LUT RAM on parts that have it (the
#: ECP5: distributed RAM in the slices), not to a block RAM it would mostly waste.
LUTRAM_BITS = 2048
#: Clocks a pass adds beyond its MAC cycles: block RAM read (2), multiplier input,
#: pipeline and output registers (3), accumulate (1), write back (2).
PIPELINE = 8


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def sliced_blocks(depth: int, width: int, modes: tuple[tuple[int, int], ...]) -> int:
    """Block RAMs for one memory whose word may be split into slices of different aspect
    ratios (a 28-bit word as 18 + 9 + 1 bits: 12 blocks for 6400 words, where one 36-bit
    ratio takes 13), each slice counted by ``parts.blocks``."""
    best = [0] + [0] * width
    for w in range(1, width + 1):
        best[w] = min(blocks(depth, min(mw, w), ((d, mw),)) + best[w - min(mw, w)]
                      for d, mw in modes)
    return best[width]


def tiles(a_bits: int, b_bits: int, dsp_width: int) -> int:
    """Hard multipliers for one a x b product, tiled from dsp_width x dsp_width blocks."""
    return _cdiv(a_bits, dsp_width) * _cdiv(b_bits, dsp_width)


@dataclass(frozen=True)
class LayerWork:
    """One weight layer's work: multiplies as counted (lane-independent) and the cycles
    the lane mapping takes for them."""

    index: int
    kind: str  # "conv" or "fc"
    weights: int
    forward_macs: int  # one forward pass: conv at every pooling-window position
    backward_macs: int  # one top-down pass (transposed conv through the un-pooling)
    stats_macs: int  # one weight statistic (at s* or at s^beta)
    channel_lanes: int
    groups: int
    forward_cycles: int
    backward_cycles: int
    stats_cycles: int
    gradient_banks: int  # 0: batch_size 1, no accumulator


@dataclass(frozen=True)
class Memory:
    name: str
    kind: str  # weights, biases, gradients, states, accumulators, drive, routing, input,
    #            random, lane registers
    depth: int  # words per bank
    width: int
    banks: int
    blocks: int  # block RAMs (all banks); 0 when in LUT RAM
    lutram: bool
    why: str

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.banks


@dataclass(frozen=True)
class ConvPlan:
    cfg: ConvConfig
    board: str
    part: Part
    lanes: int
    clock_mhz: float
    layers: tuple[LayerWork, ...]
    memories: tuple[Memory, ...]
    multipliers: dict[str, int]
    cycles: dict[str, int]  # per sample, by phase
    activation_cycles: int  # per step
    macs: dict[str, int] = field(default_factory=dict)  # per sample, by phase

    @property
    def multipliers_used(self) -> int:
        return sum(self.multipliers.values())

    @property
    def ram_blocks(self) -> int:
        return sum(m.blocks for m in self.memories)

    @property
    def ram_bits(self) -> int:
        """Bits in block RAM (LUT-RAM banks not counted)."""
        return sum(m.bits for m in self.memories if not m.lutram)

    @property
    def lutram_bits(self) -> int:
        return sum(m.bits for m in self.memories if m.lutram)

    @property
    def macs_per_step(self) -> int:
        return sum(w.forward_macs + w.backward_macs for w in self.layers[1:])

    @property
    def cycles_per_step(self) -> int:
        passes = 2 * (len(self.layers) - 1)
        return (sum(w.forward_cycles + w.backward_cycles for w in self.layers[1:])
                + self.activation_cycles + PIPELINE * passes)

    @property
    def cycles_per_sample(self) -> int:
        return sum(self.cycles.values())

    @property
    def macs_per_sample(self) -> int:
        return sum(self.macs.values())

    @property
    def samples_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles_per_sample

    def problems(self) -> list[str]:
        """What does not fit the part, each with what to try."""
        p, cfg, out = self.part, self.cfg, []
        if cfg.weight_bits > p.dsp_width or cfg.act_bits > p.dsp_width:
            out.append(f"weights ({cfg.weight_bits} bit) or states ({cfg.act_bits} bit) are "
                       f"wider than the {p.dsp_width}-bit multipliers; try weight_bits <= "
                       f"{p.dsp_width}")
        if self.multipliers_used > p.dsps:
            out.append(f"needs {self.multipliers_used} multipliers ({self.lanes} MAC lanes) "
                       f"but the {p.device} has {p.dsps}; try fewer lanes")
        if self.ram_bits > p.ram_bits:
            big = max(self._by_kind(), key=lambda k: self._by_kind()[k][1])
            out.append(f"needs {self.ram_bits / 1024:.0f} Kbit of block RAM ({big}: "
                       f"{self._by_kind()[big][1] / 1024:.0f} Kbit) but the {p.device} has "
                       f"{p.ram_bits / 1024:.0f} Kbit; try fewer channels, narrower weights "
                       "or a smaller batch (the gradient accumulators' width grows with it)")
        elif self.ram_blocks > p.ram_blocks:
            big = max(self._by_kind(), key=lambda k: self._by_kind()[k][0])
            out.append(f"needs {self.ram_blocks} block RAMs ({big}: "
                       f"{self._by_kind()[big][0]}) but the {p.device} has {p.ram_blocks}; "
                       "try fewer channels or narrower weights")
        return out

    def _by_kind(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for m in self.memories:
            b, bits = out.get(m.kind, (0, 0))
            out[m.kind] = (b + m.blocks, bits + (0 if m.lutram else m.bits))
        return out

    def report(self) -> str:
        """The plan as text: ``epfpga build --board B --config C --check-only`` prints it."""
        cfg, p = self.cfg, self.part
        lines = [f"conv plan for {cfg.name!r} on {self.board} ({p.device}), {self.lanes} MAC "
                 f"lanes at {self.clock_mhz:g} MHz -- a plan: no conv gateware exists yet", "",
                 "  memory               banks x depth x width   blocks  (LUT RAM)  why"]
        for m in self.memories:
            where = f"{'-':>6s}  {m.bits:9d}" if m.lutram else f"{m.blocks:6d}  {'':9s}"
            lines.append(f"  {m.name:20s} {m.banks:4d} x {m.depth:6d} x {m.width:3d}   "
                         f"{where}  {m.why}")
        lines.append(f"  block RAM: {self.ram_blocks} of {p.ram_blocks} blocks, "
                     f"{self.ram_bits / 1024:.0f} of {p.ram_bits / 1024:.0f} Kbit; LUT RAM "
                     f"{self.lutram_bits / 1024:.1f} Kbit")
        lines.append("")
        lines.append("  layer  kind  lanes (ch x grp)  fwd MACs  bwd MACs  stat MACs"
                     "  fwd cyc  bwd cyc  stat cyc")
        for w in self.layers:
            lines.append(f"  {w.index:5d}  {w.kind:4s}  {w.channel_lanes:5d} x {w.groups:3d}   "
                         f"{w.forward_macs:9d} {w.backward_macs:9d} {w.stats_macs:10d} "
                         f"{w.forward_cycles:8d} {w.backward_cycles:8d} {w.stats_cycles:9d}")
        lines.append("")
        lines.append(f"  multipliers: {self.multipliers_used} of {p.dsps} ("
                     + ", ".join(f"{k} {v}" for k, v in self.multipliers.items()) + ")")
        lines.append(f"  per relaxation step: {self.macs_per_step} MACs, "
                     f"{self.cycles_per_step} cycles ({self.activation_cycles} activation, "
                     f"{PIPELINE} pipeline per pass)")
        lines.append("  per sample: " + ", ".join(f"{k} {v}" for k, v in self.cycles.items())
                     + f" = {self.cycles_per_sample} cycles, {self.macs_per_sample} MACs")
        lines.append(f"  -> {self.samples_per_s:.2f} training samples/s at "
                     f"{self.clock_mhz:g} MHz (bound: every lane busy, no data-dependent "
                     "skipping)")
        return "\n".join(lines) + "\n"


def _gradient_banks(cfg: ConvConfig, i: int, n_w: int, lanes_c: int, lane_cycles: int,
                    part: Part) -> tuple[int, int]:
    """(banks, cycles) of layer i's gradient accumulators and its statistic pass: each
    bank takes one read-modify-write a cycle, so fewer banks cost cycles but waste less
    of each block; the fewest blocks win, then the fewest cycles."""
    if cfg.batch_size == 1:
        return 0, lane_cycles
    gw = _gradient_width(cfg, i)[0]
    cands = {1, lanes_c} | {1 << k for k in range(lanes_c.bit_length()) if 1 << k < lanes_c}
    return min(((b, max(lane_cycles, _cdiv(n_w, b))) for b in cands),
               key=lambda bc: (bc[0] * sliced_blocks(_cdiv(n_w, bc[0]), gw, part.ram_modes),
                               bc[1]))


def _layer_work(cfg: ConvConfig, i: int, lanes: int, part: Part) -> LayerWork:
    shape = cfg.weight_shape(i)
    cout = shape[0]
    c = min(lanes, cout)
    g = lanes // c
    tiles_c = _cdiv(cout, c)
    g2 = min(g, 2)  # groups that can each read their own word from a dual-port bank
    if i < cfg.n_conv:
        _, cin, k, _ = shape
        q = cfg.pools[i]
        hp, wp, _ = cfg.state_shapes[i]
        npool = hp * wp
        npre = npool * q * q  # conv outputs inside a pooling window (the rest are dropped)
        # the forward's groups read different positions of the map below, two a cycle
        # from each of its banks
        gf = min(g, 2 * (1 if i == 0 else _state_banks(cfg, i - 1, lanes)))
        n_w = cout * cin * k * k
        lane_stats = tiles_c * k * k * cin * _cdiv(npool, g)
        gb, stats_cycles = _gradient_banks(cfg, i, n_w, c, lane_stats, part)
        return LayerWork(i, "conv", n_w, cout * npre * k * k * cin,
                         cout * npool * k * k * cin, cout * npool * k * k * cin, c, g,
                         forward_cycles=tiles_c * _cdiv(npre, gf) * k * k * cin,
                         backward_cycles=tiles_c * npool * k * k * _cdiv(cin, g2),
                         stats_cycles=stats_cycles, gradient_banks=gb)
    n_in = shape[1]
    macs = cout * n_in
    # the statistic of an fc weight is one product: one accumulator update a bank a cycle
    gb, stats_cycles = _gradient_banks(cfg, i, macs, c, tiles_c * n_in, part)
    return LayerWork(i, "fc", macs, macs, macs, macs, c, g,
                     forward_cycles=tiles_c * _cdiv(n_in, g2),
                     backward_cycles=tiles_c * _cdiv(n_in, g2),
                     stats_cycles=stats_cycles, gradient_banks=gb)


def _state_banks(cfg: ConvConfig, j: int, lanes: int) -> int:
    """Banks of state layer j's states and accumulator: the top-down pass of weight layer
    j+1 writes one word per pooling-window offset and per (at most two) groups a cycle."""
    if j + 1 >= cfg.n_layers:
        return 1
    shape = cfg.weight_shape(j + 1)
    g2 = min(lanes // min(lanes, shape[0]), 2)
    if j + 1 < cfg.n_conv:
        g2 *= _parity_banks(cfg.pools[j + 1], cfg.strides[j + 1])
    return min(g2, cfg.layers[j + 1])


def _state_pack(cfg: ConvConfig, j: int, part: Part) -> int:
    """States of adjacent channels (units) in one word of state layer j's memory: the
    forward reads one state a cycle and keeps the word, and the activation pass writes
    two words a cycle (dual port), so one memory keeps up with the accumulator banks."""
    c = cfg.state_shapes[j][-1]
    return max(1, min(max(w for _, w in part.ram_modes) // cfg.act_bits, c))


def _routing_bits(q: int) -> int:
    return max(1, (q * q - 1).bit_length())


def _parity_banks(q: int, stride: int) -> int:
    """Accumulator banks one top-down pass writes at once: the q x q window offsets of
    one pooled unit land on distinct banks when rows and columns are banked modulo m."""
    if q == 1:
        return 1
    from math import gcd

    m = q if gcd(stride, q) == 1 else q * stride
    return m * m


def _gradient_width(cfg: ConvConfig, i: int) -> tuple[int, int]:
    """Bits of the exact batch sum of (stat^beta - stat*) for a weight and for a bias of
    layer i: products of two states (<= act_one each) over the pooled positions and the
    batch, signed."""
    npool = cfg.state_shapes[i][0] * cfg.state_shapes[i][1] if i < cfg.n_conv else 1
    n = cfg.batch_size * npool
    return ((n * cfg.act_one * cfg.act_one).bit_length() + 1,
            (n * cfg.act_one).bit_length() + 1)


def _memories(cfg: ConvConfig, work: list[LayerWork], part: Part, lanes: int
              ) -> list[Memory]:
    out: list[Memory] = []

    def add(name: str, kind: str, words: int, width: int, banks: int, why: str,
            lut: bool = True) -> None:
        depth = _cdiv(words, banks)
        small = lut and part.lutram and depth * width <= LUTRAM_BITS
        n = 0 if small else banks * sliced_blocks(depth, width, part.ram_modes)
        out.append(Memory(name, kind, depth, width, banks, n, small, why))

    L, shapes = cfg.n_layers, cfg.state_shapes
    for w in work:
        i = w.index
        add(f"w{i}", "weights", w.weights, cfg.weight_bits, w.channel_lanes,
            "a bank per channel lane: each lane reads its own output channel's weights")
        add(f"b{i}", "biases", cfg.weight_shape(i)[0], cfg.weight_bits, 1,
            "read once per unit by the forward pass")
        if cfg.batch_size > 1:
            gw, gb = _gradient_width(cfg, i)
            add(f"g{i}", "gradients", w.weights, gw, w.gradient_banks,
                f"exact batch sum of stat^b - stat* ({cfg.batch_size} samples)", lut=False)
            add(f"gb{i}", "gradients", cfg.weight_shape(i)[0], gb, 1, "bias sums")
        add(f"rand{i}", "random", cfg.weight_shape(i)[0], cfg.sr_bits, 1,
            "stochastic rounding: the LFSR's row values, once per batch")
    # the input: double buffered, the next sample loads while this one runs
    add("x", "input", 2 * cfg.layers[0], cfg.act_bits, 2, "pixels, two buffers")
    need = cfg.acc_bits_needed
    for j in range(L):
        n = cfg.layers[j + 1]
        banks = _state_banks(cfg, j, lanes)
        pk = _state_pack(cfg, j, part)
        add(f"s{j}", "states", _cdiv(n, pk), pk * cfg.act_bits, 1,
            f"working states, one copy, {pk} channels a word: every MAC pass reads the "
            "old states, only the activation pass writes")
        add(f"acc{j}", "accumulators", n, need[j], banks,
            "pre-activation: the forward writes P(K*s)+b, the top-down pass adds")
        if j < cfg.n_conv and cfg.pools[j] > 1:
            add(f"r{j}", "routing", n, _routing_bits(cfg.pools[j]), 1,
                "argmax of each pooling window (first max wins)")
        if cfg.nudge == "symmetric":
            add(f"sf{j}", "states", _cdiv(n, pk), pk * cfg.act_bits, 1,
                "s*: the -beta phase restarts here")
        elif cfg.batch_size == 1:
            add(f"sf{j}", "states", _cdiv(n, pk), pk * cfg.act_bits, 1,
                "s*: with no batch accumulator both statistics run after the nudged phase")
            if j < cfg.n_conv and cfg.pools[j] > 1:
                add(f"rf{j}", "routing", n, _routing_bits(cfg.pools[j]), 1, "routing at s*")
        if j < cfg.n_conv:
            hp, wp, _ = shapes[j]
            w = work[j]
            add(f"v{j}", "lane registers", hp * wp * w.channel_lanes, cfg.act_bits,
                w.channel_lanes, "each lane's own channel of the pooled map, for the "
                "weight statistic's inner loop over positions")
    add("drive0", "drive", cfg.layers[1], need[0], 1,
        "the input layer's drive P(K0*x)+b0: constant over a sample, computed once")
    return out


def _multipliers(cfg: ConvConfig, lanes: int, part: Part) -> dict[str, int]:
    dw = part.dsp_width
    gw = max(_gradient_width(cfg, i)[0] for i in range(cfg.n_layers)) \
        if cfg.batch_size > 1 else None
    if gw is None:  # batch 1: the statistic is one window's sum of products
        gw = max(_gradient_width(cfg.replace(batch_size=1), i)[0]
                 for i in range(cfg.n_layers))
    qw = max(cfg.update_q).bit_length() + 1
    return {"MAC lanes": lanes * tiles(cfg.weight_bits, cfg.act_bits + 1, dw),
            "update": tiles(gw, qw, dw),
            "nudge": tiles(cfg.beta_frac + 2, cfg.act_bits + 1, dw)}


def conv_plan(cfg: ConvConfig, board: str = "ulx3s", lanes: int | None = None,
              clock_mhz: float = 40.0) -> ConvPlan:
    """The plan for ``cfg`` on ``board``'s part.  ``lanes`` None: the largest power of
    two that fits the part's multipliers and block RAM (powers of two divide the channel
    counts, so no channel lane idles; see ``default_lanes``)."""
    if board not in PARTS:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(PARTS)}")
    if not isinstance(cfg, ConvConfig):
        raise EpfpgaError("conv_plan takes a ConvConfig (an MLP config goes through "
                          "parts.fit_check)")
    if lanes is None:
        lanes = default_lanes(cfg, board, clock_mhz)
    if lanes < 1:
        raise EpfpgaError(f"lanes must be >= 1, got {lanes}")
    if clock_mhz <= 0:
        raise EpfpgaError(f"clock must be > 0 MHz, got {clock_mhz}")
    part = PARTS[board]
    work = [_layer_work(cfg, i, lanes, part) for i in range(cfg.n_layers)]
    mems = _memories(cfg, work, part, lanes)
    L = cfg.n_layers
    # activation: each layer's units at one per accumulator bank a cycle, layers side by
    # side (separate memories and rounding units)
    act = max(_cdiv(cfg.layers[j + 1], min(m.banks, 2 * _state_pack(cfg, j, part)))
              for j in range(L) for m in mems if m.name == f"acc{j}")
    conv_up = [w for w in work[1:] if w.kind == "conv"]
    step = (sum(w.forward_cycles + w.backward_cycles for w in work[1:]) + act
            + PIPELINE * 2 * (L - 1))
    # layer 0's drive is copied into its accumulator each step, beside the forward of
    # layer 1 (other memories); only a copy longer than that forward costs cycles
    copy = _cdiv(cfg.layers[1], 2)
    step += max(0, copy - (work[1].forward_cycles if L > 1 else 0))
    stats = sum(w.stats_cycles for w in work) + PIPELINE * L
    phases = 2 if cfg.nudge == "symmetric" else 1
    routing = sum(w.forward_cycles for w in conv_up) + PIPELINE * len(conv_up)
    n_params = cfg.n_weights + sum(cfg.weight_shape(i)[0] for i in range(L))
    cycles = {
        "input drive": work[0].forward_cycles + PIPELINE,
        "free phase": cfg.T1 * step,
        "nudged phase": phases * cfg.T2 * step,
        "routing at s^beta": phases * routing,
        "statistics": (phases + (0 if cfg.nudge == "symmetric" else 1)) * stats,
        "update (per batch / batch_size)": _cdiv(n_params, cfg.batch_size),
    }
    step_macs = sum(w.forward_macs + w.backward_macs for w in work[1:])
    stat_macs = sum(w.stats_macs for w in work)
    macs = {
        "input drive": work[0].forward_macs,
        "relaxation": (cfg.T1 + phases * cfg.T2) * step_macs,
        "routing at s^beta": phases * sum(w.forward_macs for w in conv_up),
        "statistics": (phases + (0 if cfg.nudge == "symmetric" else 1)) * stat_macs,
        "update (per batch / batch_size)": _cdiv(n_params, cfg.batch_size),
    }
    return ConvPlan(cfg, board, part, lanes, clock_mhz, tuple(work), tuple(mems),
                    _multipliers(cfg, lanes, part), cycles, act, macs)


def default_lanes(cfg: ConvConfig, board: str = "ulx3s", clock_mhz: float = 40.0) -> int:
    """The largest power of two of lanes whose plan fits ``board``'s part (1 when none
    does: the fit check then says what is too big)."""
    best, p = 1, 1
    while p <= PARTS[board].dsps:
        if not conv_plan(cfg, board, p, clock_mhz).problems():
            best = p
        p *= 2
    return best


def conv_fit_check(cfg: ConvConfig, board: str = "ulx3s", lanes: int | None = None,
                   clock_mhz: float | None = None) -> ConvPlan:
    """``conv_plan``, refused with an ``EpfpgaError`` naming what does not fit."""
    if clock_mhz is None:
        clock_mhz = max((c for b, _, c in BOARD_BUILDS if b == board), default=40.0)
    plan = conv_plan(cfg, board, lanes, clock_mhz)
    if problems := plan.problems():
        raise EpfpgaError(f"conv config {cfg.name!r} does not fit {board} "
                          f"({plan.part.device}) with {plan.lanes} MAC lane(s): "
                          + "; ".join(problems))
    return plan


def delta_macs(model, Xq, steps: int) -> dict[str, float]:
    """MACs per step of a change-driven schedule, measured on the golden model
    (``ConvGolden``, integer states): a forward accumulator is updated only by the
    inputs that changed since the previous step (K times the change: exact in integers,
    so bit-exact with the dense sum), a feedback accumulator only by the pooled units
    whose value or routing changed (a routing change removes and re-adds).  Returns the
    mean over ``steps`` Jacobi steps and samples, dense and change-driven."""

    cfg = model.cfg
    x = model.to_maps(Xq)
    rec: list[list[np.ndarray]] = []
    model.relax(x, model.input_drive(x), model.zeros(len(x)), steps, record=rec,
                relax="jacobi")
    dense = conv_plan(cfg, "ulx3s", lanes=1).macs_per_step  # MACs do not depend on lanes
    B, nc = len(x), cfg.n_conv
    delta = 0.0
    prev_idx: list = [None] * cfg.n_layers
    for t in range(1, len(rec)):
        for i in range(1, cfg.n_layers):
            below_old, below_new = rec[t - 1][i - 1], rec[t][i - 1]
            changed_in = float((below_old != below_new).sum()) / B
            shape = cfg.weight_shape(i)
            if i < nc:
                co, ci, k, _ = shape
                delta += changed_in * co * k * k  # forward: taps a changed input reaches
                idx = model.links[i].forward(below_new)[1]
                moved = 0.0 if prev_idx[i] is None or idx is None else float(
                    (idx != prev_idx[i]).sum()) / B
                prev_idx[i] = idx
                changed_out = float((rec[t - 1][i] != rec[t][i]).sum()) / B
                delta += (changed_out + 2 * moved) * ci * k * k  # feedback
            else:
                n_out, n_in = shape
                delta += changed_in * n_out + float(
                    (rec[t - 1][i] != rec[t][i]).sum()) / B * n_in
    return {"dense_per_step": float(dense),
            "delta_per_step": delta / (len(rec) - 1)}


if __name__ == "__main__":  # python -m epfpga.boards.conv_plan CHECKPOINT [SAMPLES]
    import sys

    import numpy as np

    from epfpga.conv import ConvGolden
    from epfpga.data.datasets import load_dataset
    from epfpga.model.numerics import quantize_pixels, quantize_weights
    from epfpga.train.checkpoint import load_checkpoint

    ck = load_checkpoint(sys.argv[1])
    c = ck.cfg
    if ck.engine == "golden":
        g = ConvGolden(c)
        g.load_state_dict(ck.state)
    else:  # a float checkpoint, quantized
        g = ConvGolden(c, W=[quantize_weights(np.asarray(w, np.float64), c)
                             for w in ck.state["W"]],
                       b=[quantize_weights(np.asarray(v, np.float64), c)
                          for v in ck.state["b"]])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    r = delta_macs(g, quantize_pixels(load_dataset("mnist").x_test[:n], c), c.T1)
    gain = r["dense_per_step"] / r["delta_per_step"]
    print(f"{ck.engine} checkpoint at epoch {ck.epoch + 1}, sample {ck.position}; {n} test "
          f"samples, {c.T1} Jacobi steps: {r['dense_per_step']:,.0f} MACs per dense step, "
          f"{r['delta_per_step']:,.0f} change-driven ({gain:.1f}x fewer)")
