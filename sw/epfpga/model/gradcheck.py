"""Gradient check: the EP weight update against the true gradient of the same network.

The true gradient is backpropagation through time (BPTT) through the T1 discrete Jacobi
steps of the float reference, written out by hand, for the loss
``0.5 * ||s_L(T1) - y||^2`` at the end of the free phase.  EP estimates ``-dL/dW`` from
two equilibria; at small beta and converged phases the two must agree (Scellier &
Bengio 2017; for discrete time, Ernoult et al. 2019, seed 003).  The step-by-step view
of seed 003 (theorem 1) compares the EP update accumulated over the first t nudged
steps with the BPTT gradient accumulated over the last t free steps.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig, get_config
from epfpga.model.reference import FloatEP


def _forward(net: FloatEP, x: np.ndarray, steps: int, s0: list[np.ndarray] | None = None,
             nudge: tuple[np.ndarray, float] | None = None):
    """All states s^0..s^T (s^0 given or zero) and pre-activations of steps 1..T."""
    cfg = net.cfg
    L = cfg.n_layers
    s = s0 or [np.zeros(n) for n in cfg.layers[1:]]
    states, pres = [s], []
    for _ in range(steps):
        full = [x] + s
        pre = []
        for layer in range(1, L + 1):
            p = net.W[layer - 1] @ full[layer - 1] + net.b[layer - 1]
            if layer < L:
                p = p + net.W[layer].T @ s[layer]
            if layer == L and nudge is not None:
                p = p + nudge[1] * (nudge[0] - s[L - 1])
            pre.append(p)
        s = [np.clip(p, 0.0, 1.0) for p in pre]
        states.append(s)
        pres.append(pre)
    return states, pres


def bptt(net: FloatEP, x: np.ndarray, y: int
         ) -> tuple[list[np.ndarray], list[np.ndarray], list[list[np.ndarray]], float]:
    """dL/dW, dL/db, and the per-time-step dL/dW contributions (last step first)."""
    cfg = net.cfg
    L, T = cfg.n_layers, cfg.T1
    states, pres = _forward(net, x, T)
    target = np.eye(cfg.layers[-1])[y]
    loss = 0.5 * float(((states[-1][-1] - target) ** 2).sum())
    g = [np.zeros(n) for n in cfg.layers[1:]]
    g[-1] = states[-1][-1] - target
    dW = [np.zeros_like(w) for w in net.W]
    db = [np.zeros_like(v) for v in net.b]
    per_step: list[list[np.ndarray]] = []
    for t in range(T, 0, -1):
        prev = [x] + states[t - 1]
        dpre = [g[i] * ((pres[t - 1][i] > 0) & (pres[t - 1][i] < 1)) for i in range(L)]
        step_dW = [np.zeros_like(w) for w in net.W]
        g_prev = [np.zeros(n) for n in cfg.layers[1:]]
        for layer in range(1, L + 1):
            d = dpre[layer - 1]
            step_dW[layer - 1] += np.outer(d, prev[layer - 1])  # bottom-up use of W_{l-1}
            db[layer - 1] += d
            if layer >= 2:
                g_prev[layer - 2] += net.W[layer - 1].T @ d
            if layer < L:
                step_dW[layer] += np.outer(prev[layer + 1], d)  # top-down use of W_l
                g_prev[layer] += net.W[layer] @ d
        for i in range(L):
            dW[i] += step_dW[i]
        per_step.append(step_dW)
        g = g_prev
    return dW, db, per_step, loss


def loss_of(net: FloatEP, x: np.ndarray, y: int) -> float:
    states, _ = _forward(net, x, net.cfg.T1)
    return 0.5 * float(((states[-1][-1] - np.eye(net.cfg.layers[-1])[y]) ** 2).sum())


def _phi_grad(x: np.ndarray, s: list[np.ndarray]) -> list[np.ndarray]:
    full = [x] + s
    return [np.outer(full[i + 1], full[i]) for i in range(len(s))]


def ep_estimate(net: FloatEP, x: np.ndarray, y: int, beta: float, symmetric: bool
                ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """EP estimate of -dL/dW, and its running value after each nudged step."""
    cfg = net.cfg
    free, _ = _forward(net, x, cfg.T1)
    s_star = free[-1]
    target = np.eye(cfg.layers[-1])[y]
    plus, _ = _forward(net, x, cfg.T2, s0=s_star, nudge=(target, beta))
    ref = _phi_grad(x, s_star)
    if symmetric:
        minus, _ = _forward(net, x, cfg.T2, s0=s_star, nudge=(target, -beta))
    running = []
    for t in range(1, cfg.T2 + 1):
        hi = _phi_grad(x, plus[t])
        lo = _phi_grad(x, minus[t]) if symmetric else ref
        den = 2 * beta if symmetric else beta
        running.append([(a - c) / den for a, c in zip(hi, lo, strict=True)])
    return running[-1], running


@dataclass
class GradCheck:
    cosine: list[float]
    rel_error: list[float]
    loss: float


def compare(ep: list[np.ndarray], true_neg_grad: list[np.ndarray]) -> GradCheck:
    cos, rel = [], []
    for a, c in zip(ep, true_neg_grad, strict=True):
        na, nc = np.linalg.norm(a), np.linalg.norm(c)
        cos.append(float(a.ravel() @ c.ravel() / (na * nc)) if na and nc else float("nan"))
        rel.append(float(np.linalg.norm(a - c) / nc) if nc else float("nan"))
    return GradCheck(cos, rel, 0.0)


def gradcheck(cfg: EPConfig, x: np.ndarray, y: int, beta: float, symmetric: bool
              ) -> tuple[GradCheck, list[list[np.ndarray]], list[list[np.ndarray]]]:
    net = FloatEP(cfg)
    dW, _, per_step, loss = bptt(net, x, y)
    ep, running = ep_estimate(net, x, y, beta, symmetric)
    res = compare(ep, [-g for g in dW])
    res.loss = loss
    return res, running, per_step


def implicit_gradient(net: FloatEP, x: np.ndarray, y: int
                      ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], float]:
    """Exact dL/dW, dL/db, dL/dB of ``0.5 ||s_L* - y||^2`` at the free fixed point s*,
    for tied or separate feedback, by implicit differentiation: with J the coupling
    matrix of all state layers and D the clip's derivative at s*, the adjoint is
    lambda = D (I - J^T D)^-1 dL/ds, and dL/dJ_ij = lambda_i s*_j."""
    cfg = net.cfg
    L, sizes = cfg.n_layers, list(cfg.layers[1:])
    off = np.concatenate([[0], np.cumsum(sizes)])
    s = [v[0] for v in net.free_phase(x)]
    full = [x] + s
    pre = []
    for layer in range(1, L + 1):
        p = net.W[layer - 1] @ full[layer - 1] + net.b[layer - 1]
        if layer < L:
            p = p + net.feedback(layer).T @ s[layer]
        pre.append(p)
    J = np.zeros((off[-1], off[-1]))
    for i in range(1, L):  # W_i: layer i -> i+1; feedback: layer i+1 -> i
        J[off[i]:off[i + 1], off[i - 1]:off[i]] = net.W[i]
        J[off[i - 1]:off[i], off[i]:off[i + 1]] = net.feedback(i).T
    D = np.diag(np.concatenate([((p > 0) & (p < 1)).astype(float) for p in pre]))
    g = np.zeros(off[-1])
    g[off[L - 1]:] = s[-1] - np.eye(sizes[-1])[y]
    lam = D @ np.linalg.solve(np.eye(off[-1]) - J.T @ D, g)
    lam_l = [lam[off[i]:off[i + 1]] for i in range(L)]
    dW = [np.outer(lam_l[i], full[i]) for i in range(L)]
    dB = [np.outer(s[i], lam_l[i - 1]) for i in range(1, L)]
    if cfg.feedback == "tied":  # W_i also carries the top-down signal
        for i in range(1, L):
            dW[i] = dW[i] + np.outer(s[i], lam_l[i - 1])
        dB = []
    loss = 0.5 * float(((s[-1] - np.eye(sizes[-1])[y]) ** 2).sum())
    return dW, lam_l, dB, loss


def nonconservative_check(cfg: EPConfig, x: np.ndarray, y: int, beta: float
                          ) -> dict[str, GradCheck]:
    """EP estimates of a separate-feedback network with and without the correction
    against the exact gradient, over all weights (forward and feedback) per layer."""
    out = {}
    for corr in (False, True):
        c = cfg.replace(feedback="separate", correction=corr, noise=0.0, sample_steps=0)
        net = FloatEP(c)
        dW, _, dB, loss = implicit_gradient(net, x, y)
        eW, _, eB, _ = net.ep_update(x, np.array([y]), beta=beta)
        est = [eW[0]] + [np.concatenate([a.ravel(), b.ravel()])
                         for a, b in zip(eW[1:], eB, strict=True)]
        true = [-dW[0]] + [-np.concatenate([a.ravel(), b.ravel()])
                           for a, b in zip(dW[1:], dB, strict=True)]
        r = compare(est, true)
        r.loss = loss
        out["corrected" if corr else "uncorrected"] = r
    return out


# ---------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="tiny",
                   help="preset or config file; a conv config (cnn, cnn-sym, cnn-tiny) checks conv "
                        "EP against BPTT of the CNN")
    p.add_argument("--beta", type=float, nargs="+", default=[0.5, 0.1, 0.01, 0.001])
    p.add_argument("--T1", type=int, default=100, help="free steps (long: converge)")
    p.add_argument("--T2", type=int, default=100, help="nudged steps")
    p.add_argument("--sample", type=int, default=0, help="random sample seed")
    p.add_argument("--plot", default="gradcheck.png", help="PNG of the step-by-step view")
    p.add_argument("--batch", type=int, default=4,
                   help="random samples in the batch (conv configs only)")


def run(args: argparse.Namespace) -> int:
    if any(b <= 0 for b in args.beta):
        raise EpfpgaError("--beta values must be > 0")
    if args.T1 < 1 or args.T2 < 1 or args.batch < 1:
        raise EpfpgaError("--T1, --T2 and --batch must be >= 1")
    cfg = get_config(args.config)
    if getattr(cfg, "kind", None) == "conv":
        from epfpga.conv.gradcheck import run as run_conv

        return run_conv(cfg, args)
    cfg = cfg.replace(T1=args.T1, T2=args.T2)
    rng = np.random.default_rng(args.sample)
    x = rng.random(cfg.layers[0])
    y = int(rng.integers(0, cfg.layers[-1]))
    print(f"{cfg.name}: {'-'.join(map(str, cfg.layers))}, T1={cfg.T1}, T2={cfg.T2}")
    print("| beta | nudge | " + " | ".join(f"cos W{i} | relerr W{i}" for i in range(
        cfg.n_layers)) + " |")
    print("|---|---|" + "---|---|" * cfg.n_layers)
    for beta in args.beta:
        for sym in (False, True):
            r, _, _ = gradcheck(cfg, x, y, beta, sym)
            cells = " | ".join(f"{c:.4f} | {e:.3f}" for c, e in zip(r.cosine, r.rel_error,
                                                                    strict=True))
            print(f"| {beta:g} | {'symmetric' if sym else 'one-sided'} | {cells} |")
    _, running, per_step = gradcheck(cfg, x, y, min(args.beta), True)
    _plot(running, per_step, args.plot)
    print(f"step-by-step plot: {args.plot}")
    return 0


def _plot(running, per_step, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = len(running)
    bptt_cum = np.cumsum([-s[-1].ravel() for s in per_step], axis=0)[:T]
    ep_cum = np.array([r[-1].ravel() for r in running])
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for k in range(min(5, ep_cum.shape[1])):
        line, = ax.plot(range(1, T + 1), ep_cum[:, k], "-")
        ax.plot(range(1, len(bptt_cum) + 1), bptt_cum[:, k], "--", color=line.get_color())
    ax.set_xlabel("t (nudged steps / last free steps)")
    ax.set_ylabel("update of W_top synapses")
    ax.set_title("EP (solid) vs -BPTT (dashed), seed 003 theorem 1")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
