"""``epfpga train``: train on MNIST (or Fashion-MNIST / IDX files) with any engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from epfpga.data.datasets import load_dataset
from epfpga.model.config import get_config, preset_names
from epfpga.train.engines import ENGINES
from epfpga.train.trainer import TrainOptions, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=ENGINES, default="golden",
                   help="float = float64 reference, golden = bit-exact fixed point (what the "
                        "FPGA computes), board = real or simulated board over --port")
    p.add_argument("--config", default="up5k",
                   help=f"preset ({', '.join(preset_names())}) or a .toml/.json "
                        "config file")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion, or idx:DIR")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training set")
    p.add_argument("--train-samples", type=int, default=None, metavar="N",
                   help="use only the first N samples of each shuffled epoch")
    p.add_argument("--test-samples", type=int, default=None, metavar="N",
                   help="evaluate on the first N test samples (default: all)")
    p.add_argument("--out", type=Path, default=None,
                   help="run directory for checkpoint, report and plot "
                        "(default: runs/CONFIG-ENGINE)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint in --out (same config)")
    p.add_argument("--checkpoint-every", type=int, default=5000, metavar="N",
                   help="also checkpoint every N samples inside an epoch")
    p.add_argument("--port", default=None,
                   help="board URL for --engine board: /dev/ttyUSB1, socket://127.0.0.1:PORT")
    p.add_argument("--baud", type=int, default=None,
                   help="serial baud for --port (default: 3000000, what every board "
                        "profile builds; ignored for socket://)")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S",
                   help="seconds of board silence before unanswered frames are resent "
                        "(a gate-level simulated board needs about 60)")
    p.add_argument("--verify-golden", action="store_true",
                   help="run the golden model beside the engine; stop on the first "
                        "prediction or weight that differs")
    p.add_argument("--stream", action="store_true",
                   help="--engine board: stream every sample over the link even when the "
                        "board has a dataset store (by default a board that has one "
                        "trains from it, after an upload of what it does not hold yet)")
    p.add_argument("--recover", type=int, default=3, metavar="N",
                   help="--engine board: when the board stops answering (a reset, a power "
                        "cycle, a replugged cable), reach it again and go on from the last "
                        "checkpoint, up to N times per run; 0 stops instead")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="skip the learning-curve PNG")


def run(args: argparse.Namespace) -> int:
    cfg = get_config(args.config)
    if args.seed is not None:
        cfg = cfg.replace(seed=args.seed)
    for name in ("epochs", "train_samples", "test_samples", "checkpoint_every", "recover"):
        v = getattr(args, name)
        if v is not None and v < (0 if name in ("test_samples", "recover") else 1):
            from epfpga.errors import EpfpgaError

            raise EpfpgaError(f"--{name.replace('_', '-')} must be positive, got {v}")
    if not args.timeout > 0:
        from epfpga.errors import EpfpgaError

        raise EpfpgaError(f"--timeout must be positive seconds, got {args.timeout}")
    ds = load_dataset(args.dataset)
    if ds.x_train.shape[1] != cfg.layers[0]:
        from epfpga.errors import EpfpgaError

        raise EpfpgaError(f"dataset {ds.name} has {ds.x_train.shape[1]} inputs but config "
                          f"{cfg.name} expects {cfg.layers[0]}")
    top = int(max(ds.y_train.max(initial=0), ds.y_test.max(initial=0)))
    if top >= cfg.layers[-1]:
        from epfpga.errors import EpfpgaError

        raise EpfpgaError(f"dataset {ds.name} has label {top} but config {cfg.name} has "
                          f"{cfg.layers[-1]} outputs")
    out = args.out or Path("runs") / f"{cfg.name}-{args.engine}"
    opt = TrainOptions(
        engine=args.engine, epochs=args.epochs, train_samples=args.train_samples,
        test_samples=args.test_samples, out=out, resume=args.resume,
        checkpoint_every=args.checkpoint_every, port=args.port, baud=args.baud,
        timeout=args.timeout, recover=args.recover,
        verify_golden=args.verify_golden, stream=args.stream, progress=not args.no_progress,
        plot=not args.no_plot,
    )
    report = train(cfg, ds, opt)
    acc = report["final_test_acc"]
    print(f"final test accuracy: {100 * acc:.2f}% ({report['test_samples']} test samples, "
          f"{cfg.name}, {args.engine}); report: {out / 'report.json'}")
    return 0
