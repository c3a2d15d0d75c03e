"""Vectors as the core's memories hold them: ``lanes`` values to a word."""

from __future__ import annotations

from epfpga.hw.layout import words


def pack(values, bits: int, lanes: int) -> list[int]:
    """A vector as words of ``lanes`` values (two's complement, lane k in bits k)."""
    mask = (1 << bits) - 1
    out = []
    for g in range(words(len(values), lanes)):
        out.append(sum((int(values[g * lanes + k]) & mask) << (bits * k)
                       for k in range(lanes) if g * lanes + k < len(values)))
    return out


def lane_of(word: int, k: int, bits: int, signed_: bool = False) -> int:
    """Lane k's value of a packed word (two's complement when ``signed_``)."""
    v = (word >> (bits * k)) & ((1 << bits) - 1)
    return v - (1 << bits) if signed_ and v >> (bits - 1) else v
