"""The predrive (hw/core/predrive.py) alone, on random fast-plan configs: W0, b0, the
pixels and their non-zero list in memories as the core holds them (skewed W0 banks,
packed b0, the second pixel bank), the memories' and the core's read registers modelled;
every group's drive it writes against b0 << act_frac + W0 x computed with integers, then
``void`` and ``take`` clearing ``done``."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Cat, Module

from epfpga.hw.core.predrive import Predrive
from epfpga.hw.layout import acc_width, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.drive_memories import drive_memories
from tests.hw.simulate import run_clocked


def _harness(plan, W0, b0, x):
    m = Module()
    m.submodules.dut = dut = Predrive(plan)
    # the predrive reads the pixel bank the core does not: bank 1 (fsm_bank = 0)
    mem = drive_memories(m, plan, W0, b0, x, bank=1)
    m.d.comb += [mem.nz.addr.eq(dut.nz_addr), mem.x.addr.eq(dut.x_addr),
                 mem.b.addr.eq(dut.b_addr), dut.nz_data.eq(mem.nz.data),
                 dut.b_data.eq(mem.b.data), dut.x_data.eq(mem.x_d),
                 dut.w_data.eq(Cat(*mem.wq))]
    m.d.comb += [r.addr.eq(dut.w_addr[b]) for b, r in enumerate(mem.w)]
    return m, dut, mem.nnz


@pytest.mark.parametrize("seed", range(5))
def test_predrive_writes_the_next_samples_drive(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng, part="ecp5")
    plan = make_plan(cfg, shared_mul=False)
    P, n0, n1 = cfg.lanes, cfg.layers[0], cfg.layers[1]
    W0 = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n1, n0))
    b0 = rng.integers(cfg.weight_min, cfg.weight_max + 1, n1)
    x = rng.integers(0, cfg.act_one + 1, n0) * (rng.random(n0) < (0.0 if seed == 0 else 0.5))
    m, dut, nnz = _harness(plan, W0, b0, x)
    aw = acc_width(cfg)
    writes: dict[int, list[int]] = {}
    cleared = []

    async def tb(ctx):
        ctx.set(dut.next_full, 1)
        ctx.set(dut.next_nnz, nnz)
        ctx.set(dut.may, 1)
        await ctx.tick()
        ctx.set(dut.may, 0)
        assert ctx.get(dut.run) and ctx.get(dut.bank) == 1
        for _ in range(20 * (nnz + 2) * (n1 + 1)):
            if ctx.get(dut.d_write):
                word = ctx.get(dut.d_data)
                lanes = [(word >> (aw * k)) & ((1 << aw) - 1) for k in range(P)]
                writes[ctx.get(dut.d_group)] = [v - (1 << aw) if v >> (aw - 1) else v
                                                for v in lanes]
            await ctx.tick()
            if ctx.get(dut.done):
                break
        assert ctx.get(dut.done) and not ctx.get(dut.run)
        for clear in (dut.void, dut.take):
            ctx.set(clear, 1)
            await ctx.tick()
            ctx.set(clear, 0)
            cleared.append(ctx.get(dut.done))
            # done again: start, finish (may is raised until it runs)
            ctx.set(dut.may, 1)
            await ctx.tick().until(dut.done)
            ctx.set(dut.may, 0)

    run_clocked(m, tb)
    want = W0 @ x + (b0 << cfg.act_frac)
    got = [writes[g][k] for g in range(words(n1, P)) for k in range(P) if g * P + k < n1]
    assert sorted(writes) == list(range(words(n1, P)))
    assert got == want.tolist()
    assert cleared == [0, 0]
