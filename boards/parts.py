"""What each supported board offers, and a fit check of a config against it before any
synthesis runs: a config that cannot fit fails in a second with a suggestion."""

from __future__ import annotations

from dataclasses import dataclass

from epfpga.errors import EpfpgaError
from epfpga.hw.plan import HardwarePlan
from epfpga.model.config import EPConfig


@dataclass(frozen=True)
class Part:
    board: str
    device: str
    luts: int
    ram_bits: int  # block RAM usable by lib.memory.Memory
    dsps: int
    clock_mhz: float  # board oscillator
    dsp_width: int
    spram_words: int = 0  # 16-bit single-port RAM (iCE40UP5K: 4 x 16 K)
    ram_blocks: int = 0
    ram_modes: tuple[tuple[int, int], ...] = ()  # (depth, width) a block can take
    lutram: bool = False  # small memories go to LUT RAM, so block counts over-estimate
    shared_mul: bool = True  # few DSP blocks: the core shares its multipliers (hw/core.py)


PARTS = {
    "icebreaker": Part("icebreaker", "iCE40UP5K", 5280, 30 * 4096, 8, 12.0, 16, 4 * 16384,
                       30, ((256, 16), (512, 8), (1024, 4), (2048, 2))),
    "ulx3s": Part("ulx3s", "LFE5U-85F", 83640, 208 * 18432, 156, 25.0, 18, 0,
                  208, ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
                  lutram=True, shared_mul=False),
}


# The core clock each board's build of a preset is made to meet (``epfpga build --clock``;
# the builds are in docs/results.md, the first two checked by CI): the clocks
# ``epfpga bench boards`` compares samples/s at.
BOARD_BUILDS: tuple[tuple[str, str, float], ...] = (
    ("icebreaker", "up5k", 24.0), ("ulx3s", "up5k", 30.0), ("ulx3s", "ecp5", 40.0))


def board_plan(cfg: EPConfig, board: str) -> HardwarePlan:
    """The core's plan as ``board``'s build makes it: its part's multiplier plan, and W0
    in SPRAM where the part has it and the config is laid out for it."""
    part = PARTS[board]
    return HardwarePlan(cfg, part.shared_mul, bool(part.spram_words) and cfg.part == "up5k")


def memory_bits(cfg: EPConfig, spram: bool = False, fast: bool = False) -> dict[str, int]:
    """Bits of block RAM per kind of content (summed from ``memories``); ``spram``: W0
    is in SPRAM instead (the iCE40UP5K with part 'up5k'); ``fast``: the fast
    multiplier plan's copies (hw/layout.py)."""
    kinds = {"w": "weights", "b": "biases", "s": "states", "x": "input", "n": "input",
             "d": "drive", "r": "random", "l": "link"}
    out = dict.fromkeys(dict.fromkeys(kinds.values()), 0)
    for name, depth, width in memories(cfg, spram, fast):
        kind = "link" if name == "replay" else kinds[name[0]]
        out[kind] += depth * width
    return out


def memories(cfg: EPConfig, spram: bool = False, fast: bool = False
             ) -> list[tuple[str, int, int]]:
    """(name, depth, width) of every block-RAM memory of the SoC: the core's own plan
    (hw/layout.py) and the link's receive store and replay slots (hw/link)."""
    from epfpga.host.protocol import REPLAY_WINDOW, STORE_BYTES
    from epfpga.hw.layout import memory_plan
    from epfpga.hw.link.sequence import ReplayEntry

    return memory_plan(cfg, spram, fast) + [("link", STORE_BYTES, 8),
                                            ("replay", REPLAY_WINDOW, ReplayEntry.size)]


def blocks(depth: int, width: int, modes: tuple[tuple[int, int], ...]) -> int:
    """RAM blocks for one memory: the cheapest aspect ratio, tiled."""
    return min(-(-depth // d) * -(-width // w) for d, w in modes)


def multipliers(cfg: EPConfig, dsp_width: int, shared: bool = True) -> int:
    """Hard multiplier blocks of the core (hw/core.py), a lower bound (Yosys may add one
    for address arithmetic).  Shared (iCE40): two per MAC lane, each tiled from
    dsp_width x dsp_width blocks, and the nudge.  Dedicated (ECP5): one per use and lane
    -- the input drive, a bottom-up and a top-down MAC per connection, and the second
    halves of the first and the output layer (hw/layout.py) -- a pool of two per lane
    for the updates (k*v, then kv*u, tiled), the nudge, and with the predrive its own
    drive MACs and the update's correction products."""
    from epfpga.hw.core import multiplier_shape, update_q_width
    from epfpga.hw.layout import has_predrive, relax_halves

    P = cfg.lanes
    if not shared:
        L = cfg.n_layers
        kv = update_q_width(cfg) + cfg.act_bits + 2
        pool = 2 * P * -(-kv // dsp_width) * -(-(cfg.act_bits + 1) // dsp_width)
        pre = 2 * P if has_predrive(cfg, True) else 0
        halves = sum(h - 1 for h in relax_halves(cfg, True).values())
        return P * (1 + 2 * (L - 1) + halves) + pool + 1 + pre
    wa, wb = multiplier_shape(cfg)
    nudge = -(-(cfg.act_bits + 2) // dsp_width) * -(-(cfg.beta_frac + 3) // dsp_width)
    return 2 * P * -(-wa // dsp_width) * -(-wb // dsp_width) + nudge


def fit_check(cfg: EPConfig, board: str) -> dict[str, object]:
    if board not in PARTS:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(PARTS)}")
    part = PARTS[board]
    plan = board_plan(cfg, board)
    spram, fast = plan.spram, plan.fast
    mem = memory_bits(cfg, spram, fast)
    total = sum(mem.values())
    w0_words = cfg.layers[0] * cfg.layers[1]
    from epfpga.hw.core import unsupported

    problems = [f"the gateware does not implement {t} yet" for t in unsupported(cfg)]
    if cfg.weight_bits > part.dsp_width or cfg.act_bits > part.dsp_width:
        problems.append(f"weights/states wider than the {part.dsp_width}-bit multipliers; "
                        f"try weight_bits <= {part.dsp_width}")
    mults = multipliers(cfg, part.dsp_width, shared=part.shared_mul)
    if mults > part.dsps:
        fewer = "fewer MAC lanes (lanes), or " if cfg.lanes > 1 else ""
        problems.append(f"needs {mults} multipliers but the {part.device} has {part.dsps}; "
                        f"try {fewer}a smaller lr_frac or act_frac (narrower update "
                        "products)")
    if spram and w0_words > part.spram_words:
        problems.append(f"W0 has {w0_words} weights but the SPRAM holds {part.spram_words}; "
                        "try a smaller hidden layer")
    if part.spram_words and not spram:
        problems.append(f"set part = 'up5k' in the config so W0 goes to the {part.device}'s "
                        "SPRAM")
    used_blocks = sum(blocks(d, w, part.ram_modes) for _, d, w in memories(cfg, spram, fast))
    if used_blocks > part.ram_blocks and total <= part.ram_bits and not part.lutram:
        problems.append(f"needs {used_blocks} block RAMs but the {part.device} has "
                        f"{part.ram_blocks} (small memories each take a whole block); "
                        f"try {'fewer MAC lanes (lanes) or ' if cfg.lanes > 1 else ''}"
                        "a smaller hidden layer")
    if total > part.ram_bits:
        biggest = max(mem, key=mem.get)  # type: ignore[arg-type]
        hint = ("a smaller hidden layer or narrower weights (weight_bits)"
                if biggest == "weights" else "a smaller network")
        problems.append(
            f"needs {total / 1024:.0f} Kbit of block RAM ({biggest}: "
            f"{mem[biggest] / 1024:.0f} Kbit) but the {part.device} has "
            f"{part.ram_bits / 1024:.0f} Kbit; try {hint}")
    if problems:
        raise EpfpgaError(f"config {cfg.name!r} does not fit {board} ({part.device}): "
                          + "; ".join(problems))
    return {"ram_bits": total, "ram_available": part.ram_bits, "memories": mem,
            "spram_words": w0_words if spram else 0, "spram_available": part.spram_words,
            "ram_blocks": used_blocks, "ram_blocks_available": part.ram_blocks,
            "multipliers": mults, "multipliers_available": part.dsps}
