"""The core's fixed-point steps, as the numerics contract writes them (docs/numerics.md,
``epfpga.model.numerics``): the activation rho, weight saturation and the update's rounding.
Each is combinational and tested on its own against the golden model's function
(tests/hw/core/test_arith.py)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed

from epfpga.model.config import EPConfig


def activation(m: Module, v: Value, cfg: EPConfig, acc_width: int) -> Value:
    """rho: an accumulator (fraction weight_frac + act_frac) to a state (fraction
    act_frac) rounded half up and clipped to [0, 1]."""
    wf, one = cfg.weight_frac, cfg.act_one
    r = Signal(signed(acc_width + 1))
    m.d.comb += r.eq((v + (1 << (wf - 1))) >> wf)
    return Mux(r < 0, 0, Mux(r > one, one, r))


def saturate(v: Value, cfg: EPConfig) -> Value:
    """A weight clipped to [weight_min, weight_max]."""
    return Mux(v > cfg.weight_max, cfg.weight_max,
               Mux(v < cfg.weight_min, cfg.weight_min, v))


def round_update(prod: Value, r: Value, cfg: EPConfig, stochastic: Value) -> Value:
    """An update product (fraction 2 act_frac + lr_frac) to weight LSBs: floor after
    adding sr_bits random bits aligned below the kept LSB (``stochastic``), or half an
    LSB (round half up)."""
    sh = cfg.update_shift
    if sh >= cfg.sr_bits:
        stoch = r << (sh - cfg.sr_bits)
    else:
        stoch = r >> (cfg.sr_bits - sh)
    off = Mux(stochastic, stoch, 1 << (sh - 1))
    return (prod + off) >> sh
