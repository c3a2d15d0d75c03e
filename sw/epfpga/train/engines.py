"""Training engines behind one interface, so the training loop, checkpoints and reports
are the same whether the network lives in float, in the golden model or on a board."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from epfpga.model.numerics import quantize_pixels
from epfpga.model.reference import FloatEP

ENGINES = ("float", "golden", "board")


class Engine(Protocol):
    name: str
    cfg: EPConfig

    # ``index``: the samples' rows in the dataset's training (test) set, for an engine
    # that holds the dataset itself (a board with a dataset store); others ignore it
    def train_chunk(self, X: np.ndarray, Y: np.ndarray,
                    index: np.ndarray | None = None) -> np.ndarray: ...
    def set_epoch(self, epoch: int) -> None: ...
    def infer_batch(self, X: np.ndarray, index: np.ndarray | None = None) -> np.ndarray: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, d: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class _InProcess:
    """State handling shared by the engines whose model lives in this process."""

    model: Any

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.model.load_state_dict(d)

    def set_epoch(self, epoch: int) -> None:
        self.model.set_epoch(epoch)

    def close(self) -> None:
        pass


class GoldenEngine(_InProcess):
    """Online, bit-exact fixed point; takes uint8 pixels."""

    name = "golden"

    def __init__(self, cfg: EPConfig):
        if cfg.batch_size != 1:
            raise EpfpgaError(
                f"config {cfg.name!r} has batch_size={cfg.batch_size}, but the golden model "
                "(like the hardware) trains online: use a config with batch_size = 1"
            )
        self.cfg = cfg
        self.model = GoldenModel(cfg)

    def train_chunk(self, X: np.ndarray, Y: np.ndarray, index: Any = None) -> np.ndarray:
        Xq = quantize_pixels(X, self.cfg)
        return np.array([self.model.train_sample(x, int(y)).prediction
                         for x, y in zip(Xq, Y, strict=True)])

    def infer_batch(self, X: np.ndarray, index: Any = None) -> np.ndarray:
        return self.model.infer_batch(quantize_pixels(X, self.cfg))


class _MiniBatch(_InProcess):
    """A model trained in mini-batches of cfg.batch_size; ``_x`` takes uint8 pixels to
    the model's input."""

    def _x(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) / 255.0

    def train_chunk(self, X: np.ndarray, Y: np.ndarray, index: Any = None) -> np.ndarray:
        B = self.cfg.batch_size
        Xf = self._x(X)
        out = [self.model.train_batch(Xf[i:i + B], Y[i:i + B]) for i in range(0, len(Xf), B)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def infer_batch(self, X: np.ndarray, index: Any = None) -> np.ndarray:
        return self.model.infer_batch(self._x(X))


class FloatEngine(_MiniBatch):
    """Float64 reference; pixels scaled to [0, 1]."""

    name = "float"

    def __init__(self, cfg: EPConfig):
        self.cfg = cfg
        self.model = FloatEP(cfg)


class BoardAdapter:
    """A real or simulated board through the host driver; quantizes like the golden model."""

    name = "board"

    def __init__(self, cfg: EPConfig, board: Any):
        self.cfg = cfg
        self.board = board

    def use_dataset(self, ds: Any, progress: bool = True, samples: int | None = None
                    ) -> str | None:
        """The board's dataset store takes ``ds`` (None), or why it does not."""
        return self.board.use_dataset(ds, progress, samples)

    def train_chunk(self, X: np.ndarray, Y: np.ndarray, index: Any = None) -> np.ndarray:
        return np.asarray(self.board.train_many(quantize_pixels(X, self.cfg), np.asarray(Y),
                                                index))

    def infer_batch(self, X: np.ndarray, index: Any = None) -> np.ndarray:
        return np.asarray(self.board.infer_batch(quantize_pixels(X, self.cfg), index))

    def state_dict(self) -> dict[str, Any]:
        return self.board.state_dict()

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.board.load_state_dict(d)

    def set_epoch(self, epoch: int) -> None:
        self.board.set_update_q(self.cfg.update_q_at(epoch))

    def init_weights(self) -> None:
        self.board.init_weights()

    def reconnect(self, wait: float) -> bool:
        """Reach a board that stopped answering again (see BoardEngine.reconnect)."""
        return self.board.reconnect(wait)

    def close(self) -> None:
        self.board.close()


class ConvEngine(_MiniBatch):
    """Conv EP (``epfpga.conv``) in float or in the golden model, mini-batches of
    cfg.batch_size (the golden model sums a batch exactly and rounds once, so unlike
    the MLP golden model it needs no batch_size = 1)."""

    def __init__(self, cfg: Any, name: str):
        from epfpga.conv import ConvEP, ConvGolden

        self.cfg, self.name = cfg, name
        self.model = ConvGolden(cfg) if name == "golden" else ConvEP(cfg)

    def _x(self, X: np.ndarray) -> np.ndarray:
        return quantize_pixels(X, self.cfg) if self.name == "golden" else super()._x(X)


def make_engine(name: str, cfg: EPConfig, port: str | None = None,
                baud: int | None = None, timeout: float | None = None) -> Engine:
    if getattr(cfg, "kind", None) == "conv":
        if name not in ("float", "golden"):
            raise EpfpgaError(f"conv configs run on --engine float or golden, not {name!r}")
        return ConvEngine(cfg, name)
    if name == "golden":
        return GoldenEngine(cfg)
    if name == "float":
        return FloatEngine(cfg)
    if name == "board":
        if not port:
            raise EpfpgaError(
                "--engine board needs --port: a serial device (/dev/ttyUSB1) or "
                "socket://127.0.0.1:PORT for `epfpga sim-board`"
            )
        try:
            from epfpga.host.driver import BoardEngine
        except ImportError as e:
            raise EpfpgaError(f"the board driver is not available: {e}") from None
        kw = {k: v for k, v in (("baud", baud), ("timeout", timeout)) if v}
        return BoardAdapter(cfg, BoardEngine(cfg, port, **kw))
    raise EpfpgaError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
