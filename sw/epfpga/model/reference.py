"""Float EP reference (numpy, float64): the yardstick for everything fixed-point.

Same discrete-time layered prototypical EP as the golden model (DESIGN section 3) but
with real numbers and no rounding; online (batch_size 1) or mini-batch.  Carries the
seed variants of the config: C-EP, separate feedback weights with or without the
non-conservative correction, and Langevin-like noise with phase averaging.
"""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig
from epfpga.model.init import init_float_feedback, init_float_params


def rho(v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0.0, 1.0)


class FloatEP:
    """``W[l]``: (layers[l+1], layers[l]); ``b[l]``: bias of state layer l+1;
    ``B[l-1]``: top-down weights from layer l+1 to l (shape of ``W[l]``), only with
    ``feedback='separate'`` -- tied feedback uses ``W[l]`` itself."""

    def __init__(self, cfg: EPConfig, W: list[np.ndarray] | None = None,
                 b: list[np.ndarray] | None = None, B: list[np.ndarray] | None = None):
        self.cfg = cfg
        fW, fb = init_float_params(cfg)
        self.W = [np.array(w, dtype=np.float64) for w in (fW if W is None else W)]
        self.b = [np.array(v, dtype=np.float64) for v in (fb if b is None else b)]
        self.B = ([np.array(m, dtype=np.float64) for m in (
            init_float_feedback(cfg) if B is None else B)]
            if cfg.feedback == "separate" else [])
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.samples_trained = 0
        self.lr_scale = 1.0

    def set_epoch(self, epoch: int) -> None:
        self.lr_scale = self.cfg.lr_decay ** epoch

    def state_dict(self) -> dict[str, object]:
        return {"W": [w.copy() for w in self.W], "b": [v.copy() for v in self.b],
                "B": [m.copy() for m in self.B], "samples_trained": self.samples_trained,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, d: dict[str, object]) -> None:
        self.W = [np.array(w, dtype=np.float64) for w in d["W"]]  # type: ignore[union-attr]
        self.b = [np.array(v, dtype=np.float64) for v in d["b"]]  # type: ignore[union-attr]
        self.B = [np.array(m, dtype=np.float64) for m in d.get("B", [])]  # type: ignore[union-attr]
        self.samples_trained = int(d["samples_trained"])  # type: ignore[arg-type]
        if "rng" in d:
            self.rng.bit_generator.state = d["rng"]

    def feedback(self, i: int) -> np.ndarray:
        """Top-down weights from state layer i+1 to i (i >= 1)."""
        return self.B[i - 1] if self.cfg.feedback == "separate" else self.W[i]

    def relax(self, drive: np.ndarray, s: list[np.ndarray], steps: int,
              nudge: tuple[np.ndarray, float] | None = None,
              anchor: list[np.ndarray] | None = None,
              record: list[list[np.ndarray]] | None = None) -> list[np.ndarray]:
        """Jacobi steps; ``drive`` = W_0 x + b_0 (batch, n1); nudge = (one-hot y, beta).

        ``anchor`` (the free equilibrium) switches on the non-conservative correction
        (J^T - J)(s - s*): around s* the nudged phase then responds like the
        transposed system, whose response is the exact gradient (implicit
        differentiation), while s* stays a fixed point at beta = 0."""
        cfg = self.cfg
        L = cfg.n_layers
        for _ in range(steps):
            new = []
            for layer in range(1, L + 1):
                pre = drive if layer == 1 else s[layer - 2] @ self.W[layer - 1].T + self.b[
                    layer - 1]
                if layer < L:
                    pre = pre + s[layer] @ self.feedback(layer)
                if anchor is not None:
                    if layer >= 2:
                        pre = pre + (s[layer - 2] - anchor[layer - 2]) @ (
                            self.feedback(layer - 1) - self.W[layer - 1]).T
                    if layer < L:
                        pre = pre + (s[layer] - anchor[layer]) @ (
                            self.W[layer] - self.feedback(layer))
                if layer == L and nudge is not None:
                    y, beta = nudge
                    pre = pre + beta * (y - s[L - 1])
                if cfg.noise:
                    pre = pre + self.rng.uniform(-cfg.noise, cfg.noise, np.shape(pre))
                new.append(rho(pre))
            s = new
            if record is not None:
                record.append(s)
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

    # ---------------------------------------------------------------- estimates
    def _phase(self, drive: np.ndarray, s0: list[np.ndarray], steps: int,
               nudge: tuple[np.ndarray, float] | None, anchor: list[np.ndarray] | None
               ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        """End state and the states the phase's statistics average over: the last
        ``sample_steps`` steps with noise (a sampled phase), else the end state."""
        rec: list[list[np.ndarray]] = []
        end = self.relax(drive, s0, steps, nudge, anchor, rec)
        k = self.cfg.sample_steps
        return end, (rec[-k:] if k and rec else [end])

    def contrast(self, X: np.ndarray, hi: list[list[np.ndarray]],
                 lo: list[list[np.ndarray]], ref: list[np.ndarray]
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Sums over the batch of the local statistics' difference between two phases
        (each a list of sampled states): dW, db and, with separate feedback, dB."""
        L = self.cfg.n_layers
        full = [X] + ref

        def mean_state(ss: list[list[np.ndarray]], i: int) -> np.ndarray:
            return sum(s[i] for s in ss) / len(ss)

        db = [(mean_state(hi, i) - mean_state(lo, i)).sum(0) for i in range(L)]
        if self.cfg.feedback == "separate":  # each weight sees only its own direction
            dW = [(mean_state(hi, i) - mean_state(lo, i)).T @ full[i] for i in range(L)]
            dB = [full[i + 1].T @ (mean_state(hi, i - 1) - mean_state(lo, i - 1))
                  for i in range(1, L)]
            return dW, db, dB

        def outer(ss: list[list[np.ndarray]], i: int) -> np.ndarray:
            return sum(s[i].T @ ([X] + s)[i] for s in ss) / len(ss)

        return [outer(hi, i) - outer(lo, i) for i in range(L)], db, []

    def ep_update(self, X: np.ndarray, Y: np.ndarray, beta: float | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray],
                             list[np.ndarray]]:
        """Batch-mean EP estimate of -dLoss/dW, -dLoss/db, -dLoss/dB and the free end
        states (the estimate the update rule applies; C-EP spreads it over the steps)."""
        cfg = self.cfg
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Y = np.atleast_1d(Y)
        beta = self.draw_beta() if beta is None else beta
        target = np.eye(cfg.layers[-1])[Y]
        drive = X @ self.W[0].T + self.b[0]
        anchor_on = cfg.correction
        s_free, free_ss = self._phase(drive, self._zeros(len(X)), cfg.T1, None, None)
        anchor = s_free if anchor_on else None
        _, plus = self._phase(drive, s_free, cfg.T2, (target, beta), anchor)
        if cfg.nudge == "symmetric":
            _, minus = self._phase(drive, s_free, cfg.T2, (target, -beta), anchor)
            scale = 1.0 / (2 * beta * len(X))
        else:
            minus = free_ss
            scale = 1.0 / (beta * len(X))
        dW, db, dB = self.contrast(X, plus, minus, s_free)
        return ([scale * d for d in dW], [scale * d for d in db], [scale * d for d in dB],
                s_free)

    def draw_beta(self) -> float:
        beta = self.cfg.beta
        if self.cfg.nudge == "random_sign" and self.rng.random() < 0.5:
            beta = -beta
        return beta

    def apply_update(self, dW: list[np.ndarray], db: list[np.ndarray],
                     dB: list[np.ndarray], scale: float) -> None:
        """Step every layer by its rate times ``scale`` along the given estimates."""
        for i, lr in enumerate(self.cfg.lrs):
            self.W[i] += lr * scale * dW[i]
            self.b[i] += lr * scale * db[i]
            if i >= 1 and dB:
                self.B[i - 1] += lr * scale * dB[i - 1]

    def train_batch(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """One EP (or C-EP) step on a batch; returns the free-phase predictions."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if self.cfg.algorithm == "cep":
            s_free = self.cep_step(X, np.atleast_1d(Y))
        else:
            dW, db, dB, s_free = self.ep_update(X, Y)
            self.apply_update(dW, db, dB, self.lr_scale)
        self.samples_trained += len(X)
        return np.argmax(s_free[-1], axis=1)

    def cep_step(self, X: np.ndarray, Y: np.ndarray, beta: float | None = None,
                 history: list[list[np.ndarray]] | None = None) -> list[np.ndarray]:
        """C-EP (seed 003): after every nudged step each layer applies the change of its
        local statistic since the previous step, so the weights move during the phase
        and the dynamics see them move; ``history`` collects the per-step dW."""
        cfg = self.cfg
        beta = self.draw_beta() if beta is None else beta
        target = np.eye(cfg.layers[-1])[Y]
        s_free = self.relax(X @ self.W[0].T + self.b[0], self._zeros(len(X)), cfg.T1)
        anchor = s_free if cfg.correction else None
        s = s_free
        for _ in range(cfg.T2):
            s_new = self.relax(X @ self.W[0].T + self.b[0], s, 1, (target, beta), anchor)
            dW, db, dB = self.contrast(X, [s_new], [s], s_free)
            k = self.lr_scale / (beta * len(X))
            self.apply_update(dW, db, dB, k)
            if history is not None:
                history.append([k * d for d in dW])
            s = s_new
        return s_free

    def path_integral_update(self, X: np.ndarray, Y: np.ndarray, points: int = 4
                             ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Seed 002's path-integral estimator of E_1[phi] - E_0[phi] for noisy (sampled)
        phases: the integral over beta in [0, 1] of d/dbeta E_beta[phi] =
        -Cov_beta(phi, C) / T, by midpoint quadrature with ``points`` nudged chains.

        T = noise**2 / 3, the variance of the uniform noise: a unit resampled from
        clip(u + noise) each step then has the spread of a Gibbs unit with energy s**2 / 2
        at that temperature (checked on a linear-regime net: the covariance matches the
        response to a small nudge within 5%).  Jacobi steps make a layered net two
        interleaved chains (odd layers at t with even layers at t+1, and the converse),
        so one sample is taken across two consecutive steps: layer l at step
        t + (l - 1) % 2.  Near beta = 1 the nudge, which acts through the previous
        output state, gives the output a self-loop of gain beta and the chain can fall
        into a period-2 oscillation; the covariance form, which assumes a Gibbs
        distribution, then overstates the response (docs/results.md).  Tied
        feedback only; sums over the batch like ``ep_update``."""
        cfg = self.cfg
        if not cfg.noise or cfg.sample_steps < 2 or cfg.feedback != "tied":
            raise ValueError("the path-integral estimator needs noise > 0, sample_steps "
                             ">= 2 and tied feedback")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        target = np.eye(cfg.layers[-1])[np.atleast_1d(Y)]
        drive = X @ self.W[0].T + self.b[0]
        s_free = self.relax(drive, self._zeros(len(X)), cfg.T1)
        temp = cfg.noise ** 2 / 3
        L, K = cfg.n_layers, cfg.sample_steps
        dW = [np.zeros_like(w) for w in self.W]
        db = [np.zeros_like(v) for v in self.b]
        for k in range(points):
            rec: list[list[np.ndarray]] = []
            self.relax(drive, s_free, max(cfg.T2, K + 1), (target, (k + 0.5) / points),
                       None, rec)
            ss = [[rec[t + i % 2][i] for i in range(L)] for t in range(-K - 1, -1)]
            cost = np.array([0.5 * ((s[-1] - target) ** 2).sum(1) for s in ss])  # (K, batch)
            dc = cost - cost.mean(0)
            scale = 1.0 / ((K - 1) * temp * points)
            for i in range(L):
                full = [[X] + s for s in ss]
                dW[i] -= scale * sum((c[:, None] * f[i + 1]).T @ f[i]
                                     for f, c in zip(full, dc, strict=True))
                db[i] -= scale * sum((c[:, None] * f[i + 1]).sum(0)
                                     for f, c in zip(full, dc, strict=True))
        return dW, db, s_free
