"""Conv EP (seed 003): ops against explicit per-pixel loops, deterministic pooling
ties, EP's update against the gradient of the same tiny network, relaxation modes, and
the golden model against an independent integer loop."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.conv import ConvConfig, ConvEP
from epfpga.conv.model import make_links
from epfpga.conv.ops import maxpool, unpool, weight_matrix

TINY = ConvConfig(in_shape=(2, 7, 7), channels=(3,), kernels=(3,), strides=(1,),
                  paddings=(1,), pools=(2,), fc=(5, 4), lrs=(0.1, 0.1, 0.1),
                  T1=150, T2=60, beta=0.01, dtype="float64", init_gain=0.8, seed=1,
                  name="t")


def loop_conv_pool(x, K, stride, pad, q):
    """Explicit conv then first-max pooling, one output pixel at a time."""
    B, H, W, C = x.shape
    co, ci, k, _ = K.shape
    xp = np.zeros((B, H + 2 * pad, W + 2 * pad, C), dtype=x.dtype)
    xp[:, pad:pad + H, pad:pad + W] = x
    ho, wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    z = np.zeros((B, ho, wo, co), dtype=x.dtype)
    for b in range(B):
        for i in range(ho):
            for j in range(wo):
                for o in range(co):
                    acc = 0
                    for dy in range(k):
                        for dx in range(k):
                            for c in range(ci):
                                acc += xp[b, i * stride + dy, j * stride + dx, c] * K[o, c, dy, dx]
                    z[b, i, j, o] = acc
    hp, wp = ho // q, wo // q
    out = np.zeros((B, hp, wp, co), dtype=x.dtype)
    arg = np.zeros((B, hp, wp, co), dtype=int)
    for b in range(B):
        for i in range(hp):
            for j in range(wp):
                for o in range(co):
                    best, bi = None, 0
                    for dy in range(q):
                        for dx in range(q):
                            v = z[b, i * q + dy, j * q + dx, o]
                            if best is None or v > best:
                                best, bi = v, dy * q + dx
                    out[b, i, j, o], arg[b, i, j, o] = best, bi
    return z, out, arg


@pytest.mark.parametrize("k,stride,pad,q", [(3, 1, 0, 2), (3, 2, 1, 1), (2, 1, 1, 3),
                                            (5, 1, 2, 2)])
def test_conv_forward_matches_loop(k, stride, pad, q):
    rng = np.random.default_rng(k * 100 + stride * 10 + pad + q)
    cfg = ConvConfig(in_shape=(2, 9, 8), channels=(3,), kernels=(k,), strides=(stride,),
                     paddings=(pad,), pools=(q,), fc=(4,), lrs=(0.1, 0.1),
                     dtype="float64", name="t")
    link = make_links(cfg)[0]
    K = rng.normal(size=cfg.weight_shape(0))
    link.Wm = weight_matrix(K)
    x = rng.normal(size=(2, 9, 8, 2))
    _, want, arg = loop_conv_pool(x, K, stride, pad, q)
    got, idx = link.forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if q > 1:
        np.testing.assert_array_equal(idx, arg)
    # the adjoints: <P(K*u), v> = <u, K^T P^-1 v> and <P(K*u), v> = <K, stat(u, v)>
    v = rng.normal(size=got.shape)
    lhs = float((got * v).sum())
    np.testing.assert_allclose(float((x * link.backward(v, idx)).sum()), lhs, rtol=1e-10)
    np.testing.assert_allclose(float((link.Wm * link.weight_stat(x, v, idx)).sum()), lhs,
                               rtol=1e-10)


def test_pool_ties_first_row_major():
    z = np.zeros((1, 4, 4, 1))
    z[0, 0, 1, 0] = z[0, 1, 0, 0] = z[0, 1, 1, 0] = 5.0   # window (0,0): ties at 1, 2, 3
    z[0, 2:, 2:, 0] = 7.0                                # window (1,1): all tied
    z[0, 3, 0, 0] = z[0, 2, 1, 0] = 2.0                  # window (1,0): ties at 1, 2
    v, idx = maxpool(z, 2)
    assert idx[0, :, :, 0].tolist() == [[1, 0], [1, 0]]
    assert v[0, :, :, 0].tolist() == [[5.0, 0.0], [2.0, 7.0]]
    back = unpool(v, idx, 2, (4, 4))[0, :, :, 0]
    assert back.tolist() == [[0, 5, 0, 0], [0, 0, 0, 0], [0, 2, 7, 0], [0, 0, 0, 0]]
    # integers (the golden model's) tie the same way
    _, idx_i = maxpool(z.astype(np.int64), 2)
    np.testing.assert_array_equal(idx_i, idx)


def _data(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, int(np.prod(cfg.in_shape)))), rng.integers(0, cfg.fc[-1], n)


def _loss(model, X, Y, steps):
    s = model.free_phase(X, steps)
    return 0.5 * float(((s[-1] - model.target(Y)) ** 2).sum())


def _fd_grad(cfg, model, X, Y, eps=1e-6):
    """Central differences of the loss at the end of the free phase: BPTT's gradient."""
    out = []
    for group in (model.W, model.b):
        for p in group:
            g = np.zeros_like(p)
            for ix in np.ndindex(p.shape):
                old = p[ix]
                p[ix] = old + eps
                model._sync()
                lp = _loss(model, X, Y, cfg.T1)
                p[ix] = old - eps
                model._sync()
                lm = _loss(model, X, Y, cfg.T1)
                p[ix] = old
                g[ix] = -(lp - lm) / (2 * eps) / len(X)
            out.append(g)
    model._sync()
    return np.concatenate([g.ravel() for g in out])


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("nudge", ["positive", "symmetric", "random_sign"])
def test_ep_update_matches_bptt(nudge):
    cfg = TINY.replace(nudge=nudge)
    model = ConvEP(cfg)
    X, Y = _data(cfg, 4)
    # a converged free phase (the theorem's premise): one more step changes nothing
    s = model.free_phase(X)
    s2 = model.free_phase(X, cfg.T1 + 1)
    assert max(float(np.abs(a - b).max()) for a, b in zip(s, s2, strict=True)) < 1e-9
    want = _fd_grad(cfg, model, X, Y)
    dW, db, _ = model.ep_update(X, Y)
    got = np.concatenate([g.ravel() for g in (*dW, *db)])
    assert np.linalg.norm(want) > 1e-4
    c = _cos(got, want)
    assert c >= 0.99, c
    # per layer too, so a layer with a wrong sign or scale cannot hide
    sizes = [w.size for w in (*model.W, *model.b)]
    for a, b in zip(np.split(got, np.cumsum(sizes)[:-1]), np.split(want, np.cumsum(sizes)[:-1]),
                    strict=True):
        if np.linalg.norm(b) > 1e-6:
            assert _cos(a, b) >= 0.98
            assert 0.8 < np.linalg.norm(a) / np.linalg.norm(b) < 1.25


def test_evenodd_reaches_jacobi_fixed_point():
    cfg = TINY.replace(fc=(6, 5, 4), lrs=(0.1,) * 4, T1=300)
    X, _ = _data(cfg, 3)
    a = ConvEP(cfg).free_phase(X)
    b = ConvEP(cfg.replace(relax="evenodd")).free_phase(X)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, atol=1e-9)
    # and they differ along the way: the switch does something
    c = ConvEP(cfg).free_phase(X, 3)
    d = ConvEP(cfg.replace(relax="evenodd")).free_phase(X, 3)
    assert any(np.abs(u - v).max() > 1e-6 for u, v in zip(c, d, strict=True))
