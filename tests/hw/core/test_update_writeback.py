"""An update pass's writes alone: every group's columns and bias, with bubbles, into
bank images, read back through the weight layout's own placement (hw/layout.py
``WeightLayout.place``); padding rows are never written."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from epfpga.hw.core.group_issue import group_entry_layout
from epfpga.hw.core.update_writeback import UpdateWriteback
from epfpga.hw.layout import WeightLayout

UNWRITTEN = -(1 << 15)


@pytest.mark.parametrize(("n_out", "n_in", "lanes"), [(5, 7, 2), (6, 3, 4), (4, 9, 4),
                                                      (3, 5, 1), (9, 10, 8)])
def test_every_weight_lands_where_the_layout_places_it(n_out: int, n_in: int,
                                                       lanes: int) -> None:
    wbits = 12
    geo = WeightLayout(n_out, n_in, lanes)
    dut = UpdateWriteback(geo, wbits, group_entry_layout(geo.groups, geo.depth), 8)
    rng = np.random.default_rng(n_out * 100 + n_in * 10 + lanes)
    w_new = rng.integers(-(1 << (wbits - 1)), 1 << (wbits - 1), (geo.groups * lanes, n_in))
    b_new = rng.integers(-(1 << (wbits - 1)), 1 << (wbits - 1), geo.groups * lanes)
    banks = [np.full(geo.depth, UNWRITTEN) for _ in range(lanes)]
    bias = np.full(geo.groups * lanes, UNWRITTEN)
    entries = []  # (first, last, g, column, lane values)
    for g in range(geo.groups):
        junk = [int(v) for v in rng.integers(-99, 99, lanes)]
        entries.append((1, 0, g, 0, junk))  # the k v entry writes nothing
        for c in range(n_in):
            entries.append((0, 0, g, c, [int(w_new[g * lanes + k, c]) for k in range(lanes)]))
        entries.append((0, 1, g, 0, [int(b_new[g * lanes + k]) for k in range(lanes)]))

    async def tb(ctx):
        for first, last, g, c, vals in entries:
            for valid in ([0, 1] if rng.random() < 0.3 else [1]):  # bubbles write nothing
                ctx.set(dut.entry, {"v": valid, "first": first, "last": last, "g": g,
                                    "gb": g * lanes * geo.words})
                ctx.set(dut.column, c)
                ctx.set(dut.new_w, vals)
                for b in range(lanes):
                    port = getattr(dut, f"w{b}")
                    if ctx.get(port.en):
                        assert valid and not first and not last
                        banks[b][ctx.get(port.addr)] = ctx.get(port.data)
                en = ctx.get(dut.bias.en)
                if en:
                    assert valid and last
                    word, addr = ctx.get(dut.bias.data), ctx.get(dut.bias.addr)
                    for k in range(lanes):
                        if en >> k & 1:
                            v = word >> (wbits * k) & ((1 << wbits) - 1)
                            bias[addr * lanes + k] = v - (1 << wbits) if v >> (wbits - 1) else v
                await ctx.delay(1e-6)

    sim = Simulator(dut)  # (combinational: no clock)
    sim.add_testbench(tb)
    sim.run()
    for r in range(geo.groups * lanes):
        for c in range(n_in):
            bank, addr = geo.place(r, c)
            want = w_new[r, c] if r < n_out else UNWRITTEN
            assert banks[bank][addr] == want, (r, c)
    assert (bias[:n_out] == b_new[:n_out]).all()
    assert (bias[n_out:] == UNWRITTEN).all()
    written = sum(int((b != UNWRITTEN).sum()) for b in banks)
    assert written == n_out * n_in  # and nothing else
