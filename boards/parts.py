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


PARTS = {
    "icebreaker": Part("icebreaker", "iCE40UP5K", 5280, 30 * 4096, 8, 12.0, 16),
    "ulx3s": Part("ulx3s", "LFE5U-85F", 83640, 208 * 18432, 156, 25.0, 18),
}


def memory_bits(cfg: EPConfig) -> dict[str, int]:
    """Bits of every memory the SoC instantiates (hw/core.py, hw/soc.py)."""
    n = cfg.layers
    wb, ab = cfg.weight_bits, cfg.act_bits
    return {
        "weights": sum(a * b for a, b in zip(n[:-1], n[1:], strict=True)) * wb,
        "biases": sum(n[1:]) * wb,
        # two banks + free end states (+ the +beta end states with symmetric nudge)
        "states": sum((4 if cfg.nudge == "symmetric" else 3) * k for k in n[1:]) * ab,
        "input": n[0] * (ab + max(1, n[0].bit_length())),  # pixels + sparse index list
        "drive": n[1] * cfg.acc_bits,
        "random": (max(n[1:]) + max(n[:-1]) + 1) * cfg.sr_bits,
        "link": 4096 * 8 + 64 * 8,  # frame buffer + TRAIN replay cache
    }


def multipliers(cfg: EPConfig) -> int:
    """Hard multipliers the core instantiates (hw/core.py): the input drive, a bottom-up
    and a top-down MAC per connection, the nudge, and per weight layer k*v (two, per row)
    and kv*u (two, per weight)."""
    L = cfg.n_layers
    return 1 + 2 * (L - 1) + 1 + 4 * L


def fit_check(cfg: EPConfig, board: str) -> dict[str, object]:
    if board not in PARTS:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(PARTS)}")
    part = PARTS[board]
    mem = memory_bits(cfg)
    total = sum(mem.values())
    from epfpga.hw.core import unsupported

    problems = [f"the gateware does not implement {t} yet" for t in unsupported(cfg)]
    if cfg.weight_bits > part.dsp_width or cfg.act_bits > part.dsp_width:
        problems.append(f"weights/states wider than the {part.dsp_width}-bit multipliers; "
                        f"try weight_bits <= {part.dsp_width}")
    mults = multipliers(cfg)
    if mults > part.dsps:
        problems.append(f"needs {mults} multipliers but the {part.device} has {part.dsps}; "
                        "try fewer hidden layers (the core has no multiplier sharing yet)")
    if total > part.ram_bits:
        biggest = max(mem, key=mem.get)  # type: ignore[arg-type]
        hint = ("a smaller hidden layer or narrower weights (weight_bits)"
                if biggest == "weights" else "a smaller network")
        problems.append(
            f"needs {total / 1024:.0f} Kbit of block RAM ({biggest}: "
            f"{mem[biggest] / 1024:.0f} Kbit) but the {part.device} has "
            f"{part.ram_bits / 1024:.0f} Kbit usable by the current core (the UP5K's SPRAM is "
            f"not used yet); try {hint}")
    if problems:
        raise EpfpgaError(f"config {cfg.name!r} does not fit {board} ({part.device}): "
                          + "; ".join(problems))
    return {"ram_bits": total, "ram_available": part.ram_bits, "memories": mem,
            "multipliers": mults, "multipliers_available": part.dsps}
