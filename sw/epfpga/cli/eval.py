"""``epfpga eval``: test accuracy (and per-class accuracy) of a checkpoint."""

from __future__ import annotations

import argparse
import json

import numpy as np

from epfpga.data.datasets import load_dataset
from epfpga.train.checkpoint import load_checkpoint
from epfpga.train.engines import make_engine


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint.npz (or the run directory holding it)")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion, or idx:DIR")
    p.add_argument("--test-samples", type=int, default=None, metavar="N")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    ck = load_checkpoint(args.checkpoint)
    engine_name = "golden" if ck.engine == "board" else ck.engine  # board weights are golden's
    engine = make_engine(engine_name, ck.cfg)
    engine.load_state_dict(ck.state)
    ds = load_dataset(args.dataset)
    x, y = ds.x_test[:args.test_samples], ds.y_test[:args.test_samples]
    pred = engine.infer_batch(x)
    acc = float((pred == y).mean())
    per_class = {int(c): float((pred[y == c] == c).mean()) for c in np.unique(y)}
    result = {"checkpoint": str(args.checkpoint), "config": ck.cfg.name, "digest": ck.cfg.digest,
              "engine": engine_name, "epochs_trained": ck.epoch, "test_samples": int(len(y)),
              "test_acc": acc, "per_class_acc": per_class}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{ck.cfg.name} ({engine_name}, {ck.epoch} epochs): test accuracy "
              f"{100 * acc:.2f}% on {len(y)} samples")
        print("per class: " + "  ".join(f"{c}:{100 * a:.1f}" for c, a in per_class.items()))
    return 0
