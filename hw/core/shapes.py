"""Operand widths the core's multipliers and update registers need, shared with the
fit check (boards/parts.py)."""

from __future__ import annotations

from epfpga.model.config import EPConfig


def update_q_width(cfg: EPConfig) -> int:
    """Bits of the runtime eta/beta register (``cfg.update_q_bits``)."""
    return cfg.update_q_bits


def multiplier_shape(cfg: EPConfig) -> tuple[int, int]:
    """Signed operand widths (a, b) of the core's two shared multipliers: a takes a
    weight, k, k*v or (y - s); b a state, a pixel or beta."""
    kv = update_q_width(cfg) + cfg.act_bits + 2
    return (max(kv, cfg.weight_bits, update_q_width(cfg) + 1, cfg.act_bits + 2),
            max(cfg.act_bits + 1, cfg.beta_frac + 3))
