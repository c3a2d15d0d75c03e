"""The row-group pass issue alone, driven as the controller drives it: for each group
its opening entry, its columns and its bias entry in order (gb = group x words per
group), holding while ``gate`` is low, the stages a shift register, ``drained`` once the
stages that write are empty, and the next pass (another layer, another last_t)
starting from group 0."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.group_issue import STAGES, GroupIssue
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("drain_u6", [False, True])
def test_passes_issue_every_entry_and_drain(drain_u6: bool) -> None:
    passes = [(3, 6), (2, 4), (1, 2)]
    dut = GroupIssue(passes, depth=40, counter_bits=(5, 6), drain_u6=drain_u6)
    runs = [(0, 4), (1, 2), (2, 7), (0, 1)]  # (layer, last_t)
    rng = np.random.default_rng(int(drain_u6))
    issued: list[list[tuple]] = [[] for _ in runs]
    drain_cycles = []

    async def tb(ctx):
        for r, (layer, last_t) in enumerate(runs):
            ctx.set(dut.run, 1)
            ctx.set(dut.layer, layer)
            ctx.set(dut.last_t, last_t)
            for cycle in range(200):
                gate = bool(rng.random() < 0.8)
                ctx.set(dut.gate, gate)
                st = [ctx.get(dut.stage(k)) for k in range(1, STAGES + 1)]
                t_before = ctx.get(dut.t)
                drained = ctx.get(dut.drained)
                await ctx.tick()
                after = [ctx.get(dut.stage(k)) for k in range(1, STAGES + 1)]
                assert [(a.v, a.g, a.first, a.last) for a in after[1:]] == [
                    (s.v, s.g, s.first, s.last) for s in st[:-1]]
                assert ctx.get(dut.t1) == (t_before - 1) % 64
                if after[0].v:
                    issued[r].append((after[0].g, after[0].gb, bool(after[0].first),
                                      bool(after[0].last)))
                if drained:
                    busy = [s.v for s in st[:STAGES if drain_u6 else STAGES - 1]]
                    assert not any(busy)
                    drain_cycles.append(cycle)
                    assert ctx.get(dut.t) == 0
                    break
            else:
                raise AssertionError("the pass never drained")
            ctx.set(dut.run, 0)
            for _ in range(int(rng.integers(0, 3))):  # other states between passes
                await ctx.tick()

    run_clocked(dut, tb)
    for (layer, last_t), got in zip(runs, issued, strict=True):
        groups, words = passes[layer]
        assert got == [(g, g * words, t == 0, t == last_t)
                       for g in range(groups) for t in range(last_t + 1)]
    assert len(drain_cycles) == len(runs)
