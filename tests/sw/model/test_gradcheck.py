"""EP updates against BPTT, and BPTT against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.cli import main
from epfpga.model.config import get_config
from epfpga.model.gradcheck import (
    bptt,
    compare,
    gradcheck,
    implicit_gradient,
    loss_of,
    nonconservative_check,
)
from epfpga.model.reference import FloatEP

CFG = get_config("tiny").replace(T1=100, T2=100)


def _sample(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random(CFG.layers[0]), int(rng.integers(0, CFG.layers[-1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bptt_matches_finite_differences(seed: int) -> None:
    x, y = _sample(seed)
    net = FloatEP(CFG.replace(T1=20))
    dW, db, _, _ = bptt(net, x, y)
    rng = np.random.default_rng(seed)
    for layer in range(CFG.n_layers):
        for _ in range(4):
            i = int(rng.integers(0, net.W[layer].shape[0]))
            j = int(rng.integers(0, net.W[layer].shape[1]))
            w0, eps = net.W[layer][i, j], 1e-6
            net.W[layer][i, j] = w0 + eps
            lp = loss_of(net, x, y)
            net.W[layer][i, j] = w0 - eps
            lm = loss_of(net, x, y)
            net.W[layer][i, j] = w0
            assert abs((lp - lm) / (2 * eps) - dW[layer][i, j]) < 1e-6
        b0, eps = net.b[layer][0], 1e-6
        net.b[layer][0] = b0 + eps
        lp = loss_of(net, x, y)
        net.b[layer][0] = b0 - eps
        lm = loss_of(net, x, y)
        net.b[layer][0] = b0
        assert abs((lp - lm) / (2 * eps) - db[layer][0]) < 1e-6


@pytest.mark.parametrize("seed", [0, 3])
def test_ep_matches_true_gradient_at_small_beta(seed: int) -> None:
    x, y = _sample(seed)
    r, _, _ = gradcheck(CFG, x, y, beta=0.001, symmetric=False)
    assert min(r.cosine) > 0.99
    assert max(r.rel_error) < 0.02


def test_symmetric_nudge_beats_one_sided() -> None:
    """Symmetric nudge cancels the O(beta) bias.  With hard-clip units this holds while
    the -beta phase stays on the same linear pieces: per sample at beta = 0.05, and on
    average at beta = 0.1 (one sample crosses a clip boundary there)."""
    errs = {0.05: ([], []), 0.1: ([], [])}
    for seed in range(4):
        x, y = _sample(seed)
        for beta, (one_l, sym_l) in errs.items():
            one, _, _ = gradcheck(CFG, x, y, beta, symmetric=False)
            sym, _, _ = gradcheck(CFG, x, y, beta, symmetric=True)
            one_l.append(max(one.rel_error))
            sym_l.append(max(sym.rel_error))
    one, sym = errs[0.05]
    assert all(s < o / 5 for s, o in zip(sym, one, strict=True))
    one, sym = errs[0.1]
    assert np.mean(sym) < np.mean(one)


def test_step_by_step_ep_tracks_bptt() -> None:
    """Seed 003, theorem 1: the EP update after t nudged steps ~ -BPTT over the last t."""
    x, y = _sample(1)
    _, running, per_step = gradcheck(CFG.replace(T1=150), x, y, 0.001, symmetric=True)
    bptt_cum = np.cumsum([-s[-1] for s in per_step], axis=0)
    for t in (1, 3, 10):
        a, c = running[t - 1][-1].ravel(), bptt_cum[t - 1].ravel()
        assert np.linalg.norm(a - c) <= 0.02 * np.linalg.norm(c) + 1e-9


@pytest.mark.parametrize("seed", [0, 2])
def test_implicit_gradient_equals_bptt_at_convergence(seed: int) -> None:
    """Two independent true gradients: implicit differentiation at the fixed point and
    BPTT through 200 converged steps."""
    x, y = _sample(seed)
    net = FloatEP(CFG.replace(T1=200))
    dW, _, _, _ = implicit_gradient(net, x, y)
    dWb, _, _, _ = bptt(net, x, y)
    assert max(compare(dW, dWb).rel_error) < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_correction_restores_exact_gradient_in_nonconservative_net(seed: int) -> None:
    """Seeds 000/001: separate (non-symmetric) feedback weights.  With the correction
    the EP estimate is the exact gradient at small beta; without it, it is not."""
    x, y = _sample(seed)
    r = nonconservative_check(CFG.replace(T1=200, T2=200), x, y, beta=0.001)
    corr, unc = r["corrected"], r["uncorrected"]
    assert min(corr.cosine) > 0.99 and max(corr.rel_error) < 0.01
    assert max(unc.rel_error) > 10 * max(corr.rel_error)


def test_cep_update_tracks_bptt_at_small_rate() -> None:
    """Seed 003: C-EP's weight changes, summed over the nudged phase and divided by
    the rate, follow -BPTT when the rate is small; a large rate moves the weights
    during the phase and the agreement degrades."""
    x, y = _sample(1)
    cfg = CFG.replace(T1=150, T2=150, algorithm="cep", nudge="positive")
    want = [-g for g in bptt(FloatEP(cfg), x, y)[0]]
    errs = []
    for lr in (1e-6, 3e-5):  # rate / beta = 0.001 and 0.03
        net = FloatEP(cfg.replace(lrs=(lr, lr)))
        W0 = [w.copy() for w in net.W]
        net.cep_step(x[None, :], np.array([y]), beta=0.001)
        errs.append(max(compare([(w - w0) / lr for w, w0 in zip(net.W, W0, strict=True)],
                                want).rel_error))
    assert errs[0] < 0.02
    assert errs[1] > 10 * errs[0]


def test_cli(tmp_path, capsys) -> None:
    png = tmp_path / "g.png"
    assert main(["gradcheck", "--beta", "0.01", "--T1", "40", "--T2", "40", "--plot",
                 str(png)]) == 0
    assert png.exists() and "symmetric" in capsys.readouterr().out
    assert main(["gradcheck", "--beta", "-1"]) == 2
