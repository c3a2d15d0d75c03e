"""Bit-exact fixed-point golden model: exactly what the gateware computes, in numpy integers.

Online, one sample at a time.  Every intermediate (states after each step, both end
states, the prediction, the weights after each sample) can be recorded so testbenches
compare bit for bit.  The integer contract is in docs/numerics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from epfpga.model import numerics as nx
from epfpga.model.config import EPConfig
from epfpga.model.init import init_float_feedback, init_float_params


@dataclass
class SampleTrace:
    """What one training (or inference) sample produced."""

    prediction: int
    free: list[np.ndarray]  # s_1..s_L at the end of the free phase
    nudged: list[np.ndarray] | None = None  # s_1..s_L at the end of the nudged phase
    nudged_neg: list[np.ndarray] | None = None  # symmetric nudge: the -beta phase
    beta_sign: int = 1
    steps: list[list[np.ndarray]] = field(default_factory=list)  # every step, if recorded


class GoldenModel:
    """Fixed-point EP network.  ``W[l]`` has shape (layers[l+1], layers[l]), ``b[l]``
    (layers[l+1],): the bias of state layer l+1.  All int64."""

    def __init__(
        self,
        cfg: EPConfig,
        W: list[np.ndarray] | None = None,
        b: list[np.ndarray] | None = None,
        B: list[np.ndarray] | None = None,
    ):
        self.cfg = cfg
        if W is None or b is None:
            fW, fb = init_float_params(cfg)
            W = [nx.quantize_weights(w, cfg) for w in fW] if W is None else W
            b = [nx.quantize_weights(v, cfg) for v in fb] if b is None else b
        if cfg.feedback == "separate" and B is None:
            B = [nx.quantize_weights(m, cfg) for m in init_float_feedback(cfg)]
        self.W = [np.array(w, dtype=np.int64) for w in W]
        self.b = [np.array(v, dtype=np.int64) for v in b]
        self.B = [np.array(m, dtype=np.int64) for m in B] if cfg.feedback == "separate" \
            else []
        self._check_params()
        self.lfsr = [nx.lfsr_seed(cfg.seed, layer) for layer in range(cfg.n_layers)]
        self.sign_lfsr = nx.lfsr_seed(cfg.seed, cfg.n_layers)
        self.noise_lfsr = nx.lfsr_seed(cfg.seed, cfg.n_layers + 1)
        self._noise_block = nx.LfsrBlock(sum(cfg.layers[1:])) if cfg.noise_q else None
        self.samples_trained = 0
        self.update_q = cfg.update_q
        self._block = nx.LfsrBlock(max(a + b + 1 for a, b in zip(
            cfg.layers[:-1], cfg.layers[1:], strict=True)))

    # ---------------------------------------------------------------- parameters
    def _check_params(self) -> None:
        cfg = self.cfg
        if len(self.W) != cfg.n_layers or len(self.b) != cfg.n_layers:
            raise ValueError(f"expected {cfg.n_layers} weight and bias arrays")
        for i, (w, v) in enumerate(zip(self.W, self.b, strict=True)):
            shape = (cfg.layers[i + 1], cfg.layers[i])
            if w.shape != shape or v.shape != (cfg.layers[i + 1],):
                raise ValueError(
                    f"layer {i}: W shape {w.shape} / b shape {v.shape}, expected {shape} / "
                    f"({cfg.layers[i + 1]},)"
                )
            if w.size and (w.min() < cfg.weight_min or w.max() > cfg.weight_max):
                raise ValueError(f"layer {i}: weights outside {cfg.weight_bits}-bit range")
            if v.size and (v.min() < cfg.weight_min or v.max() > cfg.weight_max):
                raise ValueError(f"layer {i}: biases outside {cfg.weight_bits}-bit range")
        want = [w.shape for w in self.W[1:]] if cfg.feedback == "separate" else []
        if [m.shape for m in self.B] != want:
            raise ValueError(f"feedback weights: shapes {[m.shape for m in self.B]}, "
                             f"expected {want}")
        for m in self.B:
            if m.size and (m.min() < cfg.weight_min or m.max() > cfg.weight_max):
                raise ValueError(f"feedback weights outside {cfg.weight_bits}-bit range")

    def state_dict(self) -> dict[str, object]:
        return {
            "W": [w.copy() for w in self.W],
            "b": [v.copy() for v in self.b],
            "B": [m.copy() for m in self.B],
            "lfsr": list(self.lfsr),
            "sign_lfsr": self.sign_lfsr,
            "noise_lfsr": self.noise_lfsr,
            "samples_trained": self.samples_trained,
        }

    def load_state_dict(self, d: dict[str, object]) -> None:
        self.W = [np.array(w, dtype=np.int64) for w in d["W"]]  # type: ignore[union-attr]
        self.b = [np.array(v, dtype=np.int64) for v in d["b"]]  # type: ignore[union-attr]
        self.B = [np.array(m, dtype=np.int64) for m in d.get("B", [])]  # type: ignore[union-attr]
        self._check_params()
        self.lfsr = [int(s) for s in d["lfsr"]]  # type: ignore[union-attr]
        self.sign_lfsr = int(d["sign_lfsr"])  # type: ignore[arg-type]
        self.noise_lfsr = int(d.get("noise_lfsr", self.noise_lfsr))  # type: ignore[arg-type]
        self.samples_trained = int(d["samples_trained"])  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Learning rates of this epoch (config lr_decay); a runtime parameter in gateware."""
        self.update_q = self.cfg.update_q_at(epoch)

    # ---------------------------------------------------------------- dynamics
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        n0 = self.cfg.layers[0]
        if x.shape[-1:] != (n0,):
            raise ValueError(f"input must have {n0} values per sample, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError("golden model input must be quantized integers (quantize_pixels)")
        if x.size and (x.min() < 0 or x.max() > self.cfg.act_one):
            raise ValueError(f"input values must be in 0..{self.cfg.act_one}")
        return x.astype(np.int64)

    def input_drive(self, x: np.ndarray) -> np.ndarray:
        """W_0 x + b_0, once per sample, zero pixels skipped (exact: they add nothing)."""
        nz = np.flatnonzero(x)
        return self.W[0][:, nz] @ x[nz] + (self.b[0] << self.cfg.act_frac)

    def feedback(self, i: int) -> np.ndarray:
        """Top-down weights from state layer i+1 to i (i >= 1)."""
        return self.B[i - 1] if self.cfg.feedback == "separate" else self.W[i]

    def _noise(self, batch: tuple[int, ...]) -> list[np.ndarray]:
        """One step's noise for every unit, layer 1 first, from the noise LFSR (one
        state per unit; a batch draws sample by sample)."""
        cfg = self.cfg
        n = sum(cfg.layers[1:])
        count = int(np.prod(batch)) if batch else 1
        vals = []
        for _ in range(count):
            st = self._noise_block.states(self.noise_lfsr, n)
            self.noise_lfsr = int(st[-1])
            vals.append(nx.uniform_noise(st, cfg.noise_q))
        flat = np.array(vals).reshape(batch + (n,))
        cuts = np.cumsum(cfg.layers[1:])[:-1]
        return np.split(flat, cuts, axis=-1)

    def relax(
        self,
        drive: np.ndarray,
        s: list[np.ndarray],
        steps: int,
        nudge: tuple[np.ndarray, int] | None = None,
        record: list[list[np.ndarray]] | None = None,
        anchor: list[np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """Jacobi steps: every layer from the previous step's states.

        ``drive`` is layer 1's constant input drive (may be batched: (B, n1));
        ``nudge`` = (one-hot target in state units, signed beta_q); ``anchor`` = the
        free states, for the non-conservative correction (B - W)(s - s*), exact in
        the accumulator like every other synapse.
        """
        cfg = self.cfg
        L = cfg.n_layers
        af = cfg.act_frac
        for _ in range(steps):
            noise = self._noise(np.shape(s[0])[:-1]) if cfg.noise_q else None
            new = []
            for layer in range(1, L + 1):
                if layer == 1:
                    acc = drive.copy()
                else:
                    acc = s[layer - 2] @ self.W[layer - 1].T + (self.b[layer - 1] << af)
                if layer < L:
                    acc = acc + s[layer] @ self.feedback(layer)
                if anchor is not None:
                    if layer >= 2:
                        acc = acc + (s[layer - 2] - anchor[layer - 2]) @ (
                            self.feedback(layer - 1) - self.W[layer - 1]).T
                    if layer < L:
                        acc = acc + (s[layer] - anchor[layer]) @ (
                            self.W[layer] - self.feedback(layer))
                if layer == L and nudge is not None:
                    y, bq = nudge
                    acc = acc + (((y - s[L - 1]) * bq) << cfg.nudge_shift)
                if noise is not None:
                    acc = acc + noise[layer - 1]
                new.append(nx.activation(acc, cfg))
            s = new
            if record is not None:
                record.append([v.copy() for v in s])
        return s

    def _zeros(self, batch: tuple[int, ...] = ()) -> list[np.ndarray]:
        return [np.zeros(batch + (n,), dtype=np.int64) for n in self.cfg.layers[1:]]

    def free_phase(self, x: np.ndarray, record: list | None = None) -> list[np.ndarray]:
        x = self._check_x(x)
        return self.relax(self.input_drive(x), self._zeros(), self.cfg.T1, record=record)

    def infer(self, x: np.ndarray) -> int:
        s = self.free_phase(x)
        return int(np.argmax(s[-1]))

    def infer_batch(self, X: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """Predictions for many samples at once (weights fixed, so batching is exact)."""
        X = self._check_x(X)
        out = np.empty(len(X), dtype=np.int64)
        for i in range(0, len(X), chunk):
            xb = X[i:i + chunk]
            drive = xb @ self.W[0].T + (self.b[0] << self.cfg.act_frac)
            s = self.relax(drive, self._zeros((len(xb),)), self.cfg.T1)
            out[i:i + chunk] = np.argmax(s[-1], axis=1)
        return out

    # ---------------------------------------------------------------- learning
    def next_beta_sign(self) -> int:
        """random_sign mode: the sign LFSR steps once per trained sample; bit 0 set -> -beta."""
        if self.cfg.nudge != "random_sign":
            return 1
        self.sign_lfsr = nx.lfsr_step(self.sign_lfsr)
        return -1 if self.sign_lfsr & 1 else 1

    def _random_bits(self, layer: int, n_out: int, n_in: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Row values a_i (n_out steps), then column values b_j (n_in + 1 steps, bias
        last), from the layer's LFSR."""
        seq = self._block.states(self.lfsr[layer], n_out + n_in + 1)
        self.lfsr[layer] = int(seq[-1])
        m = (1 << self.cfg.sr_bits) - 1
        return seq[:n_out] & m, seq[n_out:] & m

    def _update_layer(self, layer: int, hi: list[list[np.ndarray]],
                      lo: list[list[np.ndarray]], ref: list[np.ndarray], sign: int) -> None:
        """Local update of W_layer, b_layer (and B_layer with separate feedback) from two
        phases' sampled full states (input first); a sum over 2**e samples is shifted
        by e more bits, so averaging costs no division."""
        cfg = self.cfg
        k = sign * self.update_q[layer]
        e = (len(hi) - 1).bit_length()
        stochastic = cfg.rounding == "stochastic"
        n_out, n_in = self.W[layer].shape
        if stochastic:
            a, bcol = self._random_bits(layer, n_out, n_in)
        dpost = sum(f[layer + 1] for f in hi) - sum(f[layer + 1] for f in lo)
        pre = ref[layer]
        if layer == 0 or cfg.feedback == "separate":
            # rank one (the input, or one direction of a non-conservative synapse):
            # only the columns of non-zero presynaptic values change
            nz = np.flatnonzero(pre)
            prod = np.outer(dpost * k, pre[nz])
            r = (a[:, None] ^ bcol[None, nz]) if stochastic else None
            w = self.W[layer]
            w[:, nz] = nx.saturate(w[:, nz] + nx.round_update(prod, cfg, r, e), cfg)
        else:
            prod = (sum(np.outer(f[layer + 1], f[layer]) for f in hi) -
                    sum(np.outer(f[layer + 1], f[layer]) for f in lo)) * k
            r = (a[:, None] ^ bcol[None, :-1]) if stochastic else None
            self.W[layer] = nx.saturate(self.W[layer] + nx.round_update(prod, cfg, r, e), cfg)
        bprod = dpost * (k * cfg.act_one)
        rb = (a ^ bcol[-1]) if stochastic else None
        self.b[layer] = nx.saturate(self.b[layer] + nx.round_update(bprod, cfg, rb, e), cfg)
        if cfg.feedback == "separate" and layer >= 1:
            dpre = sum(f[layer] for f in hi) - sum(f[layer] for f in lo)
            prod = np.outer(ref[layer + 1], dpre * k)
            if stochastic:
                a, bcol = self._random_bits(layer, n_out, n_in)
            r = (a[:, None] ^ bcol[None, :-1]) if stochastic else None
            self.B[layer - 1] = nx.saturate(
                self.B[layer - 1] + nx.round_update(prod, cfg, r, e), cfg)

    def _phase(self, drive: np.ndarray, s0: list[np.ndarray], steps: int,
               nudge: tuple[np.ndarray, int] | None, anchor: list[np.ndarray] | None,
               steps_log: list | None) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        """End states and the states the statistics use: the last ``sample_steps``
        steps of a noisy (sampled) phase, else the end state alone."""
        rec: list[list[np.ndarray]] = []
        end = self.relax(drive, s0, steps, nudge, rec, anchor)
        if steps_log is not None:
            steps_log.extend(rec)
        k = self.cfg.sample_steps
        return end, (rec[-k:] if k and rec else [end])

    def train_sample(
        self, x: np.ndarray, y: int, record: bool = False, beta_sign: int | None = None
    ) -> SampleTrace:
        """Free phase, nudged phase(s), local updates of every layer; returns the trace."""
        cfg = self.cfg
        if not 0 <= int(y) < cfg.layers[-1]:
            raise ValueError(f"label {y} out of range 0..{cfg.layers[-1] - 1}")
        x = self._check_x(x)
        if x.ndim != 1:
            raise ValueError("train_sample takes one sample; the golden model is online")
        sign = self.next_beta_sign() if beta_sign is None else beta_sign
        steps: list[list[np.ndarray]] | None = [] if record else None
        s_free, free_ss = self._phase(self.input_drive(x), self._zeros(), cfg.T1, None, None,
                                      steps)
        target = np.zeros(cfg.layers[-1], dtype=np.int64)
        target[int(y)] = cfg.act_one
        bq = sign * cfg.beta_q
        anchor = s_free if cfg.correction else None
        ref = [x] + s_free
        if cfg.algorithm == "cep":
            s = s_free
            for _ in range(cfg.T2):  # every nudged step updates, and the next sees it
                s_new = self.relax(self.input_drive(x), s, 1, (target, bq), steps, anchor)
                for layer in range(cfg.n_layers):
                    self._update_layer(layer, [[x] + s_new], [[x] + s], ref, sign)
                s = s_new
            s_p = s_m = s
        else:
            drive = self.input_drive(x)
            s_p, plus = self._phase(drive, s_free, cfg.T2, (target, bq), anchor, steps)
            if cfg.nudge == "symmetric":
                s_m, minus = self._phase(drive, s_free, cfg.T2, (target, -bq), anchor, steps)
            else:
                s_m, minus = s_free, free_ss
            hi = [[x] + v for v in plus]
            lo = [[x] + v for v in minus]
            for layer in range(cfg.n_layers):
                self._update_layer(layer, hi, lo, ref, sign)
        self.samples_trained += 1
        return SampleTrace(
            prediction=int(np.argmax(s_free[-1])),
            free=s_free,
            nudged=s_p,
            nudged_neg=s_m if cfg.nudge == "symmetric" else None,
            beta_sign=sign,
            steps=steps or [],
        )
