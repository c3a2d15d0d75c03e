"""The hardware plan: every structural choice the core makes beyond the config's numbers,
decided in one place from the config and the part it is built for.

The same numbers can be computed two ways: on two shared multipliers (the iCE40UP5K has
eight DSP blocks) or with a multiplier per use and the odd and even layers relaxing side
by side (the ECP5's 156).  That one choice brings others with it -- the pixels double
buffered and the next sample's drive computed early, the first and output layers relaxed
in halves, W0 in one-bit slices -- and where W0 lives (single-port SPRAM on the UP5K) is
another.  The core, the fit check, the cycle bounds, the build tops and the simulation
cache all read them from here, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from epfpga.model.config import EPConfig

from .layout import has_predrive, memory_plan, relax_halves, w0_bit_sliced, words


def default_shared_mul(cfg: EPConfig) -> bool:
    """The multiplier plan a config gets unless its board says otherwise: only the
    ECP5's 156 multipliers afford one per use (with the odd/even relaxation pipelines)."""
    return cfg.part != "ecp5"


@dataclass(frozen=True)
class RelaxVisit:
    """How the relaxation visits one layer: by rows (one neuron at a time, a word of
    both MAC directions a cycle, one accumulator) or by row groups (P neurons at a
    time, one input a cycle in each direction, P accumulators), whichever takes fewer
    cycles; with its entries in ``relax_halves`` parts side by side."""

    order: str  # "rows" or "groups"
    rows: int  # rows, or row groups, a step visits
    entries: int  # entries (cycles) per row or group
    inputs: tuple[int, int]  # bottom-up and top-down inputs (states)
    input_words: tuple[int, int]  # the same in packed words


@dataclass(frozen=True)
class HardwarePlan:
    cfg: EPConfig
    shared_mul: bool  # every product on two shared multipliers
    spram: bool = False  # W0 built from the iCE40UP5K's SB_SPRAM256KA blocks

    @property
    def fast(self) -> bool:
        """A multiplier per use, products registered, odd/even pipelines."""
        return not self.shared_mul

    @property
    def name(self) -> str:
        return "shared" if self.shared_mul else "fast"

    @property
    def mul_latency(self) -> int:
        """Clocks between forming a product and adding it (registered on the fast plan)."""
        return int(self.fast)

    @property
    def double_buffered(self) -> bool:
        """The next sample's pixels load while this one runs."""
        return self.fast

    @property
    def predrive(self) -> bool:
        return has_predrive(self.cfg, self.fast)

    @property
    def single_port_w0(self) -> bool:
        """W0 on the UP5K's single-port schedule (in SPRAM on the board, and in
        simulation in a memory used the same way)."""
        return self.cfg.part == "up5k"

    @property
    def w0_bit_sliced(self) -> bool:
        return w0_bit_sliced(self.cfg, self.fast)

    @property
    def relax_halves(self) -> dict[int, int]:
        return relax_halves(self.cfg, self.fast)

    @property
    def relax_visits(self) -> dict[int, RelaxVisit]:
        """Per layer 1..L, how the relaxation visits it."""
        n, P, halves = self.cfg.layers, self.cfg.lanes, self.relax_halves
        L = self.cfg.n_layers
        visits = {}
        for lay in range(1, L + 1):
            nf = n[lay - 1] if lay >= 2 else 0  # bottom-up inputs
            nb = n[lay + 1] if lay < L else 0  # top-down inputs
            cf, cb = words(nf, P), words(nb, P)
            per_group = -(-max(nf, nb, 1) // halves[lay])
            per_row = -(-max(cf, cb, 1) // halves[lay])
            groups = words(n[lay], P) * per_group < n[lay] * per_row
            visits[lay] = RelaxVisit(
                "groups" if groups else "rows",
                words(n[lay], P) if groups else n[lay], per_group if groups else per_row,
                (nf, nb), (cf, cb))
        return visits

    @property
    def update_contrast(self) -> tuple[str, str]:
        """The two phases' states the update contrasts (hi minus lo), as where each
        is kept: "cur" (the state bank last written), "other" (the bank before it),
        "free" (the free end states' memory), "plus" (the +beta end states' memory).
        EP: the nudged end against the free end; the symmetric nudge: the +beta end
        against the -beta end; C-EP: this nudged step against the one before."""
        if self.cfg.nudge == "symmetric":
            return "plus", "cur"
        if self.cfg.algorithm == "cep":
            return "cur", "other"
        return "cur", "free"

    @property
    def odd_even(self) -> bool:
        """Odd and even layers relax in two pipelines side by side."""
        return self.fast and self.cfg.n_layers >= 2

    def memories(self) -> list[tuple[str, int, int]]:
        """(name, depth, width) of every block-RAM memory of the core."""
        return memory_plan(self.cfg, self.spram, self.fast)

    def copies(self, prefix: str) -> list[str]:
        """The memory list's names that start with ``prefix``, without it: the extra
        read ports of one memory (``w1_0_copy``, ``s2_half1``), which cost copies."""
        return [name[len(prefix):] for name, _, _ in self.memories()
                if name.startswith(prefix)]

    def memory(self, name: str) -> tuple[int, int]:
        """(depth, width) of one of them; depth at least 1 (a memory must have a word)."""
        for name_, depth, width in self.memories():
            if name_ == name:
                return max(depth, 1), width
        raise KeyError(name)


def make_plan(cfg: EPConfig, shared_mul: bool | None = None, spram: bool = False
              ) -> HardwarePlan:
    """``shared_mul`` None: the config's part decides (``default_shared_mul``)."""
    return HardwarePlan(cfg, default_shared_mul(cfg) if shared_mul is None else shared_mul,
                        spram)
