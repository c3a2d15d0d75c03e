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

from epfpga.data.datasets import Dataset
from epfpga.errors import EpfpgaError
from epfpga.host.driver import BoardLost
from epfpga.model.config import EPConfig
from epfpga.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from epfpga.train.engines import Engine, make_engine


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
    #: times a board that stops answering is reached again and the run goes on from the
    #: last checkpoint (0: stop, and the user resumes)
    recover: int = 3
    recover_wait: float = 30.0  # seconds to keep trying to reach it
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
    engine: Engine = make_engine(opt.engine, cfg, opt.port, opt.baud, opt.timeout)
    run = _Run(cfg, ds, opt, engine)
    try:
        resume, recovered = opt.resume, 0
        while True:
            try:
                run.restore(resume)
                run.epochs()
                break
            except BoardLost as e:
                if recovered >= opt.recover or not _reconnect(engine, e, opt.recover_wait):
                    raise
                recovered += 1
                resume = True
        return run.report()
    finally:
        engine.close()


def _reconnect(engine: Engine, lost: BoardLost, wait: float) -> bool:
    """A board that stops answering may have been reset or power-cycled: if it answers
    again, the run goes on from the last checkpoint (every sample after it is trained
    again on the checkpoint's weights, so each counts once)."""
    reconnect = getattr(engine, "reconnect", None)
    if reconnect is None:
        return False
    print(f"\n{lost}\ntrying to reach the board again ...", file=sys.stderr, flush=True)
    if not reconnect(wait):
        print(f"no answer for {wait:g} s", file=sys.stderr, flush=True)
        return False
    print("the board answers again; what it trained after the last checkpoint is not to "
          "be trusted (a reset or power cycle loses it): going on from that checkpoint",
          file=sys.stderr, flush=True)
    return True


class _Run:
    """One training run's state between checkpoints: where it is (epoch, position),
    what it has measured, and the engines it drives."""

    def __init__(self, cfg: EPConfig, ds: Dataset, opt: TrainOptions, engine: Engine):
        self.cfg, self.ds, self.opt, self.engine = cfg, ds, opt, engine
        self.out = Path(opt.out)
        self.ck_path = self.out / "checkpoint.npz"
        self.shadow: Engine | None = (make_engine("golden", cfg) if opt.verify_golden
                                      else None)
        self.n_train = min(opt.train_samples or len(ds.x_train), len(ds.x_train))
        self.x_test = ds.x_test[:opt.test_samples]
        self.y_test = ds.y_test[:opt.test_samples]
        self.samples_from: str | None = None  # a board's: its dataset store, or the link
        self.epoch, self.position, self.correct = 0, 0, 0
        self.history: list[dict[str, Any]] = []

    def restore(self, resume: bool) -> None:
        """Start from the checkpoint (``resume``) or from the initial network, then pick
        where a board's samples come from."""
        cfg, opt, ck_path, engine = self.cfg, self.opt, self.ck_path, self.engine
        self.epoch, self.position, self.correct, self.history = 0, 0, 0, []
        if resume and ck_path.exists():
            ck = load_checkpoint(ck_path, fallback=True)
            if ck.cfg.digest != cfg.digest:
                raise EpfpgaError(
                    f"{ck_path} was trained with config digest {ck.cfg.digest}, not "
                    f"{cfg.digest}: resume with the same --config, or pick another --out"
                )
            if ck.engine != opt.engine:
                raise EpfpgaError(f"{ck_path} was trained with engine {ck.engine!r}")
            engine.load_state_dict(ck.state)
            if self.shadow is not None:
                self.shadow.load_state_dict(ck.state)
            self.epoch, self.position, self.history = ck.epoch, ck.position, ck.history
            self.correct = int(ck.extra.get("correct", 0))
            print(f"resuming {ck_path}: epoch {self.epoch + 1}, sample {self.position}")
        elif ck_path.exists() and not resume:
            raise EpfpgaError(
                f"{ck_path} already exists: pass --resume to continue it, or choose --out"
            )
        else:
            if hasattr(engine, "init_weights"):
                engine.init_weights()  # a board starts from the golden model's network
            if resume and self.shadow is not None:  # (recovering before a checkpoint)
                self.shadow.load_state_dict(make_engine("golden", cfg).state_dict())
        if hasattr(engine, "use_dataset"):
            left = ((opt.epochs - self.epoch) * (self.n_train + len(self.x_test))
                    - self.position)
            why = "--stream" if opt.stream else engine.use_dataset(self.ds, opt.progress,
                                                                   left)
            self.samples_from = "store" if why is None else "link"
            print("samples: from the board's dataset store" if why is None else
                  f"samples: streamed over the link ({why})", flush=True)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    def checkpoint(self) -> None:
        state = self.engine.state_dict()
        if self.shadow is not None:
            _verify(state, self.shadow.state_dict(), self.epoch, self.position)
        save_checkpoint(self.ck_path, Checkpoint(
            self.cfg, self.opt.engine, state, self.epoch, self.position, self.history,
            {"correct": self.correct}))

    def epochs(self) -> None:
        cfg, ds, opt, engine, shadow = self.cfg, self.ds, self.opt, self.engine, self.shadow
        t_start = time.time()
        while self.epoch < opt.epochs:
            n_train = self.n_train
            order = epoch_order(cfg, self.epoch, len(ds.x_train))[:n_train]
            engine.set_epoch(self.epoch)
            if shadow is not None:
                shadow.set_epoch(self.epoch)
            bar = tqdm(total=n_train, initial=self.position,
                       desc=f"epoch {self.epoch + 1}/{opt.epochs}", unit="sample",
                       disable=not opt.progress, dynamic_ncols=True)
            t0, done0 = time.time(), self.position
            stride = checkpoint_stride(cfg, opt.checkpoint_every)
            saved = False  # the interrupt's checkpoint is written
            try:
                with DeferredInterrupt() as stop:
                    while self.position < n_train and not stop.requested:
                        # chunks end on the checkpoint positions: multiples of the stride
                        size = min(_chunk(cfg), stride - self.position % stride)
                        idx = order[self.position:self.position + size]
                        pred = engine.train_chunk(ds.x_train[idx], ds.y_train[idx], idx)
                        if shadow is not None:
                            spred = shadow.train_chunk(ds.x_train[idx], ds.y_train[idx])
                            if not np.array_equal(pred, spred):
                                raise EpfpgaError(
                                    f"prediction mismatch with the golden model at epoch "
                                    f"{self.epoch + 1}, samples {self.position}.."
                                    f"{self.position + len(idx)}")
                        self.correct += int((pred == ds.y_train[idx]).sum())
                        self.position += len(idx)
                        bar.update(len(idx))
                        bar.set_postfix(acc=f"{self.correct / max(self.position, 1):.3f}")
                        if self.position % stride == 0 and self.position < n_train:
                            self.checkpoint()
                if stop.requested:
                    bar.close()
                    self.checkpoint()
                    saved = True
                    print(f"interrupted: checkpoint saved at epoch {self.epoch + 1}, "
                          f"sample {self.position}; {opt.resume_hint}", file=sys.stderr)
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                bar.close()
                if not saved:
                    print(f"\nstopped inside a chunk: the last checkpoint in {self.ck_path} "
                          f"stands; {opt.resume_hint}", file=sys.stderr)
                raise
            finally:
                bar.close()
            train_time = time.time() - t0
            x_test, y_test = self.x_test, self.y_test
            test_acc = float((engine.infer_batch(x_test, np.arange(len(x_test))) == y_test)
                             .mean()) if len(x_test) else float("nan")
            rec = {"epoch": self.epoch + 1, "train_acc": self.correct / n_train,
                   "test_acc": test_acc,
                   "samples_per_s": (n_train - done0) / max(train_time, 1e-9),
                   "wall_s": time.time() - t_start}
            self.history.append(rec)
            print(f"epoch {self.epoch + 1}: train acc {rec['train_acc']:.4f}  test acc "
                  f"{test_acc:.4f}  ({rec['samples_per_s']:.0f} samples/s)")
            self.epoch, self.position, self.correct = self.epoch + 1, 0, 0
            self.checkpoint()

    def report(self) -> dict[str, Any]:
        cfg, opt, history = self.cfg, self.opt, self.history
        report = {
            "config": cfg.to_dict(), "digest": cfg.digest, "engine": opt.engine,
            "dataset": self.ds.name, "train_samples_per_epoch": self.n_train,
            "test_samples": int(len(self.x_test)), "history": history,
            **({"board_samples_from": self.samples_from} if self.samples_from else {}),
            "final_test_acc": history[-1]["test_acc"] if history else None,
        }
        (self.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        if opt.plot and history:
            plot_history(history, self.out / "learning_curve.png",
                         f"{cfg.name} / {opt.engine}")
        return report


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
