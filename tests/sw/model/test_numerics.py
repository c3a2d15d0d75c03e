"""Integer primitives against explicit arithmetic (hypothesis) and the LFSR's period."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from epfpga.model import numerics as nx
from epfpga.model.config import EPConfig

CFG = EPConfig(layers=(4, 3, 2), act_frac=8, weight_bits=12, weight_frac=9, sr_bits=12,
               part="none")


@given(st.integers(-(2**40), 2**40), st.integers(1, 20))
def test_round_shift_is_round_half_up(v: int, sh: int) -> None:
    exact = Fraction(v, 2**sh)
    got = int(nx.round_shift(np.int64(v), sh))
    assert abs(Fraction(got) - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2) or (exact.denominator == 2):
        assert Fraction(got) == exact + Fraction(1, 2)  # ties go up


@given(st.lists(st.integers(-(2**30), 2**30), min_size=1, max_size=30))
def test_activation_clips_to_unit_interval(acc: list[int]) -> None:
    s = nx.activation(np.array(acc, dtype=np.int64), CFG)
    for a, v in zip(acc, s.tolist(), strict=True):
        r = Fraction(a, 2**CFG.weight_frac)
        expect = min(max(int(nx.round_shift(a, CFG.weight_frac)), 0), CFG.act_one)
        assert v == expect
        assert 0 <= v <= CFG.act_one
        if 0 <= r <= CFG.act_one:
            assert abs(v - r) <= Fraction(1, 2)


@given(st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=30))
def test_saturate_never_wraps(w: list[int]) -> None:
    out = nx.saturate(np.array(w, dtype=np.int64), CFG).tolist()
    for a, b in zip(w, out, strict=True):
        assert CFG.weight_min <= b <= CFG.weight_max
        assert b == a or (a > CFG.weight_max and b == CFG.weight_max) or (
            a < CFG.weight_min and b == CFG.weight_min)


@given(st.integers(-(2**34), 2**34), st.integers(0, 2**12 - 1))
def test_stochastic_round_brackets_exact_value(prod: int, r: int) -> None:
    got = int(nx.round_update(np.int64(prod), CFG, np.int64(r)))
    exact = Fraction(prod, 2**CFG.update_shift)
    assert got in (exact.__floor__(), exact.__ceil__())


def test_stochastic_round_is_unbiased() -> None:
    """Mean over all sr_bits offsets equals the exact value to within 2**-sr_bits LSB."""
    r = np.arange(2**CFG.sr_bits, dtype=np.int64)
    for prod in (1, 12345, -777777, 2**CFG.update_shift // 3, -5):
        mean = nx.round_update(np.full_like(r, prod), CFG, r).mean()
        assert abs(mean - prod / 2**CFG.update_shift) <= 2.0**-CFG.sr_bits + 1e-12


@given(st.lists(st.integers(0, 255), min_size=1, max_size=50), st.integers(1, 15))
def test_quantize_pixels_is_nearest(p: list[int], af: int) -> None:
    cfg = EPConfig(layers=(2, 2), act_frac=af, lrs=(0.1,), part="none", weight_bits=20,
                   weight_frac=16, acc_bits=50)
    q = nx.quantize_pixels(np.array(p, dtype=np.uint8), cfg).tolist()
    for v, x in zip(p, q, strict=True):
        exact = Fraction(v * 2**af, 255)
        assert abs(x - exact) <= Fraction(1, 2)
        assert 0 <= x <= 2**af


def _gf2_matmul(a: list[int], b: list[int]) -> list[int]:
    """Columns as ints: (A @ B) e_j = A (B e_j)."""
    out = []
    for col in b:
        r, j = 0, 0
        while col:
            if col & 1:
                r ^= a[j]
            col >>= 1
            j += 1
        out.append(r)
    return out


def test_lfsr_is_maximal_length() -> None:
    """A^(2^32-1) = I and A^((2^32-1)/q) != I for every prime q | 2^32-1."""
    n = 32
    step = [nx.lfsr_step(1 << j) for j in range(n)]
    ident = [1 << j for j in range(n)]

    def power(e: int) -> list[int]:
        result, base = ident, step
        while e:
            if e & 1:
                result = _gf2_matmul(base, result)
            base = _gf2_matmul(base, base)
            e >>= 1
        return result

    period = 2**32 - 1
    assert power(period) == ident
    for q in (3, 5, 17, 257, 65537):
        assert power(period // q) != ident


def test_lfsr_block_equals_stepping() -> None:
    blk = nx.LfsrBlock(300)
    for seed in (1, 0xDEADBEEF, nx.lfsr_seed(7, 2)):
        s, ref = seed, []
        for _ in range(300):
            s = nx.lfsr_step(s)
            ref.append(s)
        assert blk.states(seed, 300).tolist() == ref
        assert blk.states(seed, 17).tolist() == ref[:17]


@given(st.integers(1, 900), st.integers(0, 40), st.integers(2, 20), st.integers(5, 16),
       st.integers(1, 12), st.sampled_from([0.125, 0.5, 1.0]))
def test_acc_bits_needed_covers_worst_case(n_in, n_hidden, n_out, wb, af, beta) -> None:
    """Worst-case pre-activation, summed with Python ints, fits the width EPConfig asks for."""
    layers = (n_in, n_hidden, n_out) if n_hidden else (n_in, n_out)
    cfg = EPConfig(layers=layers, act_frac=af, weight_bits=wb, weight_frac=wb - 1,
                   beta=beta, beta_frac=3, lrs=(0.1,) * (len(layers) - 1),
                   part="none", acc_bits=62, lr_frac=24)
    wmin = cfg.weight_min  # |wmin| is the largest magnitude
    for layer, need in zip(range(1, len(layers)), cfg.acc_bits_needed, strict=True):
        worst = abs(wmin) * cfg.act_one * cfg.fan_in(layer) + abs(wmin) * cfg.act_one
        if layer == len(layers) - 1:
            worst += cfg.act_one * cfg.beta_q * 2 ** cfg.nudge_shift
        assert -(2 ** (need - 1)) <= -worst and worst < 2 ** (need - 1)
