"""The predrive's correction alone: the update's entries of random row groups (an
opening, columns, the bias) with random correction terms at stage 6, in front of a drive
memory of random words.  Each group's drive word must be rewritten once, at its last
entry, as the old word plus, per lane, the terms of every entry after the opening,
worked here with integers modulo the accumulator width; nothing is written or read
while ``run`` is low; the pixel and drive read addresses follow the column, the pixel
bank and the drive bank."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory

from epfpga.hw.core.group_issue import group_entry_layout
from epfpga.hw.core.predrive_correction import PredriveCorrection
from epfpga.hw.layout import acc_width, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked
from tests.hw.words import lane_of


@pytest.mark.parametrize("seed", range(6))
def test_each_group_drive_gains_its_entries_terms(seed: int) -> None:
    rng = np.random.default_rng(700 + seed)
    cfg = small_config(rng, part="ecp5", lanes=(1, 2, 4)[seed % 3])
    plan = make_plan(cfg, shared_mul=False)
    P, aw, n0 = cfg.lanes, acc_width(cfg), cfg.layers[0]
    groups = words(cfg.layers[1], P)
    d_depth, d_width = plan.memory("drive")
    entry = group_entry_layout(groups, 64)
    m = Module()
    m.submodules.dut = dut = PredriveCorrection(plan, entry, 10)
    init = [sum(int(rng.integers(0, 1 << aw)) << (aw * k) for k in range(P))
            for _ in range(d_depth)]
    m.submodules.drive = mem = Memory(shape=d_width, depth=d_depth, init=init)
    rp, wp = mem.read_port(), mem.write_port()
    u5 = Signal(entry)
    m.d.sync += dut.entries[1].eq(u5)  # stage 6 is stage 5 a cycle on
    m.d.comb += [dut.entries[0].eq(u5), rp.addr.eq(dut.drive.addr),
                 dut.drive.data.eq(rp.data), wp.addr.eq(dut.drive_write.addr),
                 wp.data.eq(dut.drive_write.data), wp.en.eq(dut.drive_write.en)]
    base = int(rng.integers(0, 2)) * groups  # the predrive's drive bank
    bank = int(rng.integers(0, 2))
    order = [int(g) for g in rng.permutation(groups)]
    span = 1 << (aw - 2)
    plan_entries = []  # (group, first, last, terms) per cycle the entry reaches stage 6
    for g in order:
        cols = int(rng.integers(0, n0 + 1))
        for e in range(cols + 2):
            terms = [int(v) for v in rng.integers(-span, span, P)]
            plan_entries.append((g, e == 0, e == cols + 1, terms))
    writes = []

    async def tb(ctx):
        ctx.set(dut.bank, bank)
        ctx.set(dut.drive_base, base)
        ctx.set(dut.run, 0)  # not running: nothing written
        ctx.set(u5, {"v": 1, "first": 0, "last": 1, "g": 0, "gb": 0})
        for _ in range(3):
            await ctx.tick()
            assert not ctx.get(dut.drive_write.en)
        ctx.set(u5, {"v": 0, "first": 0, "last": 0, "g": 0, "gb": 0})
        await ctx.tick()
        ctx.set(dut.run, 1)
        queue, prev = list(plan_entries), None
        while queue or prev is not None:
            col = int(rng.integers(0, n0))
            ctx.set(dut.column, col)
            assert ctx.get(dut.x_addr) == bank * n0 + col
            # stage 6: the terms of the entry at stage 5 the cycle before (else noise)
            terms = prev[3] if prev else [int(v) for v in rng.integers(-span, span, P)]
            ctx.set(dut.terms, terms)
            prev = None
            if queue and rng.random() < 0.8:  # else a bubble: no valid entry
                g, first, last, _ = prev = queue.pop(0)
                ctx.set(u5, {"v": 1, "first": first, "last": last, "g": g, "gb": 0})
                assert ctx.get(dut.drive.addr) == base + g
            else:
                ctx.set(u5, {"v": 0, "first": 0, "last": 1, "g": 0, "gb": 0})
            if ctx.get(dut.drive_write.en):
                writes.append((ctx.get(dut.drive_write.addr), ctx.get(dut.drive_write.data)))
            await ctx.tick()
        if ctx.get(dut.drive_write.en):
            writes.append((ctx.get(dut.drive_write.addr), ctx.get(dut.drive_write.data)))
        ctx.set(dut.run, 0)
        await ctx.tick()
        assert not ctx.get(dut.drive_write.en)

    run_clocked(m, tb)
    mask = (1 << aw) - 1
    want = []
    for g in order:
        mine = [e for e in plan_entries if e[0] == g]
        old = [lane_of(init[base + g], k, aw) for k in range(P)]
        fixed = [(old[k] + sum(e[3][k] for e in mine[1:])) & mask for k in range(P)]
        want.append((base + g, fixed))
    assert [(a, [lane_of(d, k, aw) for k in range(P)]) for a, d in writes] == want
