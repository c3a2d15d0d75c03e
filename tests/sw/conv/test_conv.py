"""Conv EP (seed 003): ops against explicit per-pixel loops, deterministic pooling
ties, EP's update against the gradient of the same tiny network, relaxation modes, and
the golden model against an independent integer loop."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.conv import ConvConfig, ConvEP, ConvGolden
from epfpga.conv.model import make_links
from epfpga.conv.ops import maxpool, unpool, weight_matrix
from epfpga.model import numerics as nx

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


# ---------------------------------------------------------------- golden (integers)
GTINY = ConvConfig(in_shape=(1, 6, 6), channels=(2,), kernels=(3,), strides=(1,),
                   paddings=(1,), pools=(2,), fc=(4, 3), lrs=(0.2, 0.2, 0.2), T1=12,
                   T2=5, beta=0.5, batch_size=2, init_gain=1.5, seed=3, name="g")


def _int_conv_pool(x, K, cfg_i, cfg):
    """Python ints: conv (with padding) then first-max pooling; returns the pooled
    drive and the winner's conv-output position per pooled unit."""
    k, st, pad, q = (cfg.kernels[cfg_i], cfg.strides[cfg_i], cfg.paddings[cfg_i],
                     cfg.pools[cfg_i])
    H, W, C = len(x), len(x[0]), len(x[0][0])
    co = len(K)
    ho, wo = (H + 2 * pad - k) // st + 1, (W + 2 * pad - k) // st + 1

    def px(i, j, c):
        i, j = i - pad, j - pad
        return x[i][j][c] if 0 <= i < H and 0 <= j < W else 0

    z = [[[sum(int(K[o][c][dy][dx]) * px(i * st + dy, j * st + dx, c)
               for dy in range(k) for dx in range(k) for c in range(C))
           for o in range(co)] for j in range(wo)] for i in range(ho)]
    pooled, where = {}, {}
    for i in range(ho // q):
        for j in range(wo // q):
            for o in range(co):
                cands = [(z[i * q + dy][j * q + dx][o], -(dy * q + dx), (i * q + dy, j * q + dx))
                         for dy in range(q) for dx in range(q)]
                best = max(cands)  # largest value, then the smallest index: first max
                pooled[i, j, o], where[i, j, o] = best[0], best[2]
    return pooled, where


def _int_relax(g, xq, s, steps, cfg, nudge=None):
    """Jacobi relaxation of the integer contract, one unit at a time in Python ints."""
    act_one, wf = cfg.act_one, cfg.weight_frac
    W = [w.tolist() for w in g.W]
    b = [v.tolist() for v in g.b]
    for _ in range(steps):
        below = [xq, *s]
        new = []
        for j in range(cfg.n_layers):
            if j < cfg.n_conv:
                pooled, _ = _int_conv_pool(below[j], W[j], j, cfg)
                acc = {key: v + b[j][key[2]] * act_one for key, v in pooled.items()}
            else:
                flat = np.asarray(below[j]).reshape(-1).tolist()
                acc = {(o,): sum(int(W[j][o][m]) * flat[m] for m in range(len(flat)))
                       + b[j][o] * act_one for o in range(len(W[j]))}
            if j + 1 < cfg.n_layers:  # top-down: K^T P^-1(s_{j+1})
                up = s[j + 1]
                if j + 1 < cfg.n_conv:
                    _, where = _int_conv_pool(s[j], W[j + 1], j + 1, cfg)
                    k, st, pad = cfg.kernels[j + 1], cfg.strides[j + 1], cfg.paddings[j + 1]
                    for (i2, j2, o), (ci, cj) in where.items():
                        for dy in range(k):
                            for dx in range(k):
                                for c in range(len(W[j + 1][0])):
                                    key = (ci * st + dy - pad, cj * st + dx - pad, c)
                                    if key in acc:
                                        acc[key] += W[j + 1][o][c][dy][dx] * up[i2][j2][o]
                else:
                    keys = sorted(acc)  # (H, W, C) or (n,) flattening order
                    for m, key in enumerate(keys):
                        acc[key] += sum(W[j + 1][o][m] * up[o] for o in range(len(up)))
            if j == cfg.n_layers - 1 and nudge is not None:
                y, bq = nudge
                for (o,) in acc:
                    acc[(o,)] += (y[o] - s[j][o]) * (bq << cfg.nudge_shift)
            out = {key: min(max((v + (1 << (wf - 1))) >> wf, 0), act_one)
                   for key, v in acc.items()}
            shape = np.shape(s[j])
            new.append(np.array([out[key] for key in sorted(out)], dtype=np.int64)
                       .reshape(shape).tolist())
        s = new
    return s


def _int_state(cfg, batch):
    return [np.zeros(sh, dtype=np.int64).tolist() for sh in cfg.state_shapes]


def _qdata(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, (n, int(np.prod(cfg.in_shape))), dtype=np.uint8)
    return nx.quantize_pixels(px, cfg), rng.integers(0, cfg.fc[-1], n)


def test_golden_relax_matches_integer_loop():
    g = ConvGolden(GTINY)
    Xq, Y = _qdata(GTINY, 2)
    rec: dict = {}
    g2 = ConvGolden(GTINY)
    g2.train_batch(Xq, Y, record=rec)
    for n in range(len(Xq)):
        x = Xq[n].reshape(1, 6, 6).transpose(1, 2, 0).tolist()
        free = _int_relax(g, x, _int_state(GTINY, 1), GTINY.T1, GTINY)
        for a, b in zip(free, rec["free"], strict=True):
            assert np.array_equal(np.asarray(a), b[n])
        y = [GTINY.act_one * int(Y[n] == o) for o in range(GTINY.fc[-1])]
        plus = _int_relax(g, x, free, GTINY.T2, GTINY, (y, GTINY.beta_q))
        for a, b in zip(plus, rec["plus"], strict=True):
            assert np.array_equal(np.asarray(a), b[n])
    assert any(np.asarray(s).max() > 0 for s in rec["free"])  # not a dead network


def _int_update(g, Xq, rec, cfg):
    """The update from the recorded states, in Python ints: exact correlation sums, one
    stochastic rounding per weight from layer i's LFSR, saturation."""
    sign = rec["sign"]
    W_new, b_new = [], []
    n = len(Xq)
    xs = [Xq[m].reshape(cfg.in_shape).transpose(1, 2, 0).tolist() for m in range(n)]
    for i in range(cfg.n_layers):
        shape = cfg.weight_shape(i)
        stat = np.zeros(shape, dtype=object)
        bstat = np.zeros(shape[0], dtype=object)
        for states, sgn in ((rec["plus"], 1), (rec["minus"], -1)):
            for m in range(n):
                lo = xs[m] if i == 0 else states[i - 1][m].tolist()
                hi = states[i][m]
                if i < cfg.n_conv:
                    _, where = _int_conv_pool(lo, g.W[i].tolist(), i, cfg)
                    k, st, pad = cfg.kernels[i], cfg.strides[i], cfg.paddings[i]
                    H, Wd = len(lo), len(lo[0])
                    for (i2, j2, o), (ci, cj) in where.items():
                        v = int(hi[i2, j2, o])
                        bstat[o] += sgn * v
                        for c in range(shape[1]):
                            for dy in range(k):
                                for dx in range(k):
                                    a, bb = ci * st + dy - pad, cj * st + dx - pad
                                    if 0 <= a < H and 0 <= bb < Wd:
                                        stat[o, c, dy, dx] += sgn * v * lo[a][bb][c]
                else:
                    flat = np.asarray(lo).reshape(-1).tolist()
                    for o in range(shape[0]):
                        bstat[o] += sgn * int(hi[o])
                        for q in range(shape[1]):
                            stat[o, q] += sgn * int(hi[o]) * flat[q]
        k = sign * cfg.update_q[i]
        n_out, n_in = shape[0], int(np.prod(shape[1:]))
        st_, seq = g.lfsr[i], []
        for _ in range(n_out + n_in + 1):
            st_ = nx.lfsr_step(st_)
            seq.append(st_)
        g.lfsr[i] = st_
        msk = (1 << cfg.sr_bits) - 1
        sh, sr = cfg.update_shift, cfg.sr_bits

        def off(r, sh=sh, sr=sr):
            return r << (sh - sr) if sh >= sr else r >> (sr - sh)

        lo_w, hi_w = cfg.weight_min, cfg.weight_max
        w = g.W[i].reshape(n_out, n_in).tolist()
        st_flat = stat.reshape(n_out, n_in)
        for o in range(n_out):
            for q in range(n_in):
                r = (seq[o] & msk) ^ (seq[n_out + q] & msk)
                w[o][q] = min(max(w[o][q] + ((int(st_flat[o, q]) * k + off(r)) >> sh), lo_w),
                              hi_w)
        bb = [min(max(int(g.b[i][o]) + ((int(bstat[o]) * k * cfg.act_one
                                         + off((seq[o] & msk) ^ (seq[-1] & msk))) >> sh),
                      lo_w), hi_w) for o in range(n_out)]
        W_new.append(np.array(w, dtype=np.int64).reshape(shape))
        b_new.append(np.array(bb, dtype=np.int64))
    return W_new, b_new


@pytest.mark.parametrize("nudge", ["positive", "symmetric", "random_sign"])
def test_golden_update_matches_integer_loop(nudge):
    cfg = GTINY.replace(nudge=nudge)
    g, ref = ConvGolden(cfg), ConvGolden(cfg)
    for step in range(2):
        Xq, Y = _qdata(cfg, cfg.batch_size, seed=step)
        rec: dict = {}
        g.train_batch(Xq, Y, record=rec)
        W, b = _int_update(ref, Xq, rec, cfg)
        for a, c in zip(g.W + g.b, W + b, strict=True):
            np.testing.assert_array_equal(a, c)
        ref.W, ref.b = W, b
        ref._sync()
    assert any(np.any(a != c) for a, c in zip(g.W, ConvGolden(cfg).W, strict=True))


def test_golden_tracks_float_within_quantization():
    """Same weights (the golden's, dequantized) and the same quantized input: the
    float fixed point and the integer one differ by the rounding of each activation
    (half an LSB) amplified by the network's contraction; measured < 1 LSB here, asserted <= 2."""
    cfg = GTINY.replace(T1=60, dtype="float64")
    g = ConvGolden(cfg)
    f = ConvEP(cfg, W=[nx.dequantize_weights(w, cfg) for w in g.W],
               b=[nx.dequantize_weights(v, cfg) for v in g.b])
    Xq, _ = _qdata(cfg, 8)
    sg = g.free_phase(Xq)
    sf = f.free_phase(Xq / cfg.act_one)
    err = max(float(np.abs(a / cfg.act_one - b).max()) for a, b in zip(sg, sf, strict=True))
    assert err <= 2 / cfg.act_one, err * cfg.act_one
    assert max(float(s.max()) for s in sf) > 0.1


def test_worked_example_in_numerics_md():
    """docs/numerics.md, "Conv EP", worked example, number for number."""
    cfg = ConvConfig(in_shape=(1, 3, 3), channels=(1,), kernels=(2,), strides=(1,),
                     paddings=(0,), pools=(2,), fc=(1,), act_frac=2, weight_bits=8,
                     weight_frac=4, beta=0.5, beta_frac=1, lrs=(0.25, 0.25), lr_frac=4,
                     rounding="nearest", T1=4, T2=2, name="worked")
    assert cfg.update_q == (8, 8) and cfg.update_shift == 4 and cfg.beta_q == 1
    K = np.array([[[[4, -4], [4, 4]]]])
    g = ConvGolden(cfg, W=[K, np.array([[12]])], b=[np.array([-2]), np.array([-4])])
    Xq = np.array([[4, 0, 2, 2, 4, 0, 0, 2, 4]])
    x = g.to_maps(Xq)
    d, idx = g.links[0].forward(x)
    assert d.ravel().tolist() == [40.0] and idx.ravel().tolist() == [0]  # tie 40/40 -> (0,0)
    rec: dict = {}
    g.train_batch(Xq, np.array([0]), record=rec)
    assert [s.ravel().tolist() for s in rec["free"]] == [[3.0], [1.0]]
    assert [s.ravel().tolist() for s in rec["plus"]] == [[4.0], [2.0]]
    assert g.W[0].tolist() == [[[[6, -4], [5, 6]]]] and g.b[0].tolist() == [0]
    assert g.W[1].tolist() == [[15]] and g.b[1].tolist() == [-2]


@pytest.mark.parametrize("engine", ["float", "golden"])
def test_train_loop_runs_conv_and_resumes(tmp_path, engine):
    """`epfpga train --config cnn-tiny`: the shared loop, a checkpoint that comes back
    as a ConvConfig, and a resume that ends where an uninterrupted run ends."""
    from epfpga.data.datasets import Dataset
    from epfpga.model.config import get_config
    from epfpga.train.trainer import TrainOptions, train

    cfg = get_config("cnn-tiny").replace(T1=4, T2=2, batch_size=2)
    rng = np.random.default_rng(0)
    ds = Dataset("synthetic", rng.integers(0, 256, (8, 784), dtype=np.uint8),
                 rng.integers(0, 10, 8), rng.integers(0, 256, (4, 784), dtype=np.uint8),
                 rng.integers(0, 10, 4))
    kw = dict(engine=engine, progress=False, plot=False, checkpoint_every=4)
    full = train(cfg, ds, TrainOptions(epochs=2, out=tmp_path / "a", **kw))
    train(cfg, ds, TrainOptions(epochs=1, out=tmp_path / "b", **kw))
    resumed = train(cfg, ds, TrainOptions(epochs=2, out=tmp_path / "b", resume=True, **kw))
    assert full["history"][-1]["test_acc"] == resumed["history"][-1]["test_acc"]
    from epfpga.train.checkpoint import load_checkpoint

    a = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert a.cfg == cfg
    for u, v in zip(a.state["W"], b.state["W"], strict=True):
        np.testing.assert_array_equal(u, v)


TWO_CONV = ConvConfig(in_shape=(1, 10, 10), channels=(2, 3), kernels=(3, 3), strides=(1, 1),
                      paddings=(1, 1), pools=(2, 2), fc=(4,), lrs=(0.1, 0.1, 0.1), T1=6,
                      T2=60, beta=0.01, dtype="float64", init_gain=1.5, seed=2, name="t2")


def test_bptt_matches_finite_differences():
    """The hand-written BPTT (conv feedback through a pooled layer above, fc on top)
    against central differences of the loss after T1 steps, unconverged on purpose."""
    from epfpga.conv.gradcheck import bptt

    model = ConvEP(TWO_CONV)
    X, Y = _data(TWO_CONV, 3, seed=4)
    dW, db, loss = bptt(model, X, Y)
    assert loss == pytest.approx(_loss(model, X, Y, TWO_CONV.T1))
    got = -np.concatenate([g.ravel() for g in (*dW, *db)]) / len(X)
    want = _fd_grad(TWO_CONV, model, X, Y)
    assert np.linalg.norm(want) > 1e-3
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * np.abs(want).max() + 1e-9)


def test_gradcheck_cli_reports_agreement(capsys):
    """Cosine >= 0.99 at small beta; the symmetric nudge's bias is second order, so at
    a large beta its error is below the one-sided one in every layer."""
    from epfpga.cli import main

    assert main(["gradcheck", "--config", "cnn-tiny", "--T1", "80", "--T2", "80", "--beta",
                 "0.1", "0.001", "--batch", "2"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith(("| 0.1 |", "| 0.001 |")):
            cells = line.strip("| ").split(" | ")
            rows[cells[0], cells[1]] = [float(c) for c in cells[2:]]
    assert len(rows) == 4
    for nudge in ("one-sided", "symmetric"):
        assert min(rows["0.001", nudge][0::2]) >= 0.99
    for one, sym in zip(rows["0.1", "one-sided"][1::2], rows["0.1", "symmetric"][1::2],
                        strict=True):
        assert sym < one


def test_a_conv_config_file_loads_as_conv(tmp_path):
    from epfpga.model.config import get_config

    cfg = get_config("cnn-tiny").replace(lrs=(0.3, 0.2, 0.1), name="mine")
    for suffix in (".toml", ".json"):
        cfg.save(tmp_path / f"c{suffix}")
        back = get_config(str(tmp_path / f"c{suffix}"))
        assert isinstance(back, ConvConfig) and back == cfg and back.digest == cfg.digest


def test_convergence_step_is_where_states_stay_settled():
    """The settle step from ``convergence`` against a direct per-sample scan of the
    recorded states."""
    from epfpga.conv.reproduce import TOL, convergence

    cfg = TINY.replace(T1=30)
    model = ConvEP(cfg)
    X, _ = _data(cfg, 5, seed=7)
    got = convergence(model, X, steps=60)
    for mode in ("jacobi", "evenodd"):
        x = model.to_maps(X)
        rec = []
        model.relax(x, model.input_drive(x), model.zeros(len(x)), 60, record=rec, relax=mode)
        settle = []
        for i in range(len(x)):
            dist = [max(float(np.abs(a[i] - f[i]).max()) for a, f in zip(s, rec[-1],
                                                                          strict=True))
                    for s in rec]
            t = len(dist)
            while t > 0 and dist[t - 1] < TOL:
                t -= 1
            settle.append(t + 1)  # the first step of the settled run, counted from 1
        assert got[mode]["max"] == max(settle)
        assert got[mode]["median"] == float(np.median(settle))


def test_reproduce_cnn_runs_and_continues(tmp_path, capsys):
    from epfpga.cli import main

    args = ["reproduce", "cnn", "--train-samples", "100", "--test-samples", "40", "--out",
            str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| test error |" in out and "| jacobi |" in out and "| evenodd |" in out
    assert (tmp_path / "float" / "checkpoint.npz").exists()
    # run again: both trainings are complete, so they resume and train nothing
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out


def test_bench_cnn_says_what_it_needs(tmp_path, capsys):
    from epfpga.cli import main

    assert main(["bench", "cnn"]) == 2
    assert "--reference DIR" in capsys.readouterr().err
    assert main(["bench", "cnn", "--reference", str(tmp_path)]) == 2
    assert "has no model_utils.py" in capsys.readouterr().err
