"""Gradient check of conv EP: the EP update against backpropagation through time of the
same discrete-time network (seed 003, theorem 1, for the CNN).

BPTT runs through the T1 Jacobi steps of ``ConvEP`` by hand, for the loss
``0.5 * ||s_L(T1) - y||^2`` summed over the batch.  Max-pooling is piecewise linear:
within a step its routing (the window's argmax) is fixed, so the derivative of
``P(K * u)`` routes through the winners, and the feedback ``K^T * P^-1(v)`` is linear
in ``v`` at the routing of the layer below (the routing itself has zero derivative
almost everywhere).  The EP estimate (batch mean of ``-dL/dW``) must match ``-dL/dW / B``
at small beta once the free phase has converged.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from epfpga.conv.config import ConvConfig
from epfpga.conv.model import ConvEP
from epfpga.conv.ops import ConvLink, DenseLink, im2col


def _pool_at(link: ConvLink | DenseLink, u: np.ndarray, idx: np.ndarray | None
             ) -> np.ndarray:
    """``P(K * u)`` with a given routing (not ``u``'s own): the derivative of the
    feedback ``K^T * P^-1(v)`` with respect to ``v``."""
    if isinstance(link, DenseLink) or idx is None:
        return link.forward(u)[0]
    B = len(u)
    h, w, c = link.conv_shape
    q = link.pool
    z = (im2col(u, link.k, link.stride, link.pad) @ link.Wm).reshape(B, h, w, c)
    hp, wp = h // q, w // q
    win = z[:, :hp * q, :wp * q, :].reshape(B, hp, q, wp, q, c).transpose(0, 1, 3, 5, 2, 4)
    win = win.reshape(B, hp, wp, c, q * q)
    return np.take_along_axis(win, idx[..., None].astype(np.intp), axis=-1)[..., 0]


@dataclass
class _Step:
    states: list[np.ndarray]  # s^{t-1}, the states the step read
    pre: list[np.ndarray]  # pre-activations it computed
    idx: list[np.ndarray | None]  # routing of each link's forward at s^{t-1}


def _forward(model: ConvEP, x: np.ndarray, steps: int) -> tuple[list[_Step], list[np.ndarray]]:
    """Jacobi steps from zero, recording what BPTT needs; the final states."""
    L, links = model.cfg.n_layers, model.links
    s = model.zeros(len(x))
    record = []
    for _ in range(steps):
        full = [x, *s]
        fw = [link.forward(full[i]) for i, link in enumerate(links)]
        pre = []
        for j in range(L):
            p = fw[j][0] + model.b[j]
            if j + 1 < L:
                p = p + links[j + 1].backward(s[j + 1], fw[j + 1][1])
            pre.append(p)
        record.append(_Step(list(s), pre, [f[1] for f in fw]))
        s = [np.clip(p, 0.0, 1.0) for p in pre]
    return record, s


def bptt(model: ConvEP, X: np.ndarray, Y: np.ndarray
         ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """dL/dW (canonical shapes), dL/db and L, summed over the batch, through T1 steps."""
    cfg, links = model.cfg, model.links
    L = cfg.n_layers
    x = model.to_maps(X)
    record, s = _forward(model, x, cfg.T1)
    y = model.target(Y)
    loss = 0.5 * float(((s[-1] - y) ** 2).sum())
    gs = [np.zeros_like(v) for v in s]
    gs[-1] = s[-1] - y
    dWm = [np.zeros_like(link.Wm) for link in links]
    db = [np.zeros_like(v) for v in model.b]
    for step in reversed(record):
        g = [gs[j] * ((step.pre[j] > 0) & (step.pre[j] < 1)) for j in range(L)]
        full = [x, *step.states]
        prev = [np.zeros_like(v) for v in step.states]
        for i, link in enumerate(links):
            # forward use of K_i: pre_i gets P(K_i * s_{i-1})
            dWm[i] += link.weight_stat(full[i], g[i], step.idx[i])
            db[i] += link.bias_stat(g[i])
            if i >= 1:
                prev[i - 1] += link.backward(g[i], step.idx[i])
                # feedback use of K_i: pre_{i-1} gets K_i^T * P^-1(s_i)
                dWm[i] += link.weight_stat(g[i - 1], step.states[i], step.idx[i])
                prev[i] += _pool_at(link, g[i - 1], step.idx[i])
        gs = prev
    dW = [model._canonical(i, m) for i, m in enumerate(dWm)]
    return dW, db, loss


@dataclass
class ConvGradCheck:
    cosine: list[float]  # per weight layer (weights and bias together)
    rel_error: list[float]
    loss: float


def gradcheck(cfg: ConvConfig, X: np.ndarray, Y: np.ndarray, beta: float, nudge: str,
              model: ConvEP | None = None) -> ConvGradCheck:
    """EP's batch-mean update against ``-dL/dW / B`` from BPTT, per layer."""
    cfg = cfg.replace(dtype="float64", relax="jacobi", nudge=nudge)
    # the nudge mode lives in the model's config: same weights, this mode
    model = ConvEP(cfg) if model is None else ConvEP(cfg, W=model.W, b=model.b)
    dW, db, loss = bptt(model, X, Y)
    eW, eb, _ = model.ep_update(X, Y, beta=beta)
    cos, rel = [], []
    for i in range(cfg.n_layers):
        a = np.concatenate([eW[i].ravel(), eb[i].ravel()])
        c = -np.concatenate([dW[i].ravel(), db[i].ravel()]) / len(X)
        na, nc = np.linalg.norm(a), np.linalg.norm(c)
        cos.append(float(a @ c / (na * nc)) if na and nc else float("nan"))
        rel.append(float(np.linalg.norm(a - c) / nc) if nc else float("nan"))
    return ConvGradCheck(cos, rel, loss)


def run(cfg: ConvConfig, args: argparse.Namespace) -> int:
    """``epfpga gradcheck --config cnn...``: a table over beta and nudge modes."""
    cfg = cfg.replace(T1=args.T1, T2=args.T2, dtype="float64", relax="jacobi")
    rng = np.random.default_rng(args.sample)
    X = rng.random((args.batch, int(np.prod(cfg.in_shape))))
    Y = rng.integers(0, cfg.fc[-1], args.batch)
    model = ConvEP(cfg)
    s = model.free_phase(X)
    x = model.to_maps(X)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(
        s, model.relax(x, model.input_drive(x), s, 1), strict=True))
    print(f"{cfg.name}: in {'x'.join(map(str, cfg.in_shape))}, channels "
          f"{'-'.join(map(str, cfg.channels))}, fc {'-'.join(map(str, cfg.fc))}, "
          f"T1={cfg.T1}, T2={cfg.T2}, batch {args.batch}; free phase moves "
          f"{moved:.1e} on one more step")
    n = cfg.n_layers
    print("| beta | nudge | " + " | ".join(f"cos {_name(cfg, i)} | relerr {_name(cfg, i)}"
                                          for i in range(n)) + " |")
    print("|---|---|" + "---|---|" * n)
    for beta in args.beta:
        for nudge in ("positive", "symmetric"):
            r = gradcheck(cfg, X, Y, beta, nudge, model)
            cells = " | ".join(f"{c:.4f} | {e:.3f}" for c, e in zip(r.cosine, r.rel_error,
                                                                    strict=True))
            print(f"| {beta:g} | {'one-sided' if nudge == 'positive' else nudge} | {cells} |")
    return 0


def _name(cfg: ConvConfig, i: int) -> str:
    return f"conv{i}" if i < cfg.n_conv else f"fc{i - cfg.n_conv}"
