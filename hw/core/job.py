"""What the core is told about a sample before its pixels: the job word."""

from __future__ import annotations

from amaranth.lib import data

from epfpga.model.config import EPConfig


def index_bits(n: int) -> int:
    """Bits of an index into n things (at least one)."""
    return max(1, (n - 1).bit_length())


def job_layout(cfg: EPConfig) -> data.StructLayout:
    return data.StructLayout({
        "train": 1,  # 0: inference only (no nudge, no update)
        "neg": 1,  # nudge with -beta (random-sign beta); the update sign follows
        "label": index_bits(cfg.layers[-1]),
    })


def nnz_bits(cfg: EPConfig) -> int:
    """Bits of a count of non-zero pixels (0..n0, with a spare bit for n0 + 1)."""
    return index_bits(cfg.layers[0] + 1) + 1
