"""``epfpga bench cnn``: the numpy conv EP against Laborieux's ``P_CNN`` (PyTorch,
autograd of the primitive function at every step) training the same network on the same
CPU, side by side in one run, from the same initial weights.

The reference is not vendored: pass ``--reference DIR``, a checkout of
github.com/Laborieux-Axel/Equilibrium-Propagation, whose ``model_utils.py`` is imported
as it is.  Both sides run on one thread (BLAS and PyTorch), float32, the ``cnn`` preset's
architecture and phases, one-sided nudge, plain SGD.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from epfpga.bench.models import time_batches
from epfpga.conv.config import ConvConfig
from epfpga.conv.model import ConvEP
from epfpga.data.datasets import load_dataset
from epfpga.errors import EpfpgaError


def load_reference(path: Path) -> Any:
    """Laborieux's ``model_utils`` module from a checkout (torchvision, which it imports
    at the top but needs only for datasets, is stubbed when absent)."""
    path = Path(path)
    if not (path / "model_utils.py").exists():
        raise EpfpgaError(f"{path} has no model_utils.py: --reference takes a checkout of "
                          "github.com/Laborieux-Axel/Equilibrium-Propagation")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EpfpgaError("PyTorch is not installed: pip install torch==2.13.0 (CPU wheel); "
                          "it is only needed for this comparison") from None
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a build that does not match torch
        sys.modules["torchvision"] = types.ModuleType("torchvision")
    sys.path.insert(0, str(path))
    try:
        return importlib.import_module("model_utils")
    finally:
        sys.path.remove(str(path))


class _PCNNTrainer:
    """Their training step (main.py's ``train`` for EP without the third phase):
    T1 free steps, T2 nudged steps, ``compute_syn_grads``, an optimizer step."""

    def __init__(self, mu: Any, cfg: ConvConfig, W: list[np.ndarray], b: list[np.ndarray]):
        import torch

        self.torch = torch
        self.cfg = cfg
        pools = [torch.nn.MaxPool2d(q, stride=q) for q in cfg.pools]
        self.model = mu.P_CNN(cfg.in_shape[1], [cfg.in_shape[0], *cfg.channels],
                              list(cfg.kernels), list(cfg.strides), list(cfg.fc), pools,
                              list(cfg.paddings), activation=mu.hard_sigmoid)
        with torch.no_grad():
            for i, (syn, w, v) in enumerate(zip(self.model.synapses, W, b, strict=True)):
                syn.weight.copy_(torch.from_numpy(self._theirs(i, np.asarray(w, np.float32))))
                syn.bias.copy_(torch.from_numpy(np.asarray(v, np.float32)))
        groups = [{"params": s.parameters(), "lr": lr}
                  for s, lr in zip(self.model.synapses, cfg.lrs, strict=True)]
        self.opt = torch.optim.SGD(groups, lr=cfg.lrs[0])
        self.criterion = torch.nn.MSELoss(reduction="none")

    def train_batch(self, X: np.ndarray, Y: np.ndarray) -> None:
        torch, cfg = self.torch, self.cfg
        x = torch.from_numpy(np.asarray(X, np.float32).reshape(-1, *cfg.in_shape))
        y = torch.from_numpy(np.asarray(Y, np.int64))
        neurons = self.model.init_neurons(len(x), "cpu")
        neurons = self.model(x, y, neurons, cfg.T1, beta=0.0, criterion=self.criterion)
        free = list(neurons)  # forward rebinds the list's items: keep the free ones
        neurons = self.model(x, y, neurons, cfg.T2, beta=cfg.beta, criterion=self.criterion)
        self.model.compute_syn_grads(x, y, free, neurons, (0.0, cfg.beta), self.criterion)
        self.opt.step()

    def _theirs(self, i: int, w: np.ndarray, back: bool = False) -> np.ndarray:
        """The first fc layer after the convs reads the map flattened (C, H, W) in
        PyTorch and (H, W, C) here: permute its columns."""
        if i != self.cfg.n_conv:
            return w
        h, wd, c = self.cfg.state_shapes[i - 1]
        if back:
            return w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape)
        return np.ascontiguousarray(w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2)
                                    ).reshape(w.shape)

    def weights(self) -> list[np.ndarray]:
        """In this project's layout."""
        return [self._theirs(i, s.weight.detach().numpy(), back=True)
                for i, s in enumerate(self.model.synapses)]


def bench_cnn(reference: Path, n: int, cfg: ConvConfig) -> dict[str, float]:
    """Samples/s of both on ``n`` MNIST samples (whole batches), and how far their
    weights end apart (float32 sums in different orders, and a pooling tie or clip
    edge can route differently, so equal only to rounding)."""
    mu = load_reference(reference)  # first: it says what is missing, PyTorch included
    import torch
    from threadpoolctl import threadpool_limits

    cfg = cfg.replace(dtype="float32", nudge="positive", relax="jacobi")
    B = cfg.batch_size
    m = max(B, (n // B) * B)
    ds = load_dataset("mnist")
    X = ds.x_train[:m].astype(np.float64) / 255.0
    Y = ds.y_train[:m]
    ours = ConvEP(cfg)
    theirs = _PCNNTrainer(mu, cfg, ours.W, ours.b)
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        t_ours = time_batches(ours.train_batch, X, Y, B)
        t_theirs = time_batches(theirs.train_batch, X, Y, B)
        # the faster relaxation: even/odd sweeps, half as many (docs/results.md: it
        # reaches the Jacobi fixed point in about half the steps)
        fast = ConvEP(cfg.replace(relax="evenodd", T1=cfg.T1 // 2))
        t_fast = time_batches(fast.train_batch, X, Y, B)
    diff = max(float(np.abs(a - w).max() / np.abs(w).max())
               for a, w in zip(ours.W, theirs.weights(), strict=True))
    return {"samples": m, "batch": B, "numpy_samples_per_s": m / t_ours,
            "pcnn_samples_per_s": m / t_theirs, "ratio": t_theirs / t_ours,
            "evenodd_samples_per_s": m / t_fast, "evenodd_ratio": t_theirs / t_fast,
            "max_rel_weight_diff": diff}
