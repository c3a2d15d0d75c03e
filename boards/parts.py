"""What each supported board offers, and a fit check of a config against it before any
synthesis runs: a config that cannot fit fails in a second with a suggestion."""

from __future__ import annotations

from dataclasses import dataclass

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError


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


PARTS = {
    "icebreaker": Part("icebreaker", "iCE40UP5K", 5280, 30 * 4096, 8, 12.0, 16, 4 * 16384,
                       30, ((256, 16), (512, 8), (1024, 4), (2048, 2))),
    "ulx3s": Part("ulx3s", "LFE5U-85F", 83640, 208 * 18432, 156, 25.0, 18, 0,
                  208, ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
                  lutram=True),
}


def memory_bits(cfg: EPConfig, spram: bool = False) -> dict[str, int]:
    """Bits of every block-RAM memory the SoC instantiates (hw/core.py, hw/soc.py);
    ``spram``: W0 is in SPRAM instead (the iCE40UP5K with part 'up5k')."""
    n = cfg.layers
    wb, ab = cfg.weight_bits, cfg.act_bits
    first = 1 if spram else 0
    return {
        "weights": sum(a * b for a, b in zip(n[first:-1], n[first + 1:], strict=True)) * wb,
        "biases": sum(n[1:]) * wb,
        # two banks + free end states (+ the +beta end states with symmetric nudge)
        "states": sum((4 if cfg.nudge == "symmetric" else 3) * k for k in n[1:]) * ab,
        "input": n[0] * (ab + max(1, n[0].bit_length())),  # pixels + sparse index list
        "drive": n[1] * cfg.acc_bits,
        "random": (max(n[1:]) + max(n[:-1]) + 1) * cfg.sr_bits,
        "link": 4096 * 8 + 64 * 8,  # frame buffer + TRAIN replay cache
    }


def memories(cfg: EPConfig, spram: bool = False) -> list[tuple[str, int, int]]:
    """(name, depth, width) of every block-RAM memory of the SoC (hw/core.py, hw/soc.py)."""
    n, L = cfg.layers, cfg.n_layers
    wb, ab = cfg.weight_bits, cfg.act_bits
    out = [(f"w{i}", n[i] * n[i + 1], wb) for i in range(1 if spram else 0, L)]
    out += [(f"b{i}", n[i + 1], wb) for i in range(L)]
    out += [(f"s{i + 1}", 2 * n[i + 1], ab) for i in range(L)]
    out += [(f"sf{i + 1}", n[i + 1], ab) for i in range(L)]
    if cfg.nudge == "symmetric":
        out += [(f"sp{i + 1}", n[i + 1], ab) for i in range(L)]
    if cfg.algorithm == "cep":  # a second read port on each state bank: a copy
        out += [(f"slo{i + 1}", 2 * n[i + 1], ab) for i in range(L)]
    out += [("x", n[0], ab), ("nz", n[0], max(1, n[0].bit_length())),
            ("drive", n[1], cfg.acc_bits), ("rand_a", max(n[1:]), cfg.sr_bits),
            ("rand_c", max(n[:-1]) + 1, cfg.sr_bits), ("link", 4096, 8), ("replay", 64, 26)]
    return out


def blocks(depth: int, width: int, modes: tuple[tuple[int, int], ...]) -> int:
    """RAM blocks for one memory: the cheapest aspect ratio, tiled."""
    return min(-(-depth // d) * -(-width // w) for d, w in modes)


def multipliers(cfg: EPConfig, dsp_width: int, shared: bool = True) -> int:
    """Hard multiplier blocks of the core (hw/core.py), a lower bound (Yosys may add one
    for address arithmetic).  Shared (iCE40): two multipliers, each tiled from
    dsp_width x dsp_width blocks.  Dedicated (ECP5): one per use -- the input drive, a
    bottom-up and a top-down MAC per connection, the nudge, and per weight layer k*v and
    kv*u twice."""
    if not shared:
        L = cfg.n_layers
        return 1 + 2 * (L - 1) + 1 + 4 * L
    from epfpga.hw.core import multiplier_shape

    wa, wb = multiplier_shape(cfg)
    return 2 * -(-wa // dsp_width) * -(-wb // dsp_width)


def fit_check(cfg: EPConfig, board: str) -> dict[str, object]:
    if board not in PARTS:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(PARTS)}")
    part = PARTS[board]
    spram = bool(part.spram_words) and cfg.part == "up5k"
    mem = memory_bits(cfg, spram)
    total = sum(mem.values())
    w0_words = cfg.layers[0] * cfg.layers[1]
    from epfpga.hw.core import unsupported

    problems = [f"the gateware does not implement {t} yet" for t in unsupported(cfg)]
    if cfg.weight_bits > part.dsp_width or cfg.act_bits > part.dsp_width:
        problems.append(f"weights/states wider than the {part.dsp_width}-bit multipliers; "
                        f"try weight_bits <= {part.dsp_width}")
    mults = multipliers(cfg, part.dsp_width, shared=not part.lutram)
    if mults > part.dsps:
        problems.append(f"needs {mults} multipliers but the {part.device} has {part.dsps}; "
                        "try a smaller lr_frac or act_frac (narrower update products)")
    if spram and w0_words > part.spram_words:
        problems.append(f"W0 has {w0_words} weights but the SPRAM holds {part.spram_words}; "
                        "try a smaller hidden layer")
    if part.spram_words and not spram:
        problems.append(f"set part = 'up5k' in the config so W0 goes to the {part.device}'s "
                        "SPRAM")
    used_blocks = sum(blocks(d, w, part.ram_modes) for _, d, w in memories(cfg, spram))
    if used_blocks > part.ram_blocks and total <= part.ram_bits and not part.lutram:
        problems.append(f"needs {used_blocks} block RAMs but the {part.device} has "
                        f"{part.ram_blocks} (small memories each take a whole block); "
                        "try a smaller hidden layer")
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
