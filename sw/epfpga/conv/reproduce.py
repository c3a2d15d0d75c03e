"""``epfpga reproduce cnn``: seed 003's convolutional EP network on MNIST (~1 % test
error in the paper), in float and in the golden model, and Jacobi against even/odd
relaxation on the trained network.

Training goes through the shared loop (``trainer.train``) with checkpoints in
``OUT/float`` and ``OUT/golden``: the full mode runs for hours, and the same command
run again after an interruption continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from epfpga.conv.config import ConvConfig
from epfpga.conv.model import ConvEP
from epfpga.data.datasets import load_dataset
from epfpga.model.config import get_config
from epfpga.train.checkpoint import load_checkpoint

#: the seed's network with symmetric nudging and even/odd relaxation (its preset says why)
PRESET = "cnn-sym"
#: epochs of the full mode (seed 003's summary gives the error, not the schedule)
FULL_EPOCHS = 8
#: short mode: minutes on two cores (the golden model trains ~15 samples/s)
SHORT_TRAIN, SHORT_TEST = 2000, 1000
#: a state within this of the long-run fixed point counts as converged
TOL = 1e-4
STEPS = (10, 20, 40, 100, 200)


def convergence(model: ConvEP, X: np.ndarray, steps: int = 400) -> dict[str, Any]:
    """Per relaxation mode: the step from which each sample's states stay within TOL of
    its state after ``steps`` steps (median, 90th percentile, max), and the test
    predictions after each of ``STEPS`` steps."""
    out: dict[str, Any] = {}
    for mode in ("jacobi", "evenodd"):
        x = model.to_maps(X)
        rec: list[list[np.ndarray]] = []
        model.relax(x, model.input_drive(x), model.zeros(len(x)), steps, record=rec,
                    relax=mode)
        final = rec[-1]
        far = np.zeros((len(rec), len(x)), dtype=bool)  # far[t, i]: not yet settled
        for t, s in enumerate(rec):
            for a, f in zip(s, final, strict=True):
                far[t] |= np.abs(a - f).reshape(len(x), -1).max(1) >= TOL
        # first step after the last one that was still far
        last_far = np.where(far.any(0), len(rec) - 1 - np.argmax(far[::-1], axis=0), -1)
        settle = last_far + 2  # steps are counted from 1
        preds = {t: np.argmax(rec[t - 1][-1], axis=1) for t in STEPS if t <= steps}
        out[mode] = {"median": float(np.median(settle)),
                     "p90": float(np.percentile(settle, 90)), "max": int(settle.max()),
                     "preds": preds}
    return out


def cnn(mode: Any, out: Path, dataset: str) -> dict[str, Any]:
    """The claim's runner (``reproduce.CLAIMS``)."""
    from epfpga.experiments.reproduce import SHORT, _pct, _table
    from epfpga.train.trainer import TrainOptions, train

    ds = load_dataset(dataset)
    cfg: ConvConfig = get_config(PRESET)  # type: ignore[assignment]
    n_train = mode.train if mode.full or mode.train != SHORT.train else SHORT_TRAIN
    n_test = mode.test if mode.full or mode.test != SHORT.test else SHORT_TEST
    epochs = FULL_EPOCHS if mode.full else 1
    reports = {}
    for engine in ("float", "golden"):
        print(f"{engine}: {cfg.name}, {epochs} epoch(s) of {n_train or len(ds.x_train)} "
              f"samples; checkpoints in {out / engine}", flush=True)
        reports[engine] = train(cfg, ds, TrainOptions(
            engine=engine, epochs=epochs, train_samples=n_train, test_samples=n_test,
            out=out / engine, resume=True, checkpoint_every=1000, progress=mode.progress,
            plot=True, resume_hint="the same reproduce command continues from it"))
    model = ConvEP(cfg)
    model.load_state_dict(load_checkpoint(out / "float" / "checkpoint.npz").state)
    x_test, y_test = ds.x_test[:n_test], ds.y_test[:n_test]
    n_conv = min(len(x_test), 500)
    conv = convergence(model, x_test[:n_conv] / 255.0)

    def err(engine: str) -> str:
        return _pct(1 - reports[engine]["final_test_acc"])

    def train_h(engine: str) -> float:
        return sum((reports[engine]["train_samples_per_epoch"] / h["samples_per_s"])
                   for h in reports[engine]["history"]) / 3600

    t1 = _table(["EP-CNN 1-32-64, 5x5, 2x2 max-pool, fc 10 (MNIST)", "float", "golden",
                 "paper"],
                [["test error", err("float"), err("golden"), "~1%"],
                 ["epochs x training samples", *(
                     f"{epochs} x {reports[e]['train_samples_per_epoch']}"
                     for e in ("float", "golden")), "-"],
                 ["training time", f"{train_h('float'):.2f} h", f"{train_h('golden'):.2f} h",
                  "-"]])
    yt = y_test[:n_conv]
    rows = []
    for m in ("jacobi", "evenodd"):
        c = conv[m]
        accs = [_pct(float((c["preds"][t] == yt).mean())) for t in STEPS]
        rows.append([m, f"{c['median']:.0f} / {c['p90']:.0f} / {c['max']}", *accs])
    t2 = _table(["relaxation (trained float net)",
                 f"steps to within {TOL:g} of the fixed point (median / p90 / max)",
                 *(f"test acc at {t} steps" for t in STEPS)], rows)
    return {"table": t1 + "\n\n" + t2,
            "error": {e: 1 - reports[e]["final_test_acc"] for e in reports},
            "history": {e: reports[e]["history"] for e in reports},
            "convergence": {m: {k: v for k, v in c.items() if k != "preds"}
                            for m, c in conv.items()},
            "accuracy_at_steps": {m: {t: float((c["preds"][t] == yt).mean()) for t in STEPS}
                                  for m, c in conv.items()}}
