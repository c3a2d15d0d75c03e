"""PixelLoader alone: jobs and pixels with random stalls, the core releasing banks at
random times; each bank's X, NZ, job and non-zero count against the sample it holds."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from epfpga.hw.core.pixel_loader import PixelLoader
from tests.hw.configs import small_config
from tests.hw.streams import put


@pytest.mark.parametrize("seed", range(3))
def test_loader_fills_banks_in_turn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng)
    n0, top = cfg.layers[0], (1 << cfg.act_bits) - 1
    samples = [(rng.integers(0, 2, n0) * rng.integers(0, top + 1, n0), int(rng.integers(0, 2)),
                int(rng.integers(0, cfg.layers[-1]))) for _ in range(8)]
    dut = PixelLoader(cfg)
    m = Module()
    m.submodules.dut = dut
    m.submodules.x = x = Memory(shape=cfg.act_bits, depth=2 * n0, init=[])
    m.submodules.nz = nz = Memory(shape=max(1, n0.bit_length()), depth=2 * n0, init=[])
    wiring.connect(m, dut.x_write, x.write_port())
    wiring.connect(m, dut.nz_write, nz.write_port())
    seen = []

    async def feed(ctx):
        for px, train, label in samples:
            await put(ctx, dut.job, {"train": train, "neg": 0, "label": label})
            for p in px:
                await put(ctx, dut.pixels, int(p), (rng, 0.3))  # the link has gaps

    async def core(ctx):
        for _ in samples:
            await ctx.tick().until(dut.cur.full)
            bank = ctx.get(dut.bank)
            cur = ctx.get(dut.cur)
            count = cur.nnz
            base = bank * n0
            seen.append(([ctx.get(x.data[base + j]) for j in range(n0)],
                         [ctx.get(nz.data[base + j]) for j in range(count)],
                         cur.job.train, cur.job.label))
            for _ in range(int(rng.integers(0, 3 * n0))):  # the sample runs
                await ctx.tick()
            ctx.set(dut.release, 1)
            await ctx.tick()
            ctx.set(dut.release, 0)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(core)
    sim.run()
    assert len(seen) == len(samples)
    for (px, train, label), (xs, cols, t, lab) in zip(samples, seen, strict=True):
        assert xs == [int(p) for p in px]
        assert cols == [int(j) for j in np.flatnonzero(px)]
        assert (t, lab) == (train, label)
