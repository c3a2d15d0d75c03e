"""The training loop shared by every engine: deterministic shuffles, progress bar,
periodic atomic checkpoints (so an interrupt or a dead board loses nothing), per-epoch
evaluation, JSON report and learning-curve plot.

Exactly once: a checkpoint holds the weights of exactly the samples before its position.
Ctrl-C is therefore taken between chunks, never inside one (a chunk runs to its end and
the checkpoint is written there); a second Ctrl-C stops at once and leaves the last
checkpoint as it was.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import EPConfig
from .datasets import Dataset
from .engines import Engine, make_engine
from .errors import EpfpgaError


@dataclass
class TrainOptions:
    engine: str = "golden"
    epochs: int = 1
    train_samples: int | None = None  # per epoch; None = the whole training set
    test_samples: int | None = None
    out: Path = Path("runs/default")
    resume: bool = False
    checkpoint_every: int = 5000
    port: str | None = None
    baud: int | None = None  # the serial port's, for --engine board (None: the default)
    timeout: float | None = None  # board silence before a resend (None: the driver's)
    verify_golden: bool = False
    #: a board with a dataset store trains from it; True: stream every sample anyway
    stream: bool = False
    progress: bool = True
    plot: bool = True
    #: how the user continues an interrupted run (a caller that resumes by itself says so)
    resume_hint: str = "--resume continues from it"


def epoch_order(cfg: EPConfig, epoch: int, n: int) -> np.ndarray:
    """Sample order of an epoch: a pure function of (seed, epoch) so resume replays it."""
    return np.random.default_rng([cfg.seed, epoch]).permutation(n)


def _chunk(cfg: EPConfig) -> int:
    b = cfg.batch_size
    return max(b, (200 // b) * b)


def checkpoint_stride(cfg: EPConfig, every: int) -> int:
    """Samples between checkpoints: ``every`` rounded up to whole batches, so a resumed
    run forms the same batches as an uninterrupted one."""
    b = cfg.batch_size
    return -(-every // b) * b


class DeferredInterrupt:
    """SIGINT sets ``requested`` for the loop to act on at the next chunk boundary; a
    second SIGINT raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this chunk with a checkpoint (Ctrl-C again: stop "
              "now, the last checkpoint stands)", file=sys.stderr, flush=True)

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(cfg: EPConfig, ds: Dataset, opt: TrainOptions) -> dict[str, Any]:
    out = Path(opt.out)
    ck_path = out / "checkpoint.npz"
    engine: Engine = make_engine(opt.engine, cfg, opt.port, opt.baud, opt.timeout)
    shadow: Engine | None = make_engine("golden", cfg) if opt.verify_golden else None
    n_train = min(opt.train_samples or len(ds.x_train), len(ds.x_train))
    x_test, y_test = ds.x_test[:opt.test_samples], ds.y_test[:opt.test_samples]
    epoch, position, history, correct = 0, 0, [], 0
    try:
        if opt.resume and ck_path.exists():
            ck = load_checkpoint(ck_path, fallback=True)
            if ck.cfg.digest != cfg.digest:
                raise EpfpgaError(
                    f"{ck_path} was trained with config digest {ck.cfg.digest}, not "
                    f"{cfg.digest}: resume with the same --config, or pick another --out"
                )
            if ck.engine != opt.engine:
                raise EpfpgaError(f"{ck_path} was trained with engine {ck.engine!r}")
            engine.load_state_dict(ck.state)
            if shadow is not None:
                shadow.load_state_dict(ck.state)
            epoch, position, history = ck.epoch, ck.position, ck.history
            correct = int(ck.extra.get("correct", 0))
            print(f"resuming {ck_path}: epoch {epoch + 1}, sample {position}")
        elif ck_path.exists() and not opt.resume:
            raise EpfpgaError(
                f"{ck_path} already exists: pass --resume to continue it, or choose --out"
            )
        elif hasattr(engine, "init_weights"):
            engine.init_weights()  # a board starts from the golden model's initial network
        samples_from = None  # a board's: its dataset store, or the link
        if hasattr(engine, "use_dataset"):
            left = (opt.epochs - epoch) * (n_train + len(x_test)) - position
            why = "--stream" if opt.stream else engine.use_dataset(ds, opt.progress, left)
            samples_from = "store" if why is None else "link"
            print("samples: from the board's dataset store" if why is None else
                  f"samples: streamed over the link ({why})", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

        def checkpoint() -> None:
            extra = {"correct": correct}
            state = engine.state_dict()
            if shadow is not None:
                sstate = shadow.state_dict()
                _verify(state, sstate, epoch, position)
            save_checkpoint(ck_path, Checkpoint(cfg, opt.engine, state, epoch, position,
                                                history, extra))

        t_start = time.time()
        while epoch < opt.epochs:
            order = epoch_order(cfg, epoch, len(ds.x_train))[:n_train]
            engine.set_epoch(epoch)
            if shadow is not None:
                shadow.set_epoch(epoch)
            bar = tqdm(total=n_train, initial=position, desc=f"epoch {epoch + 1}/{opt.epochs}",
                       unit="sample", disable=not opt.progress, dynamic_ncols=True)
            t0, done0 = time.time(), position
            stride = checkpoint_stride(cfg, opt.checkpoint_every)
            saved = False  # the interrupt's checkpoint is written
            try:
                with DeferredInterrupt() as stop:
                    while position < n_train and not stop.requested:
                        # chunks end on the checkpoint positions: multiples of the stride
                        size = min(_chunk(cfg), stride - position % stride)
                        idx = order[position:position + size]
                        pred = engine.train_chunk(ds.x_train[idx], ds.y_train[idx], idx)
                        if shadow is not None:
                            spred = shadow.train_chunk(ds.x_train[idx], ds.y_train[idx])
                            if not np.array_equal(pred, spred):
                                raise EpfpgaError(
                                    f"prediction mismatch with the golden model at epoch "
                                    f"{epoch + 1}, samples {position}..{position + len(idx)}")
                        correct += int((pred == ds.y_train[idx]).sum())
                        position += len(idx)
                        bar.update(len(idx))
                        bar.set_postfix(acc=f"{correct / max(position, 1):.3f}")
                        if position % stride == 0 and position < n_train:
                            checkpoint()
                if stop.requested:
                    bar.close()
                    checkpoint()
                    saved = True
                    print(f"interrupted: checkpoint saved at epoch {epoch + 1}, sample "
                          f"{position}; {opt.resume_hint}", file=sys.stderr)
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                bar.close()
                if not saved:
                    print(f"\nstopped inside a chunk: the last checkpoint in {ck_path} "
                          f"stands; {opt.resume_hint}", file=sys.stderr)
                raise
            bar.close()
            train_time = time.time() - t0
            test_acc = float((engine.infer_batch(x_test, np.arange(len(x_test))) == y_test)
                             .mean()) if len(x_test) else float("nan")
            rec = {"epoch": epoch + 1, "train_acc": correct / n_train, "test_acc": test_acc,
                   "samples_per_s": (n_train - done0) / max(train_time, 1e-9),
                   "wall_s": time.time() - t_start}
            history.append(rec)
            print(f"epoch {epoch + 1}: train acc {rec['train_acc']:.4f}  test acc "
                  f"{test_acc:.4f}  ({rec['samples_per_s']:.0f} samples/s)")
            epoch, position, correct = epoch + 1, 0, 0
            checkpoint()
        report = {
            "config": cfg.to_dict(), "digest": cfg.digest, "engine": opt.engine,
            "dataset": ds.name, "train_samples_per_epoch": n_train,
            "test_samples": int(len(x_test)), "history": history,
            **({"board_samples_from": samples_from} if samples_from else {}),
            "final_test_acc": history[-1]["test_acc"] if history else None,
        }
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        if opt.plot and history:
            plot_history(history, out / "learning_curve.png", f"{cfg.name} / {opt.engine}")
        return report
    finally:
        engine.close()


def _verify(state: dict[str, Any], golden: dict[str, Any], epoch: int, position: int) -> None:
    for kind in ("W", "b"):
        for i, (a, g) in enumerate(zip(state[kind], golden[kind], strict=True)):
            if not np.array_equal(np.asarray(a), np.asarray(g)):
                n = int((np.asarray(a) != np.asarray(g)).sum())
                raise EpfpgaError(
                    f"weights read back differ from the golden model: {kind}{i} has {n} "
                    f"different entries (epoch {epoch + 1}, sample {position})")


def plot_history(history: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ep, [100 * h["train_acc"] for h in history], "o-", label="train (online)")
    ax.plot(ep, [100 * h["test_acc"] for h in history], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
