"""The predrive (hw/core/predrive.py) alone, on random fast-plan configs: W0, b0, the
pixels and their non-zero list in memories as the core holds them (skewed W0 banks,
packed b0, the second pixel bank), the memories' and the core's read registers modelled;
every group's drive it writes against b0 << act_frac + W0 x computed with integers, then
``void`` and ``take`` clearing ``done``."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib.memory import Memory

from epfpga.hw.core.predrive import Predrive
from epfpga.hw.layout import acc_width, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


def _harness(plan, W0, b0, x):
    cfg, P = plan.cfg, plan.cfg.lanes
    n0, wb = cfg.layers[0], cfg.weight_bits
    m = Module()
    m.submodules.dut = dut = Predrive(plan)
    lay = dut.w0
    nz = [int(j) for j in np.flatnonzero(x)]
    # the predrive reads the pixel bank the core does not: bank 1 (fsm_bank = 0)
    nz_init = [0] * n0 + nz + [0] * (n0 - len(nz))
    x_init = [0] * n0 + [int(v) for v in x]
    mask = (1 << wb) - 1
    b_words = [sum((int(b0[g * P + k]) & mask) << (wb * k) for k in range(P)
                   if g * P + k < len(b0)) for g in range(words(len(b0), P))]
    m.submodules.nz = nzm = Memory(shape=max(1, n0.bit_length()), depth=2 * n0, init=nz_init)
    m.submodules.x = xm = Memory(shape=cfg.act_bits, depth=2 * n0, init=x_init)
    m.submodules.b0 = bm = Memory(shape=P * wb, depth=len(b_words), init=b_words)
    nzr, xr, br = nzm.read_port(), xm.read_port(), bm.read_port()
    m.d.comb += [nzr.addr.eq(dut.nz_addr), xr.addr.eq(dut.x_addr), br.addr.eq(dut.b_addr),
                 dut.nz_data.eq(nzr.data), dut.b_data.eq(br.data)]
    x_d = Signal.like(xr.data)  # the core registers the pixel and the weights once more
    m.d.sync += x_d.eq(xr.data)
    m.d.comb += dut.x_data.eq(x_d)
    wq = []
    for b, bank in enumerate(lay.banks(W0)):
        m.submodules[f"w{b}"] = wm = Memory(shape=wb, depth=lay.depth,
                                            init=[int(v) & mask for v in bank])
        wr = wm.read_port()
        q = Signal(wb)
        m.d.comb += wr.addr.eq(dut.w_addr[b])
        m.d.sync += q.eq(wr.data)
        wq.append(q)
    m.d.comb += dut.w_data.eq(Cat(*wq))
    return m, dut, len(nz)


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
