"""Float EP reference (numpy, float64): the yardstick for everything fixed-point.

Same discrete-time layered prototypical EP as the golden model (DESIGN section 3) but
with real numbers and no rounding; online (batch_size 1) or mini-batch.
"""

from __future__ import annotations

import numpy as np

from .config import EPConfig
from .init import init_float_params


def rho(v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0.0, 1.0)


class FloatEP:
    """``W[l]``: (layers[l+1], layers[l]); ``b[l]``: bias of state layer l+1."""

    def __init__(self, cfg: EPConfig, W: list[np.ndarray] | None = None,
                 b: list[np.ndarray] | None = None):
        self.cfg = cfg
        fW, fb = init_float_params(cfg)
        self.W = [np.array(w, dtype=np.float64) for w in (fW if W is None else W)]
        self.b = [np.array(v, dtype=np.float64) for v in (fb if b is None else b)]
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.samples_trained = 0
        self.lr_scale = 1.0

    def set_epoch(self, epoch: int) -> None:
        self.lr_scale = self.cfg.lr_decay ** epoch

    def state_dict(self) -> dict[str, object]:
        return {"W": [w.copy() for w in self.W], "b": [v.copy() for v in self.b],
                "samples_trained": self.samples_trained,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, d: dict[str, object]) -> None:
        self.W = [np.array(w, dtype=np.float64) for w in d["W"]]  # type: ignore[union-attr]
        self.b = [np.array(v, dtype=np.float64) for v in d["b"]]  # type: ignore[union-attr]
        self.samples_trained = int(d["samples_trained"])  # type: ignore[arg-type]
        if "rng" in d:
            self.rng.bit_generator.state = d["rng"]

    def relax(self, drive: np.ndarray, s: list[np.ndarray], steps: int,
              nudge: tuple[np.ndarray, float] | None = None) -> list[np.ndarray]:
        """Jacobi steps; ``drive`` = W_0 x + b_0 (batch, n1); nudge = (one-hot y, beta)."""
        L = self.cfg.n_layers
        for _ in range(steps):
            new = []
            for layer in range(1, L + 1):
                pre = drive if layer == 1 else s[layer - 2] @ self.W[layer - 1].T + self.b[
                    layer - 1]
                if layer < L:
                    pre = pre + s[layer] @ self.W[layer]
                if layer == L and nudge is not None:
                    y, beta = nudge
                    pre = pre + beta * (y - s[L - 1])
                new.append(rho(pre))
            s = new
        return s

    def _zeros(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, n)) for n in self.cfg.layers[1:]]

    def free_phase(self, X: np.ndarray) -> list[np.ndarray]:
        X = np.atleast_2d(X)
        return self.relax(X @ self.W[0].T + self.b[0], self._zeros(len(X)), self.cfg.T1)

    def infer_batch(self, X: np.ndarray, chunk: int = 1000) -> np.ndarray:
        out = []
        for i in range(0, len(X), chunk):
            out.append(np.argmax(self.free_phase(X[i:i + chunk])[-1], axis=1))
        return np.concatenate(out)

    def ep_update(self, X: np.ndarray, Y: np.ndarray, beta: float | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Batch-mean EP estimate of -dLoss/dW, -dLoss/db, and the free end states."""
        cfg = self.cfg
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Y = np.atleast_1d(Y)
        if beta is None:
            beta = cfg.beta
            if cfg.nudge == "random_sign" and self.rng.random() < 0.5:
                beta = -beta
        target = np.eye(cfg.layers[-1])[Y]
        drive = X @ self.W[0].T + self.b[0]
        s_free = self.relax(drive, self._zeros(len(X)), cfg.T1)
        s_p = self.relax(drive, s_free, cfg.T2, nudge=(target, beta))
        if cfg.nudge == "symmetric":
            s_m = self.relax(drive, s_free, cfg.T2, nudge=(target, -beta))
            scale = 1.0 / (2 * beta * len(X))
        else:
            s_m = s_free
            scale = 1.0 / (beta * len(X))
        full_p, full_m = [X] + s_p, [X] + s_m
        dW = [scale * (full_p[i + 1].T @ full_p[i] - full_m[i + 1].T @ full_m[i])
              for i in range(cfg.n_layers)]
        db = [scale * (full_p[i + 1] - full_m[i + 1]).sum(0) for i in range(cfg.n_layers)]
        return dW, db, s_free

    def train_batch(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """One EP step on a batch; returns the free-phase predictions."""
        dW, db, s_free = self.ep_update(X, Y)
        for i, lr in enumerate(self.cfg.lrs):
            self.W[i] += lr * self.lr_scale * dW[i]
            self.b[i] += lr * self.lr_scale * db[i]
        self.samples_trained += len(np.atleast_2d(X))
        return np.argmax(s_free[-1], axis=1)
