"""An update pass's stage-3 operands alone: random read data for every port, random
layers, columns, entries (opening, column, bias) and nudge signs, on random configs with
1, 2 and 4 lanes, against what the unit must get, worked here: k = +-eta/beta of the
layer, the group's states and row values as read, u = 1.0 on the bias entry else lane
j mod P of the column's state words (the pixel for W0), and for lane k the bias, or the
weight of row k at column j in the bank the weight layout places it in
(``WeightLayout.place``)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from epfpga.hw.core.group_issue import group_entry_layout
from epfpga.hw.core.shapes import update_q_width
from epfpga.hw.core.update_operands import UpdateOperands, operand_shapes
from epfpga.hw.layout import weight_layouts
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.words import lane_of


def random_value(shape, rng: np.random.Generator) -> int:
    bits = shape.width
    v = sum(int(rng.integers(0, 1 << min(bits - 16 * i, 16))) << (16 * i)
            for i in range(-(-bits // 16)))
    return v - (1 << bits) if shape.signed and v >> (bits - 1) else v


@pytest.mark.parametrize("seed", range(6))
def test_the_unit_gets_the_operands_of_its_entry(seed: int) -> None:
    rng = np.random.default_rng(900 + seed)
    cfg = small_config(rng, lanes=(1, 2, 4)[seed % 3])
    plan = make_plan(cfg)
    P, ab, wb, L = cfg.lanes, cfg.act_bits, cfg.weight_bits, cfg.n_layers
    geo = weight_layouts(cfg)
    entry = group_entry_layout(max(g.groups for g in geo), max(g.depth for g in geo))
    dut = UpdateOperands(plan, entry, 8)
    shapes = operand_shapes(plan)
    checked = 0

    async def tb(ctx):
        nonlocal checked
        for _ in range(60):
            lay = int(rng.integers(0, L))
            g = int(rng.integers(0, geo[lay].groups))
            c = int(rng.integers(0, cfg.layers[lay]))
            kind = rng.choice(["first", "column", "last"])
            neg = int(rng.integers(0, 2))
            q = [int(rng.integers(0, 1 << update_q_width(cfg))) for _ in range(L)]
            values = {name: random_value(shape, rng) for name, shape in shapes.items()}
            ctx.set(dut.layer, lay)
            ctx.set(dut.entry, {"v": 1, "first": int(kind == "first"),
                                "last": int(kind == "last"), "g": g, "gb": 0})
            ctx.set(dut.column, c)
            ctx.set(dut.neg, neg)
            ctx.set(dut.update_q, q)
            ctx.set(dut.data, values)
            assert ctx.get(dut.valid) == 1 and ctx.get(dut.first) == int(kind == "first")
            assert ctx.get(dut.k) == (-q[lay] if neg else q[lay])
            assert ctx.get(dut.v_hi) == values[f"post_hi{lay}"]
            assert ctx.get(dut.v_lo) == values[f"post_lo{lay}"]
            assert ctx.get(dut.a) == values["ar"]
            if kind == "last":
                want_u = (cfg.act_one, cfg.act_one)
                want_w = [lane_of(values[f"b{lay}"], k, wb, True) for k in range(P)]
            else:
                if lay == 0:
                    want_u = (values["x"], values["x"])
                else:
                    want_u = tuple(lane_of(values[f"pre_{h}{lay}"], c % P, ab)
                                   for h in ("hi", "lo"))
                want_w = [values[f"w{lay}_{geo[lay].place(g * P + k, c)[0]}"]
                          for k in range(P)]
            if kind != "first":  # (an opening's u and w are unused)
                assert (ctx.get(dut.u_hi), ctx.get(dut.u_lo)) == want_u
                assert [ctx.get(dut.w[k]) for k in range(P)] == want_w
            checked += 1

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert checked == 60
