"""The skewed bank layout: every access pattern the core uses hits P distinct banks, and
the host port's reciprocal split of a flat index is exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from epfpga.hw.layout import WeightLayout, exact_divider, memory_plan, rand_offsets, words
from epfpga.model.config import EPConfig


@pytest.mark.parametrize(("n_out", "n_in", "lanes"),
                         [(5, 7, 2), (10, 64, 4), (64, 10, 8), (3, 3, 4), (12, 9, 8)])
def test_every_access_pattern_is_conflict_free(n_out, n_in, lanes) -> None:
    g = WeightLayout(n_out, n_in, lanes)
    seen = {}
    for r, c in itertools.product(range(n_out), range(n_in)):
        bank, addr = g.place(r, c)
        assert 0 <= addr < g.depth and (bank, addr) not in seen  # one slot per element
        seen[bank, addr] = (r, c)
    words_r, words_c = -(-n_in // lanes), -(-n_out // lanes)
    for r, t in itertools.product(range(n_out), range(words_r)):  # along a row
        cols = [c for c in range(t * lanes, (t + 1) * lanes) if c < n_in]
        assert len({g.place(r, c)[0] for c in cols}) == len(cols)
        assert len({g.place(r, c)[1] for c in cols}) == 1  # and one address for all
    for c, t in itertools.product(range(n_in), range(words_c)):  # down a column/group
        rows = [r for r in range(t * lanes, (t + 1) * lanes) if r < n_out]
        assert len({g.place(r, c)[0] for r in rows}) == len(rows)


def test_banks_hold_the_matrix() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-99, 99, size=(6, 11))
    g = WeightLayout(6, 11, 4)
    banks = g.banks(w)
    assert sum(int(np.count_nonzero(b)) for b in banks) == np.count_nonzero(w)
    for r, c in itertools.product(range(6), range(11)):
        bank, addr = g.place(r, c)
        assert banks[bank][addr] == w[r, c]


@pytest.mark.parametrize(("d", "limit"), [(784, 784 * 256), (10, 640), (7, 49), (64, 640)])
def test_reciprocal_division_is_exact(d, limit) -> None:
    mul, s = exact_divider(d, limit)
    f = np.arange(limit, dtype=np.int64)
    assert np.array_equal((f * mul) >> s, f // d)


@pytest.mark.parametrize(("layers", "lanes"), [((16, 8, 4), 2), ((784, 64, 10), 1),
                                           ((784, 128, 10), 4), ((5, 9, 3, 7, 2), 4)])
def test_random_value_regions_are_disjoint_and_inside(layers, lanes) -> None:
    """Every layer's row and column values get their own rand_a / rand_c entries, and the
    fill's column address (start - n_out) + t never goes below 0."""
    cfg = EPConfig(layers=layers, lanes=lanes, lrs=(0.1,) * (len(layers) - 1), part="none")
    a, c = rand_offsets(cfg)
    plan = {name: depth for name, depth, _ in memory_plan(cfg)}
    used_a, used_c = set(), set()
    for k in range(cfg.n_layers):
        n_out, n_in = layers[k + 1], layers[k]
        rows = {a[k] + w for w in range(words(n_out, lanes))}
        cols = {c[k] + j for j in range(n_in + 1)}
        assert not rows & used_a and not cols & used_c
        assert c[k] - n_out >= 0
        used_a |= rows
        used_c |= cols
    assert max(used_a) < plan["rand_a"] and max(used_c) < plan["rand_c"]
