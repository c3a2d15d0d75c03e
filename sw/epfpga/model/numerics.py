"""Integer primitives of the numerics contract (spec and worked example: docs/numerics.md).

Every function here is the single definition that the golden model uses and the
gateware mirrors; tests check them against explicit per-element Python arithmetic.
All arrays are int64; nothing is ever rounded inside a sum.
"""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig

#: Galois right-shift LFSR, 32 bit, feedback mask for a maximal-length polynomial
#: (period 2**32 - 1, proven in tests/sw/model/test_numerics.py).
LFSR_MASK = 0xA3000000
LFSR_WIDTH = 32


def round_shift(v: np.ndarray | int, shift: int) -> np.ndarray | int:
    """v / 2**shift rounded half up (towards +inf on ties): floor((v + 2**(s-1)) / 2**s)."""
    if shift <= 0:
        return v << -shift if shift else v
    return (v + (1 << (shift - 1))) >> shift


def activation(acc: np.ndarray, cfg: EPConfig) -> np.ndarray:
    """rho(pre): accumulator (frac weight_frac+act_frac) -> state (frac act_frac) in [0, 1]."""
    # minimum/maximum: np.clip's dispatch overhead dominates on these small vectors
    return np.minimum(np.maximum(round_shift(acc, cfg.weight_frac), 0), cfg.act_one)


def saturate(w: np.ndarray, cfg: EPConfig) -> np.ndarray:
    return np.minimum(np.maximum(w, cfg.weight_min), cfg.weight_max)


def quantize_pixels(pixels: np.ndarray, cfg: EPConfig) -> np.ndarray:
    """uint8 pixels p (0..255) -> round_half_up(p * 2**act_frac / 255), exactly in integers."""
    p = np.asarray(pixels)
    if p.dtype != np.uint8:
        raise TypeError(f"pixels must be uint8 (0..255), got {p.dtype}")
    p = p.astype(np.int64)
    return (2 * p * cfg.act_one + 255) // 510


def quantize_weights(w: np.ndarray, cfg: EPConfig) -> np.ndarray:
    """Float weights -> nearest representable (half away from zero), saturated."""
    return saturate(np.round(np.asarray(w, dtype=np.float64) * (1 << cfg.weight_frac)).astype(
        np.int64), cfg)


def dequantize_weights(w: np.ndarray, cfg: EPConfig) -> np.ndarray:
    return np.asarray(w, dtype=np.float64) / (1 << cfg.weight_frac)


def lfsr_step(state: int) -> int:
    """One step of the Galois LFSR; the new state is the value that gets used."""
    return (state >> 1) ^ (LFSR_MASK if state & 1 else 0)


def lfsr_seed(seed: int, stream: int) -> int:
    """Nonzero 32-bit start state of LFSR ``stream`` (one per weight layer, plus the sign LFSR)."""
    s = ((seed + 1) * 0x9E3779B1 + (stream + 1) * 0x85EBCA77) & 0xFFFFFFFF
    return s or 1


class LfsrBlock:
    """n consecutive LFSR states in one vector op, using linearity over GF(2).

    ``table[k, b]`` is the state k+1 steps after the unit state 1<<b, so the states
    after 1..n steps from any state are the XOR of the rows of its set bits.
    """

    def __init__(self, n: int):
        self.n = n
        basis = (np.uint64(1) << np.arange(LFSR_WIDTH, dtype=np.uint64)).astype(np.uint64)
        table = np.empty((n, LFSR_WIDTH), dtype=np.uint64)
        s = basis.copy()
        mask = np.uint64(LFSR_MASK)
        for k in range(n):
            s = (s >> np.uint64(1)) ^ np.where(s & np.uint64(1), mask, np.uint64(0))
            table[k] = s
        self.table = table

    def states(self, state: int, n: int) -> np.ndarray:
        """The n (<= block size) states following ``state`` (state itself excluded)."""
        bits = np.array([(state >> b) & 1 for b in range(LFSR_WIDTH)], dtype=bool)
        return np.bitwise_xor.reduce(self.table[:n, bits], axis=1).astype(np.int64)


def stochastic_offset(r: np.ndarray, cfg: EPConfig, extra_shift: int = 0) -> np.ndarray:
    """sr_bits random bits aligned to the top of the update_shift fraction that is dropped."""
    sh, sr = cfg.update_shift + extra_shift, cfg.sr_bits
    return r << (sh - sr) if sh >= sr else r >> (sr - sh)


def round_update(prod: np.ndarray, cfg: EPConfig, r: np.ndarray | None,
                 extra_shift: int = 0) -> np.ndarray:
    """Update product (frac 2*act_frac+lr_frac) -> weight LSBs (frac weight_frac).

    Nearest: round half up.  Stochastic: add the random offset, then floor, so the
    expected result equals the exact value to within 2**-sr_bits LSB.  ``extra_shift``
    divides by 2**extra_shift first (a sum over that many sampled states).
    """
    sh = cfg.update_shift + extra_shift
    if r is None:
        return round_shift(prod, sh)
    return (prod + stochastic_offset(r, cfg, extra_shift)) >> sh


def uniform_noise(states: np.ndarray, amplitude: int) -> np.ndarray:
    """Integers uniform on [-amplitude, amplitude] from the low 16 bits of LFSR states
    (multiply-shift, no division, so gateware can compute it the same way)."""
    return ((states & 0xFFFF) * (2 * amplitude + 1) >> 16) - amplitude
