"""The controller alone: with every unit answering at once (a phase ends in the cycle it
starts; a random wait before it otherwise), the phases each EP variant needs, in its
order, written out here from the algorithms (not from the controller): the free
steps, the nudged ones and which sign they carry, the update, the result; the state
bank flipping once per step; nothing moving while a unit has not answered."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.controller import Controller, Phase
from tests.hw.simulate import run_clocked

ENDS = {Phase.LOAD: "loaded", Phase.DRIVE: "driven", Phase.ZERO: "zeroed",
        Phase.RELAX: "step_end", Phase.COPY: "copied", Phase.UPDATE: "updated",
        Phase.RESULT: "taken"}


def expected(variant: str, train: bool, t1: int, t2: int, overlap: bool, predrive: bool,
             zero_in_load: bool) -> list[tuple[Phase, bool, bool]]:
    """(phase, nudging, minus) of each phase visit (a relaxation step is one visit)."""
    free = [(Phase.RELAX, False, False)] * t1
    start = [] if overlap else [(Phase.LOAD, False, False)]
    if predrive:  # the predrive had the drive ready
        start += [(Phase.ZERO, False, False)]
    else:
        start += [(Phase.DRIVE, False, False)]
        if not zero_in_load:
            start += [(Phase.ZERO, False, False)]
    end = [(Phase.RESULT, False, False)]
    if not train:
        return start + free + end
    if variant == "cep":
        if t2 == 0:  # nothing nudged to learn from
            return start + free + end
        steps = []
        for k in range(t2):  # each nudged step updates, then the drive again (new W0)
            steps += [(Phase.RELAX, True, False), (Phase.UPDATE, True, False)]
            if k < t2 - 1:
                steps += [(Phase.DRIVE, True, False)]
        return start + free + steps + [(Phase.RESULT, True, False)]
    if t2 == 0:
        return start + free + [(Phase.UPDATE, False, False)] + end
    plus = [(Phase.RELAX, True, False)] * t2
    if variant == "symmetric":
        minus = [(Phase.RELAX, True, True)] * t2
        return (start + free + plus + [(Phase.COPY, True, False)] + minus
                + [(Phase.UPDATE, True, True), (Phase.RESULT, True, True)])
    return start + free + plus + [(Phase.UPDATE, True, False), (Phase.RESULT, True, False)]


# (the predrive exists only beside the pixel loader: fast plan)
CASES = [("ep", False, False, False), ("ep", True, False, False),
         ("ep", False, False, True), ("ep", True, True, True),
         ("symmetric", False, False, False), ("symmetric", True, True, True),
         ("cep", False, False, False), ("cep", True, True, False)]


@pytest.mark.parametrize("variant,overlap,predrive,zero_in_load", CASES)
def test_phases_in_the_variants_order(variant: str, overlap: bool, predrive: bool,
                                      zero_in_load: bool) -> None:
    if zero_in_load and overlap:
        zero_in_load = False  # (the loader does not clear states)
    dut = Controller(overlap=overlap, predrive=predrive, zero_in_load=zero_in_load,
                     cep=variant == "cep", symmetric=variant == "symmetric")
    rng = np.random.default_rng(len(variant) * 8 + overlap * 4 + predrive * 2)
    jobs = [(bool(train), int(t1), int(t2)) for train, t1, t2 in
            zip(rng.integers(0, 2, 6), rng.integers(1, 5, 6), rng.integers(0, 4, 6),
                strict=True)] + [(True, 3, 2), (False, 2, 1)]
    seen: list[list[tuple[Phase, bool, bool]]] = []
    flips: list[tuple[int, int]] = []

    async def tb(ctx):
        for train, t1, t2 in jobs:
            ctx.set(dut.train, train)
            ctx.set(dut.t1, t1)
            ctx.set(dut.t2, t2)
            ctx.set(dut.drive_ready, predrive)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            visits, steps, cur0 = [], 0, ctx.get(dut.cur)
            for _ in range(200):
                phase = Phase(ctx.get(dut.phase))
                if phase == Phase.IDLE:
                    break
                # a unit answers after a random wait; nothing moves meanwhile
                for _ in range(int(rng.integers(0, 3))):
                    await ctx.tick()
                    assert Phase(ctx.get(dut.phase)) == phase
                visits.append((phase, bool(ctx.get(dut.nudging)), bool(ctx.get(dut.minus))))
                steps += phase == Phase.RELAX
                end = getattr(dut, ENDS[phase])
                ctx.set(end, 1)
                await ctx.tick()
                ctx.set(end, 0)
            seen.append(visits)
            flips.append((steps, ctx.get(dut.cur) ^ cur0))

    run_clocked(dut, tb)
    for (train, t1, t2), visits, (steps, flip) in zip(jobs, seen, flips, strict=True):
        assert visits == expected(variant, train, t1, t2, overlap, predrive, zero_in_load)
        assert flip == steps % 2  # the state bank flips once per step


def test_the_relaxation_learns_its_last_step_in_advance() -> None:
    """``last_step`` is high during the step after which the relaxation ends: the
    last free step when nothing is learnt, every nudged C-EP step, the last nudged."""
    dut = Controller(overlap=True, predrive=False, zero_in_load=False, cep=False,
                     symmetric=False)
    marks: list[tuple[bool, bool]] = []

    async def tb(ctx):
        for train in (False, True):
            ctx.set(dut.train, train)
            ctx.set(dut.t1, 3)
            ctx.set(dut.t2, 2)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while Phase(ctx.get(dut.phase)) != Phase.IDLE:
                phase = Phase(ctx.get(dut.phase))
                if phase == Phase.RELAX:
                    marks.append((train, bool(ctx.get(dut.last_step))))
                end = getattr(dut, ENDS[phase])
                ctx.set(end, 1)
                await ctx.tick()
                ctx.set(end, 0)

    run_clocked(dut, tb)
    infer = [m for t, m in marks if not t]
    learn = [m for t, m in marks if t]
    assert infer == [False, False, True]  # T1 = 3 free steps, the last one leaves
    assert learn == [False, False, False, False, True]  # then T2 = 2 nudged
