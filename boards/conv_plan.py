"""A gateware plan for conv EP (seed 003) on a board: where weights and feature maps
live, how many multiply-accumulates a sample costs, the cycle bound and samples/s.

No conv gateware exists yet; this is the budget a design has to meet, computed from the
config (docs/cnn-gateware.md explains the schedule).  The schedule it assumes:

* ``lanes`` MAC lanes, each a hard multiplier; a state value read once is broadcast to
  every lane, each lane holding its own weights.
* Weights of a conv layer with a layer above it are banked **skewed**: K[co, ci, ., .]
  in bank (co + ci) mod banks.  A forward pass (fixed ci, lanes over co) and a feedback
  pass (fixed co, lanes over ci) then both read ``banks`` distinct banks per cycle; a
  DP16KD's two ports give two lanes per bank.
* The forward drive of a pooled layer computes every pre-pooling position (the max
  needs them all) and pools on the fly (max and a 2-bit index per 2x2 window kept in
  registers); the feedback K^T * P^-1(s) runs only from the routed positions.
* The input drive P(K_0 * x) + b_0 is constant within a sample: computed once, stored.
* A batch's updates are summed exactly and rounded once (the golden model's contract):
  one accumulator per weight when batch_size > 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epfpga.conv.config import ConvConfig
from epfpga.errors import EpfpgaError

from .parts import PARTS, blocks

#: pipeline fill and drain of one layer pass (address, BRAM read, multiply, add, write)
PASS_OVERHEAD = 8
#: a bank this small goes to LUT RAM on a part that has it (a DP16KD holds 18 Kbit)
LUTRAM_BITS = 1024


@dataclass
class Memory:
    name: str
    depth: int
    width: int
    copies: int = 1
    banks: int = 1
    blocks: int = 0
    lutram: bool = False

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.copies


@dataclass
class ConvPlan:
    cfg: ConvConfig
    board: str
    lanes: int
    clock_mhz: float
    memories: list[Memory] = field(default_factory=list)
    macs_per_step: dict[str, int] = field(default_factory=dict)
    cycles_per_step: int = 0
    macs_once: dict[str, int] = field(default_factory=dict)  # per sample, outside the steps
    cycles_once: int = 0
    multipliers: int = 0

    @property
    def steps(self) -> int:
        phases = 2 if self.cfg.nudge == "symmetric" else 1
        return self.cfg.T1 + phases * self.cfg.T2

    @property
    def cycles_per_sample(self) -> int:
        return self.steps * self.cycles_per_step + self.cycles_once

    @property
    def samples_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.cycles_per_sample

    @property
    def ram_blocks(self) -> int:
        return sum(m.blocks for m in self.memories)

    def table(self) -> str:
        part = PARTS[self.board]
        rows = ["| memory | depth x width | copies x banks | block RAMs |", "|---|---|---|---|"]
        for m in self.memories:
            rows.append(f"| {m.name} | {m.depth} x {m.width} | {m.copies} x {m.banks} | "
                        f"{'LUT RAM' if m.lutram else m.blocks} |")
        rows.append(f"| **total** | {sum(m.bits for m in self.memories) / 1024:.0f} Kbit | | "
                    f"**{self.ram_blocks} of {part.ram_blocks}** |")
        macs = ["| per relaxation step | MACs |", "|---|---|"]
        macs += [f"| {k} | {v:,} |" for k, v in self.macs_per_step.items()]
        macs += [f"| once per sample: {k} | {v:,} |" for k, v in self.macs_once.items()]
        c = self.cfg
        summary = (f"{self.lanes} MAC lanes, {self.multipliers} of {part.dsps} multipliers; "
                   f"{self.cycles_per_step:,} cycles per step x {self.steps} steps "
                   f"(T1={c.T1} {c.relax}, T2={c.T2}) + {self.cycles_once:,} once = "
                   f"{self.cycles_per_sample:,} cycles per sample -> "
                   f"{self.samples_per_s:.2f} samples/s at {self.clock_mhz:g} MHz")
        return "\n".join(rows) + "\n\n" + "\n".join(macs) + "\n\n" + summary + "\n"


def _conv_in(cfg: ConvConfig, i: int) -> tuple[int, int, int]:
    """(H, W, C) of what conv layer i reads."""
    return cfg.input_hwc if i == 0 else cfg.state_shapes[i - 1]  # type: ignore[return-value]


def layer_macs(cfg: ConvConfig) -> tuple[dict[str, int], dict[str, int]]:
    """MACs per relaxation step by pass, and once per sample (input drive, update)."""
    step: dict[str, int] = {}
    once: dict[str, int] = {}
    L, nc = cfg.n_layers, cfg.n_conv
    for i in range(L):
        if i < nc:
            co, ci, k, _ = cfg.weight_shape(i)
            h, w, _ = cfg.conv_shapes[i]
            fwd = h * w * co * ci * k * k  # every pre-pooling position
            hp, wp, _ = cfg.state_shapes[i]
            routed = hp * wp * co * ci * k * k  # one position per pooled unit
        else:
            n_out, n_in = cfg.weight_shape(i)
            fwd = routed = n_out * n_in
        # state 0 is the input; weight layer i drives state i + 1
        if i == 0:
            once["input drive (state 1)"] = fwd
        else:
            step[f"forward into state {i + 1}"] = fwd
            step[f"feedback from state {i + 1} into state {i}"] = routed
        # the update's statistics: one product per routed synapse and phase
        phases = 3 if cfg.nudge == "symmetric" else 2
        once[f"update statistics, weights {i}"] = phases * routed
    return step, once


def conv_plan(cfg: ConvConfig, board: str = "ulx3s", lanes: int | None = None,
              clock_mhz: float = 40.0, weight_copies: int = 1) -> ConvPlan:
    """``weight_copies``: copies of the banked weights, each serving two more lanes per
    bank (more block RAM for more multipliers)."""
    if board not in PARTS:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(PARTS)}")
    part = PARTS[board]
    nc = cfg.n_conv
    # skewed banking serves both directions with at most min(C_in, C_out) banks, two
    # lanes per dual-ported bank and copy
    skew = [min(cfg.weight_shape(i)[:2]) for i in range(1, nc)] or [cfg.fc[0]]
    if lanes is None:
        lanes = 1
        while lanes * 2 <= min(2 * weight_copies * min(skew), part.dsps - 2):
            lanes *= 2
    if lanes < 1 or weight_copies < 1:
        raise EpfpgaError(f"lanes and weight copies must be >= 1, got {lanes}, "
                          f"{weight_copies}")
    plan = ConvPlan(cfg, board, lanes, clock_mhz)
    per_mul = -(-cfg.weight_bits // part.dsp_width) * -(-cfg.act_bits // part.dsp_width)
    plan.multipliers = lanes * per_mul + 1  # + the nudge
    banks = max(1, lanes // (2 * weight_copies))
    for i in range(cfg.n_layers):
        shape = cfg.weight_shape(i)
        n = 1
        for s in shape:
            n *= s
        nb = min(banks, shape[0])
        plan.memories.append(Memory(f"weights {i} {shape}", -(-n // nb), cfg.weight_bits,
                                    copies=weight_copies if i else 1, banks=nb))
        plan.memories.append(Memory(f"biases {i}", shape[0], cfg.weight_bits))
        if cfg.batch_size > 1:
            # a batch's statistics summed exactly: one product per pooled position and
            # sample, a difference of two phases
            fan = cfg.state_shapes[i][0] * cfg.state_shapes[i][1] if i < nc else 1
            worst = fan * cfg.batch_size * cfg.act_one * cfg.act_one * 2
            plan.memories.append(Memory(f"update sums {i}", -(-n // nb),
                                        worst.bit_length() + 1, banks=nb))
    copies = 3 if cfg.relax == "jacobi" else 2  # (old, new,) free: kept for the update
    for i, shape in enumerate(cfg.state_shapes):
        units = 1
        for s in shape:
            units *= s
        plan.memories.append(Memory(f"state {i + 1} {shape}", units, cfg.act_bits, copies))
        if i < nc and cfg.pools[i] > 1:
            idx_bits = (cfg.pools[i] ** 2 - 1).bit_length()
            plan.memories.append(Memory(f"routing {i + 1}", units, idx_bits, copies))
    h, w, c = cfg.input_hwc
    plan.memories.append(Memory("input pixels", h * w * c, cfg.act_bits))
    d = cfg.state_shapes[0]
    plan.memories.append(Memory("input drive", d[0] * d[1] * d[2] if len(d) == 3 else d[0],
                                cfg.acc_bits_needed[0]))
    for m in plan.memories:
        m.lutram = part.lutram and m.depth * m.width <= LUTRAM_BITS
        if not m.lutram:
            m.blocks = m.copies * m.banks * blocks(m.depth, m.width, part.ram_modes)
    plan.macs_per_step, plan.macs_once = layer_macs(cfg)
    passes = len(plan.macs_per_step)
    plan.cycles_per_step = sum(-(-v // lanes) for v in plan.macs_per_step.values()) + \
        passes * PASS_OVERHEAD
    plan.cycles_once = sum(-(-v // lanes) for v in plan.macs_once.values()) + \
        len(plan.macs_once) * PASS_OVERHEAD + cfg.n_weights // lanes  # + the weight writes
    return plan


def conv_fit_check(cfg: ConvConfig, board: str, lanes: int | None = None,
                   weight_copies: int = 1) -> ConvPlan:
    """The plan, or an error naming what does not fit."""
    plan = conv_plan(cfg, board, lanes, weight_copies=weight_copies)
    part = PARTS[board]
    problems = []
    if cfg.weight_bits > part.dsp_width or cfg.act_bits > part.dsp_width:
        problems.append(f"weights/states wider than the {part.dsp_width}-bit multipliers")
    if plan.multipliers > part.dsps:
        problems.append(f"needs {plan.multipliers} multipliers but the {part.device} has "
                        f"{part.dsps}; try fewer lanes")
    if plan.ram_blocks > part.ram_blocks:
        big = max(plan.memories, key=lambda m: m.blocks)
        problems.append(f"needs {plan.ram_blocks} block RAMs but the {part.device} has "
                        f"{part.ram_blocks} (largest: {big.name}, {big.blocks}); try fewer "
                        "channels, batch_size = 1 (no update sums) or relax = 'evenodd' "
                        "(one state copy less)")
    if problems:
        raise EpfpgaError(f"conv config {cfg.name!r} does not fit {board} ({part.device}): "
                          + "; ".join(problems))
    return plan


def delta_macs(model, Xq, steps: int) -> dict[str, float]:  # noqa: ANN001
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
    dense, _ = layer_macs(cfg)
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
    return {"dense_per_step": float(sum(dense.values())),
            "delta_per_step": delta / (len(rec) - 1)}


if __name__ == "__main__":  # python -m epfpga.boards.conv_plan CHECKPOINT [SAMPLES]
    import sys

    import numpy as np

    from epfpga.checkpoint import load_checkpoint
    from epfpga.conv import ConvGolden
    from epfpga.datasets import load_dataset
    from epfpga.numerics import quantize_pixels, quantize_weights

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
