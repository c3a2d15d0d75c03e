"""A relaxation pipeline's entry issue alone, driven as the controller drives it: every
(layer, row, entry) of a step in order with no bubble, first/last/output flags, the
stages a shift register, the next step issuing in the cycle the last one drains, and
nothing moving while ``run`` is low."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.relax_issue import STAGES, RelaxIssue
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("always", [False, True])
@pytest.mark.parametrize("layers", [[(1, 3, 2), (2, 2, 4), (3, 1, 1)], [(2, 4, 3)]])
def test_issue_order_and_step_chaining(layers: list[tuple[int, int, int]],
                                       always: bool) -> None:
    sizes = (6, 5, 4, 3)
    dut = RelaxIssue(sizes, layers, (4, 4))
    step_entries = [(lay, i, t, t == 0, t == nt - 1, lay == 3)
                    for lay, n_iter, nt in layers for i in range(n_iter) for t in range(nt)]
    steps = 3
    rng = np.random.default_rng(len(layers))
    issued, cycles_of, frozen_ok = [], [], []

    def fields(e):
        return (e.lay, e.i, e.t, bool(e.first), bool(e.last), bool(e.out))

    async def tb(ctx):
        done = 0
        for cycle in range(400):
            # (after the last step the FSM leaves the relaxation)
            run = done < steps and (always or bool(rng.random() < 0.85))
            st = [ctx.get(dut.stage(k)) for k in range(1, STAGES + 1)]
            drain = ctx.get(dut.hold) and not any(s.v for s in st[:3])
            ctx.set(dut.run, run)
            ctx.set(dut.restart, drain)
            ctx.set(dut.resume, drain and done < steps - 1)
            if run and drain:
                done += 1
            await ctx.tick()
            after = [ctx.get(dut.stage(k)) for k in range(1, STAGES + 1)]
            if not run:
                frozen_ok.append([fields(a) + (a.v,) for a in after]
                                 == [fields(s) + (s.v,) for s in st])
                continue
            assert [fields(a) + (a.v,) for a in after[1:]] == [fields(s) + (s.v,)
                                                              for s in st[:-1]]
            if after[0].v:
                issued.append(fields(after[0]))
                cycles_of.append(cycle)

    run_clocked(dut, tb)
    assert issued == step_entries * steps
    assert always or (frozen_ok and all(frozen_ok))
    if always:  # no bubble within a step; the next one issues as the last one drains
        per = len(step_entries)
        for s in range(steps):
            assert cycles_of[(s + 1) * per - 1] - cycles_of[s * per] == per - 1
            if s:
                assert cycles_of[s * per] - cycles_of[s * per - 1] == 4
