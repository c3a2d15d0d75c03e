"""The pixel store (hw/core/pixel_store.py) alone, as each plan builds it: X with its
second reader on the fast plan (the predrive's next-sample pixels) and NZ (in LUT RAM
there), written and read at random against a list, a read answering the cycle after
its address; and the pixel loader's write ports connect to it as they are."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring

from epfpga.hw.core.pixel_loader import PixelLoader
from epfpga.hw.core.pixel_store import PixelStore
from epfpga.hw.plan import make_plan
from epfpga.model.config import get_config
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("fast", [False, True])
def test_store_reads_what_was_written(fast: bool) -> None:
    cfg = get_config("tiny")
    plan = make_plan(cfg, shared_mul=not fast)
    dut = PixelStore(plan)
    assert dut.predrive == plan.predrive and dut.distributed_nz == fast
    groups = [(dut.x_write, [dut.x_read] + ([dut.x_read_next] if dut.predrive else []),
               dut.x_depth, cfg.act_bits),
              (dut.nz_write, [dut.nz_read], dut.nz_depth, dut.nz_write.data.shape().width)]
    assert dut.x_depth == (2 if fast else 1) * cfg.layers[0]
    rng = np.random.default_rng(int(fast))
    models = [[0] * depth for _, _, depth, _ in groups]
    got, want = [], []

    async def tb(ctx):
        for _ in range(300):
            expect = []
            for (w, readers, depth, bits), model in zip(groups, models, strict=True):
                addrs = [int(rng.integers(depth)) for _ in readers]
                for r, a in zip(readers, addrs, strict=True):
                    ctx.set(r.addr, a)
                expect.append([model[a] for a in addrs])
                wa, wv = int(rng.integers(depth)), int(rng.integers(1 << bits))
                we = rng.random() < 0.5
                ctx.set(w.addr, wa)
                ctx.set(w.data, wv)
                ctx.set(w.en, we)
                if we:
                    model[wa] = wv
            await ctx.tick()
            got.append([[ctx.get(r.data) for r in readers] for _, readers, _, _ in groups])
            want.append(expect)

    run_clocked(dut, tb)
    assert got == want


def test_loader_connects_to_the_store() -> None:
    cfg = get_config("tiny")
    plan = make_plan(cfg, shared_mul=False)
    m = Module()
    m.submodules.loader, m.submodules.store = loader, store = PixelLoader(cfg), PixelStore(plan)
    wiring.connect(m, loader.x_write, store.x_write)  # raises if the shapes disagree
    wiring.connect(m, loader.nz_write, store.nz_write)
    Fragment.get(m, None)  # and the whole elaborates
