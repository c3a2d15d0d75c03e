"""``epfpga reproduce NAME``: each seed paper's claim measured on this project's float
reference and fixed-point golden model, printed as a markdown table beside the paper's
numbers, with plots and a JSON record in the output directory.

``--short`` (the default) runs in minutes on subsets; ``--full`` runs the documented
full experiment (docs/results.md has the wall times).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from epfpga.data.datasets import Dataset, load_dataset
from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig, get_config
from epfpga.model.golden import GoldenModel
from epfpga.model.gradcheck import bptt, compare, implicit_gradient, nonconservative_check
from epfpga.model.numerics import quantize_pixels
from epfpga.model.reference import FloatEP


@dataclass(frozen=True)
class Mode:
    full: bool
    train: int | None  # samples per epoch (None: all)
    test: int | None
    epochs: int
    grad_samples: int
    progress: bool = True

    @property
    def label(self) -> str:
        return "full" if self.full else "short"


SHORT = Mode(False, 10_000, 2_000, 1, 4)
FULL = Mode(True, None, None, 3, 20)

#: The network of every MNIST arm: the `up5k` preset (784-64-10, the config that
#: runs on the FPGA) with a fixed nudge sign, so the arms differ only in the variant.
BASE = get_config("up5k").replace(part="none", nudge="positive")


# ---------------------------------------------------------------- training arms
def _subset(ds: Dataset, mode: Mode) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (ds.x_train[:mode.train], ds.y_train[:mode.train], ds.x_test[:mode.test],
            ds.y_test[:mode.test])


def train_float(cfg: EPConfig, ds: Dataset, mode: Mode, desc: str,
                update: Callable[[FloatEP, np.ndarray, int], None] | None = None) -> float:
    """Online training of the float reference; ``update`` replaces the config's rule
    (for estimators that are not a config switch).  Returns the test accuracy."""
    xtr, ytr, xte, yte = _subset(ds, mode)
    net = FloatEP(cfg)
    xs = xtr.astype(np.float64) / 255.0
    for epoch in range(mode.epochs):
        net.set_epoch(epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(xs))
        for i in tqdm(order, desc=f"{desc} epoch {epoch + 1}", disable=not mode.progress,
                      leave=False, unit="sample", mininterval=1.0):
            if update is None:
                net.train_batch(xs[i:i + 1], ytr[i:i + 1])
            else:
                update(net, xs[i], int(ytr[i]))
    return float((net.infer_batch(xte.astype(np.float64) / 255.0) == yte).mean())


def train_golden(cfg: EPConfig, ds: Dataset, mode: Mode, desc: str) -> float:
    xtr, ytr, xte, yte = _subset(ds, mode)
    g = GoldenModel(cfg)
    xq = quantize_pixels(xtr, cfg)
    for epoch in range(mode.epochs):
        g.set_epoch(epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(xq))
        for i in tqdm(order, desc=f"{desc} epoch {epoch + 1}", disable=not mode.progress,
                      leave=False, unit="sample", mininterval=1.0):
            g.train_sample(xq[i], int(ytr[i]))
    xt = quantize_pixels(xte, cfg)
    return float((g.infer_batch(xt) == yte).mean())


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _mnist_samples(ds: Dataset, n: int) -> list[tuple[np.ndarray, int]]:
    return [(ds.x_train[i].astype(np.float64) / 255.0, int(ds.y_train[i])) for i in range(n)]


# ---------------------------------------------------------------- the claims
def noncons(mode: Mode, out: Path, dataset: str) -> dict[str, Any]:
    """Seeds 000/001: separate feedback weights; the correction restores the gradient."""
    ds = load_dataset(dataset)
    gcfg = BASE.replace(T1=100, T2=100)
    errs: dict[str, list[list[float]]] = {"uncorrected": [], "corrected": []}
    for x, y in _mnist_samples(ds, mode.grad_samples):
        for k, r in nonconservative_check(gcfg, x, y, beta=0.001).items():
            errs[k].append([float(np.mean(r.rel_error)), float(np.mean(r.cosine))])
    acc = {}
    for corr in (False, True):
        cfg = BASE.replace(feedback="separate", correction=corr)
        name = "corrected" if corr else "uncorrected"
        acc[f"float {name}"] = train_float(cfg, ds, mode, f"float {name}")
        acc[f"golden {name}"] = train_golden(cfg, ds, mode, f"golden {name}")
    ep = train_float(BASE, ds, mode, "float EP (symmetric weights)")
    rows = []
    for name, paper_err, paper_acc in (("uncorrected", "0.12", "96.2%"),
                                       ("corrected", "< 0.01", "97.8%")):
        e = np.array(errs[name])
        rows.append([name, f"{e[:, 0].mean():.4f}", f"{e[:, 1].mean():.4f}", paper_err,
                     _pct(acc[f"float {name}"]), _pct(acc[f"golden {name}"]), paper_acc])
    rows.append(["symmetric weights (plain EP)", "-", "-", "-", _pct(ep), "-", "-"])
    table = _table(["non-conservative EP", "grad. rel. error (beta=0.001)", "cosine",
                    "paper error", "MNIST float", "MNIST golden", "paper MNIST"], rows)
    _bar_plot(out / "noncons.png", ["uncorrected", "corrected"],
              [np.mean(np.array(errs[k])[:, 0]) for k in ("uncorrected", "corrected")],
              "relative gradient error (beta = 0.001)", "seeds 000/001: correction term")
    return {"table": table, "grad": errs, "accuracy": acc, "plain_ep": ep}


def cep(mode: Mode, out: Path, dataset: str) -> dict[str, Any]:
    """Seed 003: C-EP (weights move during the nudged phase) against EP and BPTT."""
    ds = load_dataset(dataset)
    gcfg = BASE.replace(T1=150, T2=150, algorithm="cep")
    beta = 0.001
    agree: dict[float, list[float]] = {}
    for ratio in (1e-5, 1e-4, 1e-3, 3e-3):
        lr = ratio * beta
        for x, y in _mnist_samples(ds, mode.grad_samples):
            want = [-g for g in bptt(FloatEP(gcfg), x, y)[0]]
            net = FloatEP(gcfg.replace(lrs=(lr, lr)))
            W0 = [w.copy() for w in net.W]
            net.cep_step(x[None, :], np.array([y]), beta=beta)
            got = [(w - w0) / lr for w, w0 in zip(net.W, W0, strict=True)]
            agree.setdefault(ratio, []).append(float(np.mean(compare(got, want).rel_error)))
    acc = {
        "float EP": train_float(BASE, ds, mode, "float EP"),
        "float C-EP": train_float(BASE.replace(algorithm="cep"), ds, mode, "float C-EP"),
        "golden EP": train_golden(BASE, ds, mode, "golden EP"),
        "golden C-EP": train_golden(BASE.replace(algorithm="cep"), ds, mode, "golden C-EP"),
    }
    # median over samples: a sample whose phases do not settle in T1 steps gives EP and
    # BPTT different fixed points whatever the rate; it is counted, not averaged in
    t1 = _table(["C-EP rate / beta", "rel. error of the C-EP update vs -BPTT (median)",
                 "samples with error > 1", "paper"],
                [[f"{r:g}", f"{np.median(v):.4f}", f"{sum(e > 1 for e in v)} / {len(v)}",
                  "-> 0 as the rate -> 0 (theorem 1)" if r == 1e-5 else ""]
                 for r, v in agree.items()])
    t2 = _table(["MNIST", "float", "golden", "paper"],
                [["EP", _pct(acc["float EP"]), _pct(acc["golden EP"]), "-"],
                 ["C-EP", _pct(acc["float C-EP"]), _pct(acc["golden C-EP"]),
                  "approaches EP"]])
    _bar_plot(out / "cep.png", [f"{r:g}" for r in agree],
              [np.median(v) for v in agree.values()],
              "rel. error vs -BPTT", "seed 003: C-EP update against BPTT by rate/beta")
    return {"table": t1 + "\n\n" + t2, "agreement": agree, "accuracy": acc}


#: Stochastic setting of seed 002: one hidden layer, uniform noise on every step,
#: statistics averaged over the last 16 steps of each phase.
FINITE = BASE.replace(T1=40, T2=40, noise=0.05, sample_steps=16, lr_decay=1.0)
BETAS = (0.01, 0.03, 0.1, 0.3, 1.0)


def finite_nudge(mode: Mode, out: Path, dataset: str) -> dict[str, Any]:
    """Seed 002: with sampled (noisy) phases a finite nudge beta = 1 gives a usable
    update where an infinitesimal one drowns in noise."""
    ds = load_dataset(dataset)
    if mode.full:  # sampled phases cost ~5x a deterministic sample: one full epoch
        mode = dataclasses.replace(mode, epochs=1)
    repeats = 4
    cos: dict[float, list[float]] = {b: [] for b in BETAS}
    snr: dict[float, list[float]] = {b: [] for b in BETAS}
    pi_cos: list[float] = []
    pi_scale: list[float] = []  # |path integral| / |beta = 1 estimate|: 1 if Gibbs holds
    net = FloatEP(FINITE)
    det = FloatEP(FINITE.replace(noise=0.0, sample_steps=0), net.W, net.b)
    for x, y in _mnist_samples(ds, mode.grad_samples):
        true = [-g for g in implicit_gradient(det, x, y)[0]]
        for beta in BETAS:
            deltas = []
            for _ in range(repeats):
                eW, _, _, _ = net.ep_update(x, np.array([y]), beta=beta)
                cos[beta].append(float(np.mean(compare(eW, true).cosine)))
                deltas.append(np.concatenate([d.ravel() for d in eW[1:]]) * beta)
            d = np.array(deltas)
            mean = d.mean(0)
            snr[beta].append(float((mean ** 2).sum() / max(((d - mean) ** 2).sum(1).mean(),
                                                           1e-30)))
        for _ in range(repeats):
            pW, _, _ = net.path_integral_update(x, np.array([y]))
            pi_cos.append(float(np.mean(compare(pW, true).cosine)))
            eW, _, _, _ = net.ep_update(x, np.array([y]), beta=1.0)
            pi_scale.append(float(np.mean([np.linalg.norm(a) / np.linalg.norm(c)
                                           for a, c in zip(pW, eW, strict=True)])))

    def pi_update(n: FloatEP, x: np.ndarray, y: int) -> None:
        dW, db, _ = n.path_integral_update(x, np.array([y]))
        n.apply_update(dW, db, [], n.lr_scale)

    def backprop(n: FloatEP, x: np.ndarray, y: int) -> None:
        clean = FloatEP(FINITE.replace(noise=0.0, sample_steps=0), n.W, n.b)
        dW, db, _, _ = implicit_gradient(clean, x, y)
        n.apply_update([-g for g in dW], [-g for g in db], [], n.lr_scale)

    acc = {f"beta = {b:g}": train_float(FINITE.replace(beta=b), ds, mode, f"beta {b:g}")
           for b in (1.0, 0.01)}
    acc["beta = 1, golden"] = train_golden(FINITE.replace(beta=1.0), ds, mode,
                                           "golden beta 1")
    acc["path integral"] = train_float(FINITE.replace(beta=1.0), ds, mode, "path integral",
                                       pi_update)
    acc["backprop (exact gradient)"] = train_float(FINITE, ds, mode, "backprop", backprop)
    t1 = _table(["beta", "cosine with backprop", "SNR of s_beta - s_0", "paper"],
                [[f"{b:g}", f"{np.mean(cos[b]):.3f}", f"{np.mean(snr[b]):.2f}",
                  "grows with beta" if b == 1.0 else ("noise-dominated" if b == 0.01 else "")]
                 for b in BETAS] + [["path integral", f"{np.mean(pi_cos):.3f}", "-",
                                     f"(norm {np.mean(pi_scale):.0f}x the beta = 1 estimate)"]])
    paper = {"beta = 1": "~80%", "beta = 0.01": "fails", "path integral": "~80%",
             "backprop (exact gradient)": "~80% (backprop)", "beta = 1, golden": "-"}
    t2 = _table([f"{ds.name} test accuracy", "measured", "paper (Fashion-MNIST)"],
                [[k + ("" if "golden" in k else ", float"), _pct(v), paper[k]]
                 for k, v in acc.items()])
    _sweep_plot(out / "finite_nudge.png", cos, snr)
    return {"table": t1 + "\n\n" + t2, "cosine": cos, "snr": snr, "pi_cosine": pi_cos,
            "pi_scale": pi_scale, "accuracy": acc}


def _cnn(mode: Mode, out: Path, dataset: str) -> dict[str, Any]:
    from epfpga.conv.reproduce import cnn

    return cnn(mode, out, dataset)


CLAIMS: dict[str, tuple[Callable[[Mode, Path, str], dict[str, Any]], str, str]] = {
    "noncons": (noncons, "mnist", "non-conservative EP with and without the correction "
                "(seeds 000/001)"),
    "cep": (cep, "mnist", "C-EP against EP and BPTT (seed 003)"),
    "finite-nudge": (finite_nudge, "fashion", "finite nudge with sampled phases, "
                     "beta sweep and path integral (seed 002)"),
    "cnn": (_cnn, "mnist", "the convolutional EP network, float and golden, and Jacobi "
            "against even/odd relaxation (seed 003); the full mode runs for hours and "
            "continues where it stopped"),
}


# ---------------------------------------------------------------- plots
def _bar_plot(path: Path, labels: list[str], values: list[float], ylabel: str,
              title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.bar(labels, values, color="tab:blue")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _sweep_plot(path: Path, cos: dict[float, list[float]], snr: dict[float, list[float]]
                ) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = list(cos)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    a1.semilogx(b, [np.mean(cos[k]) for k in b], "o-")
    a1.set_xlabel("beta")
    a1.set_ylabel("cosine with backprop")
    a2.loglog(b, [np.mean(snr[k]) for k in b], "s-")
    a2.set_xlabel("beta")
    a2.set_ylabel("SNR of s_beta - s_0")
    fig.suptitle("seed 002: finite nudge with sampled phases", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=list(CLAIMS),
                   help="; ".join(f"{k}: {v[2]}" for k, v in CLAIMS.items()))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_true",
                   help="subsets, minutes (the default)")
    g.add_argument("--full", action="store_true",
                   help="full datasets and epochs (wall times in docs/results.md)")
    p.add_argument("--dataset", default=None,
                   help="override the claim's dataset (mnist, fashion, idx:DIR)")
    p.add_argument("--out", type=Path, default=None,
                   help="directory for the table, JSON and plots (default: "
                        "runs/reproduce-NAME)")
    p.add_argument("--train-samples", type=int, default=None, metavar="N",
                   help="override the mode's training samples per epoch")
    p.add_argument("--test-samples", type=int, default=None, metavar="N",
                   help="override the mode's test samples")
    p.add_argument("--grad-samples", type=int, default=None, metavar="N",
                   help="override the number of samples in the gradient measurements")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    fn, dataset, title = CLAIMS[args.name]
    base = FULL if args.full else SHORT
    for flag in ("train_samples", "test_samples", "grad_samples"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise EpfpgaError(f"--{flag.replace('_', '-')} must be >= 1, got {v}")
    mode = Mode(base.full, args.train_samples or base.train, args.test_samples or base.test,
                base.epochs, args.grad_samples or base.grad_samples,
                progress=not args.no_progress)
    out = args.out or Path("runs") / f"reproduce-{args.name}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EpfpgaError(f"cannot create {out}: {e}") from None
    print(f"reproduce {args.name} ({mode.label}): {title}", flush=True)
    t0 = time.time()
    res = fn(mode, out, args.dataset or dataset)
    wall = time.time() - t0
    md = f"### {args.name} ({mode.label} mode, {wall / 60:.1f} min)\n\n{res['table']}\n"
    print("\n" + md)
    (out / f"{args.name}.md").write_text(md)
    res = {k: v for k, v in res.items() if k != "table"}
    (out / f"{args.name}.json").write_text(json.dumps(
        {"mode": mode.label, "wall_s": wall, **res}, indent=2, default=str) + "\n")
    print(f"table, JSON and plot in {out}")
    return 0
