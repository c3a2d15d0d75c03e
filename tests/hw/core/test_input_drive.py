"""The input drive (hw/core/input_drive.py) alone on both multiplier plans and random
configs: with the row-group issue, the accumulators (and the shared plan's pool) it
borrows from the core, W0, b0 and the pixels in memories as the core holds them
(tests/hw/drive_memories.py), every group's P drives against b0 << act_frac + W0 x
computed with integers, blank samples (no non-zero pixel) included."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Signal, signed

from epfpga.hw.core.accumulators import Accumulators
from epfpga.hw.core.group_issue import GroupIssue
from epfpga.hw.core.input_drive import InputDrive
from epfpga.hw.core.multipliers import MultiplierPool
from epfpga.hw.core.shapes import multiplier_shape
from epfpga.hw.layout import acc_width, weight_layouts, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.drive_memories import drive_memories
from tests.hw.simulate import run_clocked


def _harness(plan, W0, b0, x):
    cfg, P = plan.cfg, plan.cfg.lanes
    geo = weight_layouts(cfg)
    m = Module()
    col = 8
    m.submodules.issue = issue = GroupIssue(
        [(g.groups, P * g.words) for g in geo], max(g.depth for g in geo), (6, col),
        drain_u6=False)
    m.submodules.dut = dut = InputDrive(plan, col, issue.entry)
    m.submodules.accu = accu = Accumulators(P, signed(acc_width(cfg)))
    mem = drive_memories(m, plan, W0, b0, x, bank=0)
    run = Signal()
    j1, j2, j3 = mem.nz.data, Signal(col), Signal(col)
    m.d.sync += [j2.eq(j1), j3.eq(j2)]
    m.d.comb += [issue.run.eq(run), issue.layer.eq(0), issue.last_t.eq(mem.nnz),
                 issue.gate.eq(1), mem.nz.addr.eq(issue.t - 1),
                 dut.entries.eq(issue.st), dut.column.eq(j1), dut.column3.eq(j3),
                 dut.w_data.eq(Cat(*mem.wq)), dut.x_data.eq(mem.x_d),
                 dut.b_data.eq(mem.b.data), mem.x.addr.eq(j1), mem.b.addr.eq(dut.b_addr),
                 accu.valid.eq(dut.acc.valid), accu.first.eq(dut.acc.first),
                 accu.const.eq(dut.acc.const), accu.fwd.eq(dut.acc.fwd)]
    m.d.comb += [r.addr.eq(dut.w_addr[b]) for b, r in enumerate(mem.w)]
    if plan.shared_mul:
        m.submodules.pool = pool = MultiplierPool(P, *multiplier_shape(cfg))
        m.d.comb += [pool.ops.a.eq(dut.mul.a), pool.ops.b.eq(dut.mul.b),
                     dut.mul.p.eq(pool.ops.p)]
    return m, dut, issue, accu, run


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_input_drive_computes_every_groups_drive(shared: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng, part="up5k" if shared else "ecp5")
    plan = make_plan(cfg, shared_mul=shared)
    P, n0, n1 = cfg.lanes, cfg.layers[0], cfg.layers[1]
    W0 = rng.integers(cfg.weight_min, cfg.weight_max + 1, (n1, n0))
    b0 = rng.integers(cfg.weight_min, cfg.weight_max + 1, n1)
    x = rng.integers(0, cfg.act_one + 1, n0) * (rng.random(n0) < (0.0 if seed == 0 else 0.5))
    m, dut, issue, accu, run = _harness(plan, W0, b0, x)
    drives: list[list[int]] = []

    async def tb(ctx):
        ctx.set(run, 1)
        for _ in range(10 * (n0 + 2) * (n1 + 1)):
            await ctx.tick()
            if ctx.get(dut.group_end):
                drives.append([ctx.get(accu.acc[k]) for k in range(P)])
            if ctx.get(issue.drained):
                break
        assert ctx.get(issue.drained)

    run_clocked(m, tb)
    want = W0 @ x + (b0 << cfg.act_frac)
    assert len(drives) == words(n1, P)
    got = [drives[g][k] for g in range(words(n1, P)) for k in range(P) if g * P + k < n1]
    assert got == want.tolist()
