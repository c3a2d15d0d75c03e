"""Convolutional EP (seed 003) in float and in bit-exact fixed point.

One relaxation engine serves both: state layer l is

    s_l <- rho( P(K_l * s_{l-1}) + b_l + K_{l+1}^T * P^-1(s_{l+1}) [+ beta (y - s_L)] )

with ``*`` a convolution (or a matrix product for fc layers), ``P`` max-pooling and
``P^-1`` its inverse, which routes each pooled value back to where its window's maximum
is *at the current state* (so the dynamics are rho of dPhi/ds for
Phi = sum_l <P(K_l * s_{l-1}), s_l> + <b_l, s_l>).  ``rho`` is the hard sigmoid
clip(., 0, 1).  The update is the seed's

    dK_l ~ (1/beta) ( P^-1(s^b_l) (x) s^b_{l-1}  -  P^-1(s*_l) (x) s*_{l-1} )

(``(x)``: correlation over positions and batch).  The float model works in
``cfg.dtype``; the golden model in integers (held in float64 for BLAS: every value stays
below 2**53, so sums are exact), with the numerics contract of docs/numerics.md ("Conv EP").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from epfpga.conv.config import ConvConfig
from epfpga.conv.ops import ConvLink, DenseLink, kernel_from_matrix, weight_matrix
from epfpga.model import numerics as nx


def init_params(cfg: ConvConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """U(-g/sqrt(fan_in), g/sqrt(fan_in)) weights and biases (PyTorch's Conv2d/Linear
    default, which P_CNN uses), from ``cfg.seed``; float64, canonical shapes."""
    rng = np.random.default_rng([cfg.seed, 3])
    W, b = [], []
    for i in range(cfg.n_layers):
        shape = cfg.weight_shape(i)
        bound = cfg.init_gain / np.sqrt(int(np.prod(shape[1:])))
        W.append(rng.uniform(-bound, bound, size=shape))
        b.append(rng.uniform(-bound, bound, size=shape[0]))
    return W, b


def make_links(cfg: ConvConfig) -> list[ConvLink | DenseLink]:
    links: list[ConvLink | DenseLink] = []
    below = cfg.input_hwc
    shapes = cfg.state_shapes
    for i in range(cfg.n_layers):
        if i < cfg.n_conv:
            links.append(ConvLink(cfg.kernels[i], cfg.strides[i], cfg.paddings[i],
                                  cfg.pools[i], below, cfg.conv_shapes[i]))
        else:
            links.append(DenseLink(below))
        below = shapes[i]
    return links


class _ConvEPBase:
    """Relaxation shared by the float and the golden model.  Subclasses define the
    number format: ``_act`` (pre-activation to state), ``_bias_drive``, ``_nudge``."""

    cfg: ConvConfig
    links: list[ConvLink | DenseLink]
    dt: Any

    # ---- number format hooks
    def _act(self, acc: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _bias_drive(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def _nudge(self, y: np.ndarray, s: np.ndarray, beta: Any) -> np.ndarray:
        raise NotImplementedError

    # ---- dynamics
    def zeros(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, *sh), dtype=self.dt) for sh in self.cfg.state_shapes]

    def input_drive(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """P(K_0 * x) + b_0 and its routing: constant over a sample's phases, computed
        once (the pooling of the input drive never changes within a sample)."""
        d, idx = self.links[0].forward(x)
        return d + self._bias_drive(0), idx

    def relax(self, x: np.ndarray, drive0: tuple[np.ndarray, Any], s: list[np.ndarray],
              steps: int, nudge: tuple[np.ndarray, Any] | None = None,
              record: list[list[np.ndarray]] | None = None,
              relax: str | None = None) -> list[np.ndarray]:
        """``steps`` steps of Jacobi (all layers from the previous step) or even/odd
        (layers 1, 3, ... first, then 2, 4, ... from the new odd states; one step is a
        full sweep) relaxation.  ``x``: the input map; ``nudge`` = (target, beta)."""
        L = self.cfg.n_layers
        mode = relax or self.cfg.relax
        s = list(s)
        # cache[i]: forward of link i from the current s_{i-1} (link 0: the input drive)
        cache: list[tuple[np.ndarray, Any] | None] = [drive0] + [None] * (L - 1)

        def fwd(i: int) -> tuple[np.ndarray, Any]:
            if cache[i] is None:
                d, idx = self.links[i].forward(s[i - 1])
                cache[i] = (d + self._bias_drive(i), idx)
            return cache[i]  # type: ignore[return-value]

        def new_state(j: int) -> np.ndarray:
            acc = fwd(j)[0]
            if j + 1 < L:
                acc = acc + self.links[j + 1].backward(s[j + 1], fwd(j + 1)[1])
            if j == L - 1 and nudge is not None:
                acc = acc + self._nudge(nudge[0], s[j], nudge[1])
            return self._act(acc)

        groups = [range(L)] if mode == "jacobi" else [range(0, L, 2), range(1, L, 2)]
        for _ in range(steps):
            for group in groups:
                new = {j: new_state(j) for j in group}
                for j, v in new.items():
                    s[j] = v
                    if j + 1 < L:
                        cache[j + 1] = None
            if record is not None:
                record.append(list(s))
        return s

    def stats(self, x: np.ndarray, drive0: tuple[np.ndarray, Any], s: list[np.ndarray]
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """dPhi/dW (matrix form) and dPhi/db summed over the batch at states ``s``;
        the routing is the pooling's at these states."""
        full = [x, *s]
        dW, db = [], []
        for i, link in enumerate(self.links):
            idx = drive0[1] if i == 0 else link.forward(full[i])[1]
            dW.append(link.weight_stat(full[i], full[i + 1], idx))
            db.append(link.bias_stat(full[i + 1]))
        return dW, db

    def _matrix(self, i: int, W: np.ndarray) -> np.ndarray:
        return weight_matrix(W, self.dt) if W.ndim == 4 else np.ascontiguousarray(
            W.T.astype(self.dt))

    def _canonical(self, i: int, m: np.ndarray) -> np.ndarray:
        shape = self.cfg.weight_shape(i)
        return kernel_from_matrix(m, shape) if len(shape) == 4 else m.T

    def _sync(self) -> None:
        for i, link in enumerate(self.links):
            link.Wm = self._matrix(i, self.W[i])

    W: list[np.ndarray]


class ConvEP(_ConvEPBase):
    """Float conv EP, mini-batch; pixels in [0, 1]."""

    def __init__(self, cfg: ConvConfig, W: list[np.ndarray] | None = None,
                 b: list[np.ndarray] | None = None):
        self.cfg = cfg
        self.dt = np.dtype(cfg.dtype)
        fW, fb = init_params(cfg)
        self.W = [np.array(w, dtype=self.dt) for w in (fW if W is None else W)]
        self.b = [np.array(v, dtype=self.dt) for v in (fb if b is None else b)]
        self.links = make_links(cfg)
        self._sync()
        self.rng = np.random.default_rng([cfg.seed, 5])
        self.samples_trained = 0
        self.lr_scale = 1.0

    def _act(self, acc: np.ndarray) -> np.ndarray:
        return np.clip(acc, 0.0, 1.0)

    def _bias_drive(self, i: int) -> np.ndarray:
        return self.b[i]

    def _nudge(self, y: np.ndarray, s: np.ndarray, beta: Any) -> np.ndarray:
        return self.dt.type(beta) * (y - s)

    def to_maps(self, X: np.ndarray) -> np.ndarray:
        """Flat samples (B, C*H*W) in [0, 1] -> (B, H, W, C) in the model's dtype."""
        c, h, w = self.cfg.in_shape
        X = np.asarray(X, dtype=self.dt).reshape(-1, c, h, w)
        return np.ascontiguousarray(X.transpose(0, 2, 3, 1))

    def target(self, Y: np.ndarray) -> np.ndarray:
        return np.eye(self.cfg.fc[-1], dtype=self.dt)[np.asarray(Y)]

    def set_epoch(self, epoch: int) -> None:
        self.lr_scale = self.cfg.lr_decay ** epoch

    def draw_beta(self) -> float:
        beta = self.cfg.beta
        if self.cfg.nudge == "random_sign" and self.rng.random() < 0.5:
            beta = -beta
        return beta

    def free_phase(self, X: np.ndarray, steps: int | None = None) -> list[np.ndarray]:
        x = self.to_maps(X)
        return self.relax(x, self.input_drive(x), self.zeros(len(x)),
                          self.cfg.T1 if steps is None else steps)

    def infer_batch(self, X: np.ndarray, chunk: int = 500) -> np.ndarray:
        return np.concatenate([np.argmax(self.free_phase(X[i:i + chunk])[-1], axis=1)
                               for i in range(0, len(X), chunk)]) if len(X) else \
            np.zeros(0, dtype=np.int64)

    def ep_update(self, X: np.ndarray, Y: np.ndarray, beta: float | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Batch-mean EP estimate of -dLoss/dW (canonical shapes), -dLoss/db, and the
        free end states."""
        cfg = self.cfg
        beta = self.draw_beta() if beta is None else beta
        x = self.to_maps(X)
        drive0 = self.input_drive(x)
        y = self.target(Y)
        s_free = self.relax(x, drive0, self.zeros(len(x)), cfg.T1)
        s_p = self.relax(x, drive0, s_free, cfg.T2, (y, beta))
        hiW, hib = self.stats(x, drive0, s_p)
        if cfg.nudge == "symmetric":
            s_m = self.relax(x, drive0, s_free, cfg.T2, (y, -beta))
            den = 2 * beta * len(x)
        else:
            s_m, den = s_free, beta * len(x)
        loW, lob = self.stats(x, drive0, s_m)
        dW = [self._canonical(i, (h - lo) / den) for i, (h, lo) in enumerate(
            zip(hiW, loW, strict=True))]
        db = [(h - lo) / den for h, lo in zip(hib, lob, strict=True)]
        return dW, db, s_free

    def train_batch(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        dW, db, s_free = self.ep_update(X, Y)
        for i, lr in enumerate(self.cfg.lrs):
            k = self.dt.type(lr * self.lr_scale)
            self.W[i] += k * dW[i].astype(self.dt, copy=False)
            self.b[i] += k * db[i].astype(self.dt, copy=False)
        self._sync()
        self.samples_trained += len(X)
        return np.argmax(s_free[-1], axis=1)

    def state_dict(self) -> dict[str, object]:
        return {"W": [w.copy() for w in self.W], "b": [v.copy() for v in self.b],
                "samples_trained": self.samples_trained,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.W = [np.array(w, dtype=self.dt) for w in d["W"]]
        self.b = [np.array(v, dtype=self.dt) for v in d["b"]]
        self.samples_trained = int(d["samples_trained"])
        if "rng" in d:
            self.rng.bit_generator.state = d["rng"]
        self._sync()


class ConvGolden(_ConvEPBase):
    """Bit-exact fixed-point conv EP (docs/numerics.md, "Conv EP").  ``W``/``b`` are int64 in
    canonical shapes; states and pixels are integers in units of 2**-act_frac, held in
    float64 during relaxation (exact).  ``batch_size`` samples relax side by side and
    one update applies their exact integer sum, rounded once."""

    def __init__(self, cfg: ConvConfig, W: list[np.ndarray] | None = None,
                 b: list[np.ndarray] | None = None):
        self.cfg = cfg
        self.dt = np.dtype(np.float64)
        if W is None or b is None:
            fW, fb = init_params(cfg)
            W = [nx.quantize_weights(w, cfg) for w in fW] if W is None else W
            b = [nx.quantize_weights(v, cfg) for v in fb] if b is None else b
        self.W = [np.array(w, dtype=np.int64) for w in W]
        self.b = [np.array(v, dtype=np.int64) for v in b]
        self._check()
        self.links = make_links(cfg)
        self._sync()
        self.lfsr = [nx.lfsr_seed(cfg.seed, i) for i in range(cfg.n_layers)]
        self.sign_lfsr = nx.lfsr_seed(cfg.seed, cfg.n_layers)
        self._block = nx.LfsrBlock(max(int(np.prod(cfg.weight_shape(i))) // cfg.weight_shape(
            i)[0] + cfg.weight_shape(i)[0] + 1 for i in range(cfg.n_layers)))
        self.update_q = cfg.update_q
        self.samples_trained = 0
        self._half = float(1 << (cfg.weight_frac - 1))
        self._inv = 1.0 / (1 << cfg.weight_frac)

    def _check(self) -> None:
        cfg = self.cfg
        for i in range(cfg.n_layers):
            if self.W[i].shape != cfg.weight_shape(i) or self.b[i].shape != (
                    cfg.weight_shape(i)[0],):
                raise ValueError(f"layer {i}: W {self.W[i].shape}, b {self.b[i].shape}; "
                                 f"expected {cfg.weight_shape(i)}")
            for a in (self.W[i], self.b[i]):
                if a.size and (a.min() < cfg.weight_min or a.max() > cfg.weight_max):
                    raise ValueError(f"layer {i}: values outside {cfg.weight_bits} bits")

    def _sync(self) -> None:
        super()._sync()
        self._bias = [(v * self.cfg.act_one).astype(np.float64) for v in self.b]

    # ---- number format: the contract's one rounding point, round half up, then clip
    def _act(self, acc: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((acc + self._half) * self._inv), 0.0, self.cfg.act_one)

    def _bias_drive(self, i: int) -> np.ndarray:
        return self._bias[i]

    def _nudge(self, y: np.ndarray, s: np.ndarray, beta_q: Any) -> np.ndarray:
        return (y - s) * float(beta_q << self.cfg.nudge_shift)

    def to_maps(self, Xq: np.ndarray) -> np.ndarray:
        Xq = np.asarray(Xq)
        if not np.issubdtype(Xq.dtype, np.integer):
            raise TypeError("golden model input must be quantized integers (quantize_pixels)")
        if Xq.size and (Xq.min() < 0 or Xq.max() > self.cfg.act_one):
            raise ValueError(f"input values must be in 0..{self.cfg.act_one}")
        c, h, w = self.cfg.in_shape
        return np.ascontiguousarray(Xq.reshape(-1, c, h, w).transpose(0, 2, 3, 1)).astype(
            np.float64)

    def target(self, Y: np.ndarray) -> np.ndarray:
        return np.eye(self.cfg.fc[-1])[np.asarray(Y)] * self.cfg.act_one

    def set_epoch(self, epoch: int) -> None:
        self.update_q = self.cfg.update_q_at(epoch)

    def next_beta_sign(self) -> int:
        if self.cfg.nudge != "random_sign":
            return 1
        self.sign_lfsr = nx.lfsr_step(self.sign_lfsr)
        return -1 if self.sign_lfsr & 1 else 1

    def free_phase(self, Xq: np.ndarray, steps: int | None = None,
                   record: list | None = None) -> list[np.ndarray]:
        x = self.to_maps(Xq)
        return self.relax(x, self.input_drive(x), self.zeros(len(x)),
                          self.cfg.T1 if steps is None else steps, record=record)

    def infer_batch(self, Xq: np.ndarray, chunk: int = 500) -> np.ndarray:
        return np.concatenate([np.argmax(self.free_phase(Xq[i:i + chunk])[-1], axis=1)
                               for i in range(0, len(Xq), chunk)]) if len(Xq) else \
            np.zeros(0, dtype=np.int64)

    def _random_bits(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Row values (one per output unit/channel) then column values (one per input
        synapse in canonical order, then the bias) from layer i's LFSR."""
        shape = self.cfg.weight_shape(i)
        n_out, n_in = shape[0], int(np.prod(shape[1:]))
        seq = self._block.states(self.lfsr[i], n_out + n_in + 1)
        self.lfsr[i] = int(seq[-1])
        m = (1 << self.cfg.sr_bits) - 1
        return seq[:n_out] & m, seq[n_out:] & m

    def train_batch(self, Xq: np.ndarray, Y: np.ndarray, record: dict | None = None
                    ) -> np.ndarray:
        """Free phase, nudged phase(s), one rounded update from the batch's exact sum;
        returns the free-phase predictions.  ``record`` (a dict) receives the end
        states and the beta sign."""
        cfg = self.cfg
        x = self.to_maps(Xq)
        drive0 = self.input_drive(x)
        y = self.target(Y)
        sign = self.next_beta_sign()
        bq = sign * cfg.beta_q
        s_free = self.relax(x, drive0, self.zeros(len(x)), cfg.T1)
        s_p = self.relax(x, drive0, s_free, cfg.T2, (y, bq))
        s_m = self.relax(x, drive0, s_free, cfg.T2, (y, -bq)) if cfg.nudge == "symmetric" \
            else s_free
        hiW, hib = self.stats(x, drive0, s_p)
        loW, lob = self.stats(x, drive0, s_m)
        for i in range(cfg.n_layers):
            k = sign * self.update_q[i]
            dstat = self._canonical(i, np.rint(hiW[i] - loW[i]).astype(np.int64))
            dstat = dstat.reshape(dstat.shape[0], -1)
            prod = dstat * k
            bprod = np.rint(hib[i] - lob[i]).astype(np.int64) * (k * cfg.act_one)
            if cfg.rounding == "stochastic":
                a, c = self._random_bits(i)
                r, rb = a[:, None] ^ c[None, :-1], a ^ c[-1]
            else:
                r = rb = None
            w = self.W[i].reshape(prod.shape)
            self.W[i] = nx.saturate(w + nx.round_update(prod, cfg, r), cfg).reshape(
                cfg.weight_shape(i))
            self.b[i] = nx.saturate(self.b[i] + nx.round_update(bprod, cfg, rb), cfg)
        self._sync()
        self.samples_trained += len(x)
        if record is not None:
            record.update(free=s_free, plus=s_p, minus=s_m, sign=sign)
        return np.argmax(s_free[-1], axis=1)

    def state_dict(self) -> dict[str, object]:
        return {"W": [w.copy() for w in self.W], "b": [v.copy() for v in self.b],
                "lfsr": list(self.lfsr), "sign_lfsr": self.sign_lfsr,
                "samples_trained": self.samples_trained}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.W = [np.array(w, dtype=np.int64) for w in d["W"]]
        self.b = [np.array(v, dtype=np.int64) for v in d["b"]]
        self._check()
        self.lfsr = [int(v) for v in d["lfsr"]]
        self.sign_lfsr = int(d["sign_lfsr"])
        self.samples_trained = int(d["samples_trained"])
        self._sync()
