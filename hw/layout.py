"""Where weights, biases and states sit in the core's memories when it runs P MAC lanes.

Weights: each layer's matrix (n_out x n_in) is spread over P banks with a skew, element
(r, c) in bank (r + c) mod P at address r * words + c // P (words = ceil(n_in / P)).
The skew is what lets one cycle fetch P weights in every direction the core walks:

* along a row (bottom-up MACs, c = P t .. P t + P - 1): P consecutive c,
* along a column (top-down MACs, r = P t .. P t + P - 1): P consecutive r,
* down a group of P rows at one arbitrary column (input drive and weight updates,
  where the column is a non-zero pixel from the sparse list): P consecutive r,

and in each case the P elements fall in P different banks.  With P = 1 this is the
plain row-major layout.

Vectors (biases, states, drive, random row values): P lanes per memory word, element i
in word i // P, lane i mod P, so a group of P rows reads its P values in one cycle.
Padding (the last partial word or row group) is never written and stays zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epfpga.model.config import EPConfig


def words(n: int, lanes: int) -> int:
    """Memory words of an n-element vector packed ``lanes`` per word."""
    return -(-n // lanes)


@dataclass(frozen=True)
class WeightLayout:
    n_out: int
    n_in: int
    lanes: int

    @property
    def words(self) -> int:
        """Words per matrix row in each bank."""
        return words(self.n_in, self.lanes)

    @property
    def groups(self) -> int:
        """Groups of P rows (the drive and the updates visit P rows at a time)."""
        return words(self.n_out, self.lanes)

    @property
    def depth(self) -> int:
        """Words per bank (rows padded to whole groups)."""
        return self.groups * self.lanes * self.words

    def place(self, r: int, c: int) -> tuple[int, int]:
        """(bank, address) of element (r, c)."""
        return (r + c) % self.lanes, r * self.words + c // self.lanes

    def banks(self, w: np.ndarray) -> list[np.ndarray]:
        """The P bank contents for matrix ``w`` (zero in the padding)."""
        out = [np.zeros(self.depth, dtype=np.int64) for _ in range(self.lanes)]
        for r in range(self.n_out):
            for c in range(self.n_in):
                bank, addr = self.place(r, c)
                out[bank][addr] = w[r, c]
        return out


def acc_width(cfg: EPConfig) -> int:
    """Accumulator bits the core builds: the worst case the config can reach
    (``acc_bits_needed``), not the golden model's declared ``acc_bits``.  Sums are exact
    integers that never leave that range, so the narrower register changes no bit."""
    return min(cfg.acc_bits, max(cfg.acc_bits_needed))


def weight_layouts(cfg: EPConfig) -> list[WeightLayout]:
    return [WeightLayout(cfg.layers[i + 1], cfg.layers[i], cfg.lanes)
            for i in range(cfg.n_layers)]


def exact_divider(d: int, limit: int) -> tuple[int, int]:
    """(M, s) with (f * M) >> s == f // d for every 0 <= f < limit: the host port splits
    a flat weight index into (row, column) without a divider circuit."""
    f = np.arange(limit, dtype=np.int64)
    for s in range(1, 48):
        mul = -(-(1 << s) // d)
        if limit * mul < (1 << 62) and np.array_equal((f * mul) >> s, f // d):
            return mul, s
    raise ValueError(f"no exact reciprocal for {d} below {limit}")


def has_predrive(cfg: EPConfig, fast: bool) -> bool:
    """Whether the core computes the next sample's input drive while the current one
    relaxes (the fast plan; W0's ports are idle during relaxation).  It reads W0 before
    this sample's update, so the update adds what it changed, sum_j (W0'-W0)[:, j] x'_j
    and the bias change: the drive is exactly b0' + W0' x', and the drive phase leaves
    the sample's dependence chain.  Not with C-EP, whose updates interleave drives."""
    return fast and cfg.algorithm != "cep"


def w0_bit_sliced(cfg: EPConfig, fast: bool) -> bool:
    """Whether W0's banks are built from one-bit memories (hw/bitslice.py): on the
    fast plan's parts (the ECP5), where many lanes need few wires per bank; not where W0
    is the iCE40UP5K's single-port SPRAM."""
    return fast and cfg.part != "up5k"


def relax_halves(cfg: EPConfig, fast: bool) -> dict[int, int]:
    """Per layer, in how many parts its relaxation entries run side by side.  The fast
    plan gives each pipeline 2P multipliers, P per MAC direction, but the first layer
    has no bottom-up inputs (its drive is a constant) and the output layer no top-down
    ones: there the idle P take the second half of the entries, from read ports of their
    own (copies of the weight banks and of the states they meet), and a step takes half
    the cycles."""
    L = cfg.n_layers
    return {lay: 2 if fast and L >= 2 and lay in (1, L) else 1 for lay in range(1, L + 1)}


def memory_plan(cfg: EPConfig, spram: bool = False, fast: bool = False
                ) -> list[tuple[str, int, int]]:
    """(name, depth, width) of every block-RAM memory of the core, as hw/core.py builds
    them; ``spram``: W0 sits in single-port SPRAM (iCE40UP5K), not block RAM; ``fast``:
    the fast multiplier plan's second read ports (copies: W_l for l >= 1, the output
    states), which its odd/even relaxation pipelines need, its second pixel bank, the
    predrive's second drive bank and pixel read port (``has_predrive``), the second
    halves' read ports (``relax_halves``: copies of W_1, W_{L-1} and the states they
    meet), and W0 in one-bit slices (``w0_bit_sliced``).  (The fast plan's ``nz`` is LUT
    RAM; counted here all the same, the fit check errs on the safe side.)"""
    n, L, P = cfg.layers, cfg.n_layers, cfg.lanes
    wb, ab = cfg.weight_bits, cfg.act_bits
    out = []
    for i, lay in enumerate(weight_layouts(cfg)):
        names = [f"w{i}_{b}" if P > 1 else f"w{i}" for b in range(P)]
        if i == 0 and w0_bit_sliced(cfg, fast):
            out += [(f"{name}.{k}", lay.depth, 1) for name in names for k in range(wb)]
        elif not (i == 0 and spram):
            out += [(name, lay.depth, wb) for name in names]
    out += [(f"b{i}", words(n[i + 1], P), P * wb) for i in range(L)]
    out += [(f"s{i + 1}", 2 * words(n[i + 1], P), P * ab) for i in range(L)]
    out += [(f"sf{i + 1}", words(n[i + 1], P), P * ab) for i in range(L)]
    if cfg.nudge == "symmetric":
        out += [(f"sp{i + 1}", words(n[i + 1], P), P * ab) for i in range(L)]
    if cfg.algorithm == "cep":  # a second read port on each state bank: a copy
        out += [(f"slo{i + 1}", 2 * words(n[i + 1], P), P * ab) for i in range(L)]
    if fast and L >= 2:
        out += [(f"w{i}_{b}_copy", lay.depth, wb) for i, lay in enumerate(weight_layouts(cfg))
                if i >= 1 for b in range(P)]
        out += [(f"s{L}_own", 2 * words(n[L], P), P * ab)]
        for lay, parts in relax_halves(cfg, fast).items():
            if parts == 1:
                continue  # (layer 1 reads W_1 and s_2; layer L, W_{L-1} and s_{L-1})
            li, sk = (1, 2) if lay == 1 else (L - 1, L - 1)
            geo = weight_layouts(cfg)[li]
            out += [(f"w{li}_{b}_half{lay}", geo.depth, wb) for b in range(P)]
            out += [(f"s{sk}_half{lay}", 2 * words(n[sk], P), P * ab)]
    banks = 2 if fast else 1  # the fast plan loads the next sample's pixels meanwhile
    pre = has_predrive(cfg, fast)
    out += [("x", banks * n[0], ab), ("nz", banks * n[0], max(1, n[0].bit_length())),
            ("drive", (2 if pre else 1) * words(n[1], P), P * acc_width(cfg)),
            ("rand_a", sum(words(k, P) for k in n[1:]), P * cfg.sr_bits),
            ("rand_c", rand_offsets(cfg)[1][-1] + n[-2] + 1, cfg.sr_bits)]
    if pre:  # the update reads the next sample's pixels beside its own: a copy
        out += [("x_copy", banks * n[0], ab)]
    return out


def rand_offsets(cfg: EPConfig) -> tuple[list[int], list[int]]:
    """Per layer, where its stochastic-rounding values start in ``rand_a`` (row values,
    packed words) and ``rand_c`` (column values, bias last).  Every layer has its own
    region, so all of them are drawn while the sample relaxes, before any update.  A
    layer's column region starts at least n_out entries in: the fill, counting t over
    the n_out row values then the columns, writes column values at (start - n_out) + t,
    one adder of a constant."""
    n = cfg.layers
    a, c = [0], [n[1]]
    for k in range(1, cfg.n_layers):
        a.append(a[-1] + words(n[k], cfg.lanes))
        c.append(max(c[-1] + n[k - 1] + 1, n[k + 1]))
    return a, c
