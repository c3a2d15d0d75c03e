"""Golden model against (1) an independent per-neuron Python-int implementation written
from the spec in docs/numerics.md and (2) the float reference within the derived
quantization bound."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from epfpga.model.reference import FloatEP

# ------------------------------------------------------------------ the independent model


def spec_lfsr(state: int) -> int:
    # x^32 feedback mask 0xA3000000, Galois, shifting right; written out bit by bit
    out = state >> 1
    if state % 2 == 1:
        out ^= 0xA3000000
    return out


def spec_round(v: int, shift: int) -> int:
    """v / 2**shift rounded half up, using exact rational comparison."""
    q, r = divmod(v, 2**shift)  # floor division: r in [0, 2**shift)
    return q + 1 if 2 * r >= 2**shift else q


class SpecModel:
    """Explicit loops over neurons and synapses with Python integers, for every variant:
    separate feedback weights and the non-conservative correction, LFSR noise with
    sampled-phase averaging, C-EP."""

    def __init__(self, cfg: EPConfig, W: list[np.ndarray], b: list[np.ndarray], lfsr: list[int],
                 sign_lfsr: int, B: list[np.ndarray] | None = None, noise_lfsr: int = 0):
        self.cfg = cfg
        self.W = [[[int(v) for v in row] for row in w] for w in W]
        self.b = [[int(v) for v in bb] for bb in b]
        self.B = [[[int(v) for v in row] for row in m] for m in (B or [])]
        self.lfsr = list(lfsr)
        self.sign_lfsr = sign_lfsr
        self.noise_lfsr = noise_lfsr

    def rho(self, acc: int) -> int:
        v = spec_round(acc, self.cfg.weight_frac)
        return min(max(v, 0), 2**self.cfg.act_frac)

    def fb(self, layer: int, k: int, i: int) -> int:
        """Top-down weight from unit k of state layer layer+1 to unit i of layer."""
        return self.B[layer - 1][k][i] if self.cfg.feedback == "separate" else \
            self.W[layer][k][i]

    def step(self, x, s, target=None, beta_q=0, anchor=None):
        cfg, L, F = self.cfg, self.cfg.n_layers, self.cfg.act_frac
        below = [x] + s
        noise = []
        q = cfg.noise_q
        for _ in range(sum(cfg.layers[1:]) if q else 0):
            self.noise_lfsr = spec_lfsr(self.noise_lfsr)
            noise.append((self.noise_lfsr % 2**16) * (2 * q + 1) // 2**16 - q)
        new = []
        u = 0
        for layer in range(1, L + 1):
            vals = []
            for i in range(cfg.layers[layer]):
                acc = self.b[layer - 1][i] * 2**F
                for j, xj in enumerate(below[layer - 1]):
                    acc += self.W[layer - 1][i][j] * xj
                if layer < L:
                    for k, sk in enumerate(s[layer]):
                        acc += self.fb(layer, k, i) * sk
                if anchor is not None:  # (J^T - J)(s - s*), synapse by synapse
                    if layer >= 2:
                        for j in range(cfg.layers[layer - 1]):
                            acc += (self.fb(layer - 1, i, j) - self.W[layer - 1][i][j]) * (
                                s[layer - 2][j] - anchor[layer - 2][j])
                    if layer < L:
                        for k in range(cfg.layers[layer + 1]):
                            acc += (self.W[layer][k][i] - self.fb(layer, k, i)) * (
                                s[layer][k] - anchor[layer][k])
                if layer == L and target is not None:
                    acc += (target[i] - s[L - 1][i]) * beta_q * 2**(cfg.weight_frac
                                                                  - cfg.beta_frac)
                if noise:
                    acc += noise[u]
                u += 1
                vals.append(self.rho(acc))
            new.append(vals)
        return new

    def relax(self, x, s, n, target=None, beta_q=0, anchor=None):
        """All states after each of the n steps."""
        out = []
        for _ in range(n):
            s = self.step(x, s, target, beta_q, anchor)
            out.append(s)
        return out

    def round_update(self, prod: int, r: int | None, e: int) -> int:
        sh = self.cfg.update_shift + e
        if r is None:
            return spec_round(prod, sh)
        sr = self.cfg.sr_bits
        off = r * 2**(sh - sr) if sh >= sr else r // 2**(sr - sh)
        return (prod + off) // 2**sh

    def sat(self, v: int) -> int:
        return min(max(v, self.cfg.weight_min), self.cfg.weight_max)

    def draw(self, layer: int, n_out: int, n_in: int):
        if self.cfg.rounding != "stochastic":
            return None, None
        rows, cols = [], []
        for _ in range(n_out):
            self.lfsr[layer] = spec_lfsr(self.lfsr[layer])
            rows.append(self.lfsr[layer] % 2**self.cfg.sr_bits)
        for _ in range(n_in + 1):
            self.lfsr[layer] = spec_lfsr(self.lfsr[layer])
            cols.append(self.lfsr[layer] % 2**self.cfg.sr_bits)
        return rows, cols

    def update(self, hi, lo, ref, sign):
        """hi, lo: lists of sampled full states (input first); ref: free full state."""
        cfg = self.cfg
        one = 2**cfg.act_frac
        e = (len(hi) - 1).bit_length()
        sep = cfg.feedback == "separate"
        for layer in range(cfg.n_layers):
            n_out, n_in = cfg.layers[layer + 1], cfg.layers[layer]
            k = sign * cfg.update_q[layer]
            rows, cols = self.draw(layer, n_out, n_in)
            for i in range(n_out):
                for j in range(n_in + 1):  # column n_in is the bias (input fixed at 1.0)
                    if j == n_in:
                        prod = sum(h[layer + 1][i] * one for h in hi) - sum(
                            m[layer + 1][i] * one for m in lo)
                    elif sep:
                        prod = (sum(h[layer + 1][i] for h in hi) - sum(
                            m[layer + 1][i] for m in lo)) * ref[layer][j]
                    else:
                        prod = sum(h[layer + 1][i] * h[layer][j] for h in hi) - sum(
                            m[layer + 1][i] * m[layer][j] for m in lo)
                    r = None if rows is None else rows[i] ^ cols[j]
                    d = self.round_update(prod * k, r, e)
                    if j < n_in:
                        self.W[layer][i][j] = self.sat(self.W[layer][i][j] + d)
                    else:
                        self.b[layer][i] = self.sat(self.b[layer][i] + d)
            if sep and layer >= 1:  # B: from unit i of layer+1 down to unit j of layer
                rows, cols = self.draw(layer, n_out, n_in)
                for i in range(n_out):
                    for j in range(n_in):
                        prod = ref[layer + 1][i] * (sum(h[layer][j] for h in hi) - sum(
                            m[layer][j] for m in lo))
                        r = None if rows is None else rows[i] ^ cols[j]
                        B = self.B[layer - 1]
                        B[i][j] = self.sat(B[i][j] + self.round_update(prod * k, r, e))

    def train(self, x, y):
        cfg = self.cfg
        x = [int(v) for v in x]
        sign = 1
        if cfg.nudge == "random_sign":
            self.sign_lfsr = spec_lfsr(self.sign_lfsr)
            sign = -1 if self.sign_lfsr & 1 else 1
        K = cfg.sample_steps or 1
        s0 = [[0] * n for n in cfg.layers[1:]]
        free_all = self.relax(x, s0, cfg.T1)
        free = free_all[-1]
        target = [2**cfg.act_frac if i == y else 0 for i in range(cfg.layers[-1])]
        anchor = free if cfg.correction else None
        bq = sign * cfg.beta_q
        ref = [x] + free
        if cfg.algorithm == "cep":
            s = free
            for _ in range(cfg.T2):
                (s_new,) = self.relax(x, s, 1, target, bq, anchor)
                self.update([[x] + s_new], [[x] + s], ref, sign)
                s = s_new
            return free, s, int(np.argmax(free[-1]))
        plus_all = self.relax(x, free, cfg.T2, target, bq, anchor)
        if cfg.nudge == "symmetric":
            minus_all = self.relax(x, free, cfg.T2, target, -bq, anchor)
        else:
            minus_all = free_all
        self.update([[x] + v for v in plus_all[-K:]], [[x] + v for v in minus_all[-K:]],
                    ref, sign)
        return free, plus_all[-1], int(np.argmax(free[-1]))


# ------------------------------------------------------------------ random configs

def random_config(rng: np.random.Generator) -> EPConfig:
    n_hidden = int(rng.integers(1, 3))
    layers = [int(rng.integers(3, 12))] + [int(rng.integers(2, 9)) for _ in range(n_hidden)]
    layers.append(int(rng.integers(2, 6)))
    wb = int(rng.integers(8, 17))
    return EPConfig(
        layers=tuple(layers), act_frac=int(rng.integers(4, 9)), weight_bits=wb,
        weight_frac=int(rng.integers(wb // 2, wb - 1)), T1=int(rng.integers(1, 7)),
        T2=int(rng.integers(1, 5)), beta=float(rng.choice([1.0, 0.5, 0.25, 0.125])),
        beta_frac=int(rng.integers(3, 5)),
        lrs=tuple(float(rng.uniform(0.01, 0.5)) for _ in range(len(layers) - 1)),
        rounding=str(rng.choice(["nearest", "stochastic"])), sr_bits=int(rng.integers(4, 17)),
        nudge=str(rng.choice(["positive", "random_sign", "symmetric"])),
        seed=int(rng.integers(0, 1000)), part="none", lanes=1,
    )


def random_variant_config(rng: np.random.Generator) -> EPConfig:
    """A random config with a random seed variant switched on."""
    cfg = random_config(rng)
    variant = rng.choice(["cep", "separate", "corrected", "noise"])
    if variant == "cep":
        nudge = "positive" if cfg.nudge == "symmetric" else cfg.nudge
        return cfg.replace(algorithm="cep", nudge=nudge)
    if variant in ("separate", "corrected"):
        return cfg.replace(feedback="separate", correction=variant == "corrected",
                           acc_bits=48)
    steps = int(2 ** rng.integers(1, 3))
    return cfg.replace(noise=float(rng.uniform(0.01, 0.2)), T1=max(cfg.T1, steps),
                       T2=max(cfg.T2, steps), sample_steps=steps)


def random_params(cfg: EPConfig, rng: np.random.Generator, sat_frac: float = 0.1):
    W, b = [], []
    for n_in, n_out in zip(cfg.layers[:-1], cfg.layers[1:], strict=True):
        w = rng.integers(cfg.weight_min // 2, cfg.weight_max // 2 + 1, size=(n_out, n_in))
        edge = rng.random(w.shape) < sat_frac  # some weights at the rails: saturation paths
        w[edge] = rng.choice([cfg.weight_min, cfg.weight_max], size=int(edge.sum()))
        W.append(w.astype(np.int64))
        b.append(rng.integers(cfg.weight_min // 4, cfg.weight_max // 4 + 1, size=n_out))
    return W, b


@pytest.mark.parametrize("seed", range(12))
def test_golden_matches_per_neuron_spec(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = random_config(rng)
    W, b = random_params(cfg, rng)
    g = GoldenModel(cfg, W, b)
    spec = SpecModel(cfg, W, b, g.lfsr, g.sign_lfsr)
    for _ in range(6):
        x = rng.integers(0, cfg.act_one + 1, size=cfg.layers[0])
        x[rng.random(x.shape) < 0.4] = 0  # sparse like MNIST: exercises zero skipping
        y = int(rng.integers(0, cfg.layers[-1]))
        trace = g.train_sample(x, y)
        free, plus, pred = spec.train(x, y)
        assert [list(v) for v in trace.free] == free
        assert [list(v) for v in trace.nudged] == plus
        assert trace.prediction == pred
        for layer in range(cfg.n_layers):
            assert g.W[layer].tolist() == spec.W[layer]
            assert g.b[layer].tolist() == spec.b[layer]
    assert g.lfsr == spec.lfsr


@pytest.mark.parametrize("seed", range(24))
def test_golden_variants_match_per_neuron_spec(seed: int) -> None:
    """C-EP, separate feedback with and without the correction, noisy sampled phases:
    every state, prediction and weight (B included) equal to the explicit loops."""
    rng = np.random.default_rng(100 + seed)
    cfg = random_variant_config(rng)
    W, b = random_params(cfg, rng)
    B = [rng.integers(cfg.weight_min // 2, cfg.weight_max // 2 + 1, size=w.shape)
         for w in W[1:]] if cfg.feedback == "separate" else None
    g = GoldenModel(cfg, W, b, B)
    spec = SpecModel(cfg, W, b, g.lfsr, g.sign_lfsr, B, g.noise_lfsr)
    for _ in range(4):
        x = rng.integers(0, cfg.act_one + 1, size=cfg.layers[0])
        x[rng.random(x.shape) < 0.4] = 0
        y = int(rng.integers(0, cfg.layers[-1]))
        trace = g.train_sample(x, y)
        free, nudged, pred = spec.train(x, y)
        assert [list(v) for v in trace.free] == free, cfg
        assert [list(v) for v in trace.nudged] == nudged, cfg
        assert trace.prediction == pred
        for layer in range(cfg.n_layers):
            assert g.W[layer].tolist() == spec.W[layer], (cfg, layer)
            assert g.b[layer].tolist() == spec.b[layer], (cfg, layer)
        assert [m.tolist() for m in g.B] == spec.B, cfg
    assert g.lfsr == spec.lfsr and g.noise_lfsr == spec.noise_lfsr


def test_update_is_nonzero_and_saturates() -> None:
    """The spec comparison above must not pass vacuously: updates really happen and the
    rails are really hit."""
    rng = np.random.default_rng(5)
    cfg = EPConfig(layers=(6, 4, 3), act_frac=6, weight_bits=8, weight_frac=5, T1=4, T2=3,
                   beta=1.0, beta_frac=2, lrs=(2.0, 2.0), rounding="nearest", part="none")
    W, b = random_params(cfg, rng, sat_frac=0.5)
    g = GoldenModel(cfg, W, b)
    before = [w.copy() for w in g.W]
    for _ in range(20):
        g.train_sample(rng.integers(0, cfg.act_one + 1, size=6), int(rng.integers(0, 3)))
    assert any((a != c).any() for a, c in zip(before, g.W, strict=True))
    assert any((w == cfg.weight_max).any() or (w == cfg.weight_min).any() for w in g.W)


def test_infer_batch_equals_online_free_phase() -> None:
    rng = np.random.default_rng(1)
    cfg = random_config(rng)
    g = GoldenModel(cfg, *random_params(cfg, rng))
    X = rng.integers(0, cfg.act_one + 1, size=(25, cfg.layers[0]))
    assert g.infer_batch(X).tolist() == [g.infer(x) for x in X]


def test_golden_tracks_float_within_quantization_bound() -> None:
    """Free phase of the same (quantized) weights: golden states stay within the bound.

    Each step adds at most half an LSB of activation rounding; the error propagates
    through a layer at most by the l1 norm of the weight rows (a Lipschitz bound of
    clip-linear maps), so e_{t+1} <= ||W||_1 e_t + 2**-(act_frac+1).
    """
    rng = np.random.default_rng(3)
    cfg = EPConfig(layers=(30, 12, 5), act_frac=10, weight_bits=16, weight_frac=12, T1=15,
                   T2=5, part="none")
    g = GoldenModel(cfg)
    Wf = [w / 2**cfg.weight_frac for w in g.W]
    bf = [v / 2**cfg.weight_frac for v in g.b]
    f = FloatEP(cfg, Wf, bf)
    lip = max(max(np.abs(w).sum(1).max(), np.abs(w).sum(0).max()) for w in Wf) * 2
    bound = 0.0
    for _ in range(cfg.T1):
        bound = lip * bound + 2.0 ** -(cfg.act_frac + 1)
    for _ in range(10):
        xq = rng.integers(0, cfg.act_one + 1, size=30)
        sg = g.free_phase(xq)
        sf = f.free_phase(xq[None, :] / cfg.act_one)
        err = max(np.abs(a / cfg.act_one - c[0]).max() for a, c in zip(sg, sf, strict=True))
        assert err <= bound + 1e-12
        assert err < 0.02  # and the bound is not vacuous for this net


def test_ep_update_direction_matches_float() -> None:
    """Over many samples the golden weight change follows the float EP update."""
    cfg = EPConfig(layers=(20, 10, 4), T1=20, T2=8, beta=0.5, lrs=(0.05, 0.05),
                   rounding="stochastic", part="none")
    rng = np.random.default_rng(0)
    g = GoldenModel(cfg)
    f = FloatEP(cfg, [w / 2**cfg.weight_frac for w in g.W],
                [v / 2**cfg.weight_frac for v in g.b])
    W0g = [w.copy() for w in g.W]
    W0f = [w.copy() for w in f.W]
    for _ in range(200):
        xq = rng.integers(0, cfg.act_one + 1, size=20)
        y = int(rng.integers(0, 4))
        g.train_sample(xq, y)
        f.train_batch(xq[None, :] / cfg.act_one, np.array([y]))
    for layer in range(2):
        dg = (g.W[layer] - W0g[layer]).ravel() / 2**cfg.weight_frac
        df = (f.W[layer] - W0f[layer]).ravel()
        cos = dg @ df / (np.linalg.norm(dg) * np.linalg.norm(df))
        assert cos > 0.95, (layer, cos)


def test_bad_inputs_are_refused() -> None:
    cfg = EPConfig(layers=(4, 3, 2), part="none")
    g = GoldenModel(cfg)
    with pytest.raises(ValueError, match="4 values"):
        g.train_sample(np.zeros(5, dtype=np.int64), 0)
    with pytest.raises(ValueError, match="label"):
        g.train_sample(np.zeros(4, dtype=np.int64), 2)
    with pytest.raises(TypeError):
        g.infer(np.zeros(4))
    with pytest.raises(ValueError, match="input values"):
        g.infer(np.full(4, cfg.act_one + 1))
    with pytest.raises(ValueError, match="shape"):
        GoldenModel(cfg, [np.zeros((3, 3), np.int64), np.zeros((2, 3), np.int64)],
                    [np.zeros(3, np.int64), np.zeros(2, np.int64)])
