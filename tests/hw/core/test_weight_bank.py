"""A weight bank (hw/core/weight_bank.py) alone, in each of its three builds: block RAM
with several readers, W0 in one-bit slices, and W0 on the single-port schedule (a read
every other cycle, the write landing in the cycle between), against a list."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.weight_bank import WeightBank
from epfpga.hw.plan import make_plan
from epfpga.model.config import get_config
from tests.hw.simulate import run_clocked


def _plan(kind: str):
    tiny = get_config("tiny")
    if kind == "spram":
        return make_plan(tiny.replace(part="up5k")), 0
    if kind == "sliced":
        return make_plan(get_config("ecp5")), 0
    return make_plan(tiny.replace(layers=(16, 8, 6, 4), lrs=(0.1,) * 3), False), 1


@pytest.mark.parametrize("kind", ["bram", "sliced", "spram"])
def test_bank_reads_what_was_written(kind: str) -> None:
    plan, layer = _plan(kind)
    depth = 48
    dut = WeightBank(plan, layer, 0, depth)
    assert dut.kind == kind
    readers = dut.readers()
    assert kind != "bram" or len(readers) > 1  # the odd/even copy, at least
    wb = plan.cfg.weight_bits
    rng = np.random.default_rng(len(kind))
    model = [0] * depth
    got, want = [], []

    async def tb(ctx):
        for cycle in range(300):
            # single-port: reads on even cycles, writes issued then land on odd ones
            read = kind != "spram" or cycle % 2 == 0
            addrs = [int(rng.integers(depth)) for _ in readers]
            for r, a in zip(readers, addrs, strict=True):
                ctx.set(r.addr, a)
            wa, wv = int(rng.integers(depth)), int(rng.integers(-(1 << (wb - 1)), 1 << (wb - 1)))
            we = (cycle % 2 == 0 if kind == "spram" else rng.random() < 0.5)
            ctx.set(dut.write.addr, wa)
            ctx.set(dut.write.data, wv)
            ctx.set(dut.write.en, we)
            before = list(model)
            await ctx.tick()
            if read:
                got.append([ctx.get(r.data) for r in readers])
                want.append([before[a] for a in addrs])
            if we:
                model[wa] = wv

    run_clocked(dut, tb)
    assert got == want
