"""The float EP reference written in PyTorch, only to measure the numpy reference's speed
against it on the same CPU (``epfpga bench float``).  Same dynamics and update as
``reference.FloatEP``; the benchmark checks that both produce the same weights."""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig


class TorchEP:
    def __init__(self, cfg: EPConfig, W: list[np.ndarray], b: list[np.ndarray]):
        import torch

        self.torch = torch
        self.cfg = cfg
        self.W = [torch.tensor(w, dtype=torch.float64) for w in W]
        self.b = [torch.tensor(v, dtype=torch.float64) for v in b]

    def _relax(self, drive, s, steps, nudge=None):
        L = self.cfg.n_layers
        for _ in range(steps):
            new = []
            for layer in range(1, L + 1):
                pre = drive if layer == 1 else s[layer - 2] @ self.W[layer - 1].T + self.b[
                    layer - 1]
                if layer < L:
                    pre = pre + s[layer] @ self.W[layer]
                if layer == L and nudge is not None:
                    pre = pre + nudge[1] * (nudge[0] - s[L - 1])
                new.append(pre.clamp(0.0, 1.0))
            s = new
        return s

    def train_batch(self, X: np.ndarray, Y: np.ndarray, beta: float) -> None:
        torch, cfg = self.torch, self.cfg
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(X, dtype=np.float64))
            y = torch.nn.functional.one_hot(torch.from_numpy(np.asarray(Y, np.int64)),
                                            cfg.layers[-1]).double()
            drive = x @ self.W[0].T + self.b[0]
            zeros = [torch.zeros(len(x), n, dtype=torch.float64) for n in cfg.layers[1:]]
            s_free = self._relax(drive, zeros, cfg.T1)
            s_p = self._relax(drive, s_free, cfg.T2, (y, beta))
            scale = 1.0 / (beta * len(x))
            full_p, full_m = [x] + s_p, [x] + s_free
            for i, lr in enumerate(cfg.lrs):
                self.W[i] += lr * scale * (full_p[i + 1].T @ full_p[i]
                                           - full_m[i + 1].T @ full_m[i])
                self.b[i] += lr * scale * (full_p[i + 1] - full_m[i + 1]).sum(0)
