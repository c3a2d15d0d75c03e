"""EP core in the Amaranth simulator against the golden model: every free state, nudged
state, prediction and weight after every sample, over random configs and weights."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from epfpga.hw.core import EPCore
from epfpga.model.config import EPConfig, get_config
from epfpga.model.golden import GoldenModel
from tests.hw.host import host_access
from tests.hw.streams import put
from tests.sw.model.test_golden import random_params


def random_hw_config(rng: np.random.Generator) -> EPConfig:
    nudge = str(rng.choice(["positive", "random_sign", "symmetric"]))
    algorithm = "cep" if nudge != "symmetric" and rng.random() < 0.4 else "ep"
    layers = [int(rng.integers(3, 10))]
    layers += [int(rng.integers(2, 7)) for _ in range(int(rng.integers(0, 3)))]
    layers.append(int(rng.integers(2, 5)))
    wb = int(rng.integers(8, 17))
    return EPConfig(
        layers=tuple(layers), act_frac=int(rng.integers(4, 9)), weight_bits=wb,
        weight_frac=int(rng.integers(wb // 2, wb - 1)), T1=int(rng.integers(1, 5)),
        T2=int(rng.integers(0, 4)), beta=float(rng.choice([1.0, 0.5, 0.25])), beta_frac=3,
        lrs=tuple(float(rng.uniform(0.05, 0.8)) for _ in range(len(layers) - 1)),
        rounding=str(rng.choice(["nearest", "stochastic"])), sr_bits=int(rng.integers(4, 17)),
        nudge=nudge, algorithm=algorithm, seed=int(rng.integers(0, 99)),
        part=str(rng.choice(["none", "up5k"])),  # up5k: single-port W0 schedule
        lanes=int(rng.choice([1, 2, 4])),
    )


async def send_sample(ctx, dut: EPCore, x, y: int, neg: int, train: int = 1) -> None:
    """The job, then the pixels (the core takes one per cycle)."""
    await put(ctx, dut.job, {"train": train, "neg": neg, "label": y})
    for p in x:
        await put(ctx, dut.pixels, int(p))


def run_core(cfg: EPConfig, W, b, samples, flip: tuple[int, int] | None = None,
             shared_mul: bool = True):
    """Train ``samples`` on the core; returns per-sample (pred, free, nudged, W, b) read
    back through the host port.  ``flip`` = (layer, index): corrupt one weight bit."""
    dut = EPCore(cfg, shared_mul=shared_mul)
    am = dut.amap
    out = []

    async def tb(ctx):
        async def write(region: int, offset: int, v: int) -> None:
            await host_access(ctx, dut.host, region, offset, v)

        async def read(region: int, offset: int) -> int:
            return await host_access(ctx, dut.host, region, offset)

        async def region(kind: str, layer: int, size: int) -> list[int]:
            return [await read(am.index(kind, layer), k) for k in range(size)]

        for layer in range(cfg.n_layers):
            w = W[layer].ravel().copy()
            if flip is not None and flip[0] == layer:
                w[flip[1]] ^= 1
            for k, v in enumerate(w):
                await write(am.index("W", layer), k, v)
            for k, v in enumerate(b[layer]):
                await write(am.index("b", layer), k, v)
        for x, y, neg, *train in samples:  # (x, y, neg[, train=True])
            await send_sample(ctx, dut, x, y, neg, int(train[0] if train else 1))
            ctx.set(dut.result.ready, 1)
            (pred,) = await ctx.tick().sample(dut.result.payload).until(dut.result.valid)
            ctx.set(dut.result.ready, 0)
            await ctx.tick()
            sizes = cfg.layers[1:]
            sym = cfg.nudge == "symmetric"  # "sp": the +beta end, "s": the -beta end
            out.append((
                pred,
                [await region("sf", lay, sizes[lay]) for lay in range(cfg.n_layers)],
                [await region("sp" if sym else "s", lay, sizes[lay])
                 for lay in range(cfg.n_layers)],
                [await region("s", lay, sizes[lay]) for lay in range(cfg.n_layers)
                 ] if sym else None,
                [await region("W", lay, W[lay].size) for lay in range(cfg.n_layers)],
                [await region("b", lay, sizes[lay]) for lay in range(cfg.n_layers)],
            ))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return out


def golden_run(cfg: EPConfig, W, b, xs, ys):
    g = GoldenModel(cfg, W, b)
    res, samples = [], []
    for x, y in zip(xs, ys, strict=True):
        tr = g.train_sample(x, y)
        samples.append((x, y, int(tr.beta_sign < 0)))
        res.append((tr.prediction, [v.tolist() for v in tr.free],
                    [v.tolist() for v in tr.nudged],
                    None if tr.nudged_neg is None else [v.tolist() for v in tr.nudged_neg],
                    [w.ravel().tolist() for w in g.W],
                    [v.tolist() for v in g.b]))
    return res, samples


def _inputs(cfg: EPConfig, rng: np.random.Generator, n: int):
    xs = [rng.integers(0, cfg.act_one + 1, cfg.layers[0]) * (rng.random(cfg.layers[0]) < 0.6)
          for _ in range(n)]
    ys = [int(rng.integers(0, cfg.layers[-1])) for _ in range(n)]
    return xs, ys


@pytest.mark.parametrize("seed", range(14))
def test_core_bit_exact_random_configs(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    cfg = random_hw_config(rng)
    W, b = random_params(cfg, rng)
    xs, ys = _inputs(cfg, rng, 4)
    want, samples = golden_run(cfg, W, b, xs, ys)
    got = run_core(cfg, W, b, samples, shared_mul=seed % 2 == 0)  # both multiplier plans
    for k, (g_, h_) in enumerate(zip(want, got, strict=True)):
        for name, a, c in zip(("prediction", "free", "nudged", "nudged -beta", "W", "b"), g_,
                              h_, strict=True):
            assert a == c, f"sample {k}: {name} differs (config {cfg})"


def test_single_flipped_weight_bit_is_detected() -> None:
    rng = np.random.default_rng(7)
    cfg = EPConfig(layers=(8, 5, 3), T1=4, T2=3, beta=0.5, beta_frac=3, lrs=(0.3, 0.3),
                   part="none")
    W, b = random_params(cfg, rng, sat_frac=0.0)
    xs, ys = _inputs(cfg, rng, 2)
    want, samples = golden_run(cfg, W, b, xs, ys)
    assert run_core(cfg, W, b, samples) == want
    got = run_core(cfg, W, b, samples, flip=(0, 3))
    assert got != want
    assert got[-1][4][0] != want[-1][4][0]  # the flipped weight shows up in W0


def test_inference_leaves_weights_alone() -> None:
    rng = np.random.default_rng(3)
    cfg = EPConfig(layers=(6, 4, 3), T1=3, T2=2, beta_frac=3, lrs=(0.5, 0.5), part="none")
    W, b = random_params(cfg, rng)
    g = GoldenModel(cfg, W, b)
    x = rng.integers(0, cfg.act_one + 1, 6)
    ((pred, free, _, _, W_after, b_after),) = run_core(cfg, W, b, [(x, 0, 0, False)])
    assert pred == g.infer(x)
    assert free == [v.tolist() for v in g.free_phase(x)]
    assert W_after == [w.ravel().tolist() for w in W]
    assert b_after == [v.tolist() for v in b]


@pytest.mark.parametrize("seed", range(4))
def test_inference_predictions_follow_training(seed: int) -> None:
    """Inference samples after trained ones, back to back: each prediction is that
    sample's argmax (inference ends right after the free phase, so a prediction that
    left before the last compare would repeat the previous sample's)."""
    rng = np.random.default_rng(100 + seed)
    cfg = random_hw_config(rng)
    W, b = random_params(cfg, rng)
    xs, ys = _inputs(cfg, rng, 8)
    _, trained = golden_run(cfg, W, b, xs[:2], ys[:2])
    g = GoldenModel(cfg, W, b)
    for x, y in zip(xs[:2], ys[:2], strict=True):
        g.train_sample(x, y)
    want = [g.infer(x) for x in xs[2:]]
    got = run_core(cfg, W, b, trained + [(x, 0, 0, False) for x in xs[2:]],
                   shared_mul=seed % 2 == 0)  # both plans (odd/even relaxation pipelines)
    assert [r[0] for r in got[2:]] == want


@pytest.mark.parametrize("change", [{"feedback": "separate", "correction": True},
                                    {"noise": 0.05}])
def test_core_refuses_variants_it_does_not_build(change: dict) -> None:
    from epfpga.errors import EpfpgaError

    cfg = get_config("tiny").replace(**change)
    with pytest.raises(EpfpgaError, match="does not implement"):
        EPCore(cfg)


@pytest.mark.parametrize("variant", [{"nudge": "symmetric"},
                                     {"algorithm": "cep", "nudge": "random_sign"}])
def test_core_seed_variants_bit_exact(variant: dict) -> None:
    """Symmetric nudge (+beta and -beta phases from the free states) and C-EP (updates
    after every nudged step, drive recomputed from the new W0) on a deeper net."""
    rng = np.random.default_rng(11)
    cfg = EPConfig(layers=(9, 5, 4, 3), T1=5, T2=4, beta=0.5, beta_frac=3,
                   lrs=(0.3, 0.2, 0.2), rounding="stochastic", part="none", **variant)
    W, b = random_params(cfg, rng)
    xs, ys = _inputs(cfg, rng, 5)
    want, samples = golden_run(cfg, W, b, xs, ys)
    assert run_core(cfg, W, b, samples) == want
    assert want[-1][4] != [w.ravel().tolist() for w in W]  # the weights did move


@pytest.mark.parametrize("rail", ["max", "min"])
def test_accumulators_at_their_worst_case(rail: str) -> None:
    """Every weight and bias on one rail, every pixel at 1.0: the pre-activations reach
    the worst case the core sizes its accumulators for (acc_bits_needed), and still
    match golden bit for bit."""
    cfg = EPConfig(layers=(12, 6, 3), weight_bits=10, weight_frac=6, T1=3, T2=2, beta=0.5,
                   beta_frac=3, lrs=(0.1, 0.1), rounding="nearest", part="none", lanes=2)
    v = cfg.weight_max if rail == "max" else cfg.weight_min
    W = [np.full((b_, a_), v, dtype=np.int64)
         for a_, b_ in zip(cfg.layers[:-1], cfg.layers[1:], strict=True)]
    b = [np.full(n, v, dtype=np.int64) for n in cfg.layers[1:]]
    xs = [np.full(cfg.layers[0], cfg.act_one)] * 2
    want, samples = golden_run(cfg, W, b, xs, [0, 2])
    assert run_core(cfg, W, b, samples) == want


def _train_cycles(cfg: EPConfig, x, shared_mul: bool, train: int = 1) -> int:
    """Cycles the core counts for one lone training (or inference) sample (weights at
    zero: the schedule does not depend on them)."""
    dut = EPCore(cfg, shared_mul=shared_mul)
    out = []

    async def tb(ctx):
        await send_sample(ctx, dut, x, 0, 0, train)
        ctx.set(dut.result.ready, 1)
        await ctx.tick().until(dut.result.valid)
        out.append(ctx.get(dut.cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return out[0]


@pytest.mark.parametrize("layers", [(16, 8, 4), (12, 8, 6, 4)])
def test_fast_plan_relaxes_odd_and_even_layers_side_by_side(layers: tuple) -> None:
    """Neither plan beats its chain bound (hw/bounds.py); the fast plan, whose odd and
    even layers relax at once, takes fewer cycles, and with one W_l in the relaxation
    fewer than the shared plan's bound (one read port per bank of W_l) allows."""
    from epfpga.hw.bounds import chain_bound

    cfg = get_config("tiny").replace(layers=layers, lrs=(0.05,) * (len(layers) - 1))
    x = np.arange(cfg.layers[0]) % 3  # two thirds non-zero
    nnz = int(np.count_nonzero(x))
    shared, fast = _train_cycles(cfg, x, True), _train_cycles(cfg, x, False)
    assert shared >= chain_bound(cfg, nnz, True, shared_mul=True)
    assert fast >= chain_bound(cfg, nnz, True, shared_mul=False)
    assert fast < shared
    if cfg.n_layers == 2:
        assert fast < chain_bound(cfg, nnz, True, shared_mul=True)


@pytest.mark.parametrize("seed", range(6))
def test_fast_plan_streams_samples_with_the_next_drive_precomputed(seed: int) -> None:
    """Samples streamed back to back, training and inference mixed: the loader takes the
    next sample's pixels while the FSM runs the current one, and (except with C-EP) the
    next sample's input drive is computed while this one relaxes and corrected by its
    W0 update.  Every prediction and the final weights and biases match golden; the
    results come closer together than the FSM's busy cycles for a lone sample minus its
    drive (both the load and the drive are hidden), C-EP's minus nothing."""
    from epfpga.hw.layout import has_predrive

    rng = np.random.default_rng(300 + seed)
    layers = (24, 6, 3) if seed % 2 else (20, 5, 4, 3)
    # (T1 long enough that a relaxation outlasts the next sample's drive, as on MNIST)
    cfg = random_hw_config(rng).replace(layers=layers, lrs=(0.3,) * (len(layers) - 1),
                                        algorithm="cep" if seed == 5 else "ep", T1=20)
    if cfg.algorithm == "cep" and cfg.nudge == "symmetric":
        cfg = cfg.replace(nudge="positive")
    W, b = random_params(cfg, rng)
    xs, ys = _inputs(cfg, rng, 6)
    train = [1, 1, 0, 1, 0, 1]
    g = GoldenModel(cfg, W, b)
    want, samples = [], []
    for x, y, tr in zip(xs, ys, train, strict=True):
        if tr:
            r = g.train_sample(x, y)
            want.append(r.prediction)
            samples.append((x, y, int(r.beta_sign < 0), 1))
        else:
            want.append(g.infer(x))
            samples.append((x, 0, 0, 0))
    dut = EPCore(cfg, shared_mul=False)
    am = dut.amap
    preds, at, weights, biases, clock = [], [], [], [], [0]

    async def count(ctx):
        async for _ in ctx.tick():
            clock[0] += 1

    async def host(ctx, region: int, offset: int, v: int | None = None) -> int | None:
        return await host_access(ctx, dut.host, region, offset, v)

    async def feed(ctx):
        for layer in range(cfg.n_layers):
            for k, v in enumerate(W[layer].ravel()):
                await host(ctx, am.index("W", layer), k, v)
            for k, v in enumerate(b[layer]):
                await host(ctx, am.index("b", layer), k, v)
        for x, y, neg, tr in samples:
            await send_sample(ctx, dut, x, y, neg, tr)

    async def collect(ctx):
        ctx.set(dut.result.ready, 1)
        for _ in samples:
            (pred,) = await ctx.tick().sample(dut.result.payload).until(dut.result.valid)
            preds.append(pred)
            at.append(clock[0])
        ctx.set(dut.result.ready, 0)
        await ctx.tick().repeat(4)
        for layer in range(cfg.n_layers):
            weights.append([await host(ctx, am.index("W", layer), k)
                            for k in range(W[layer].size)])
            biases.append([await host(ctx, am.index("b", layer), k)
                           for k in range(cfg.layers[layer + 1])])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(collect)
    sim.add_testbench(count, background=True)
    sim.run()
    assert preds == want
    assert weights == [w.ravel().tolist() for w in g.W]
    assert biases == [v.tolist() for v in g.b]
    groups = -(-cfg.layers[1] // cfg.lanes)
    for k in range(1, len(xs)):  # clock cycles between results against the FSM's own
        busy = _train_cycles(cfg, xs[k], shared_mul=False, train=train[k])
        drive = groups * (int(np.count_nonzero(xs[k])) + 1)  # its drive loop's entries
        hidden = drive if has_predrive(cfg, True) else 0
        assert at[k] - at[k - 1] <= busy + 3 - hidden < busy + cfg.layers[0]
