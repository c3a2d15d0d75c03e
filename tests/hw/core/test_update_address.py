"""An update pass's read addressing alone: every entry (k v opening, columns, bias) of
every row group of every weight layer of random configs, the three variants (EP, the
symmetric nudge, C-EP) and 1, 2 and 4 lanes, against what the entry must read: bank b's
weight of the group's rows at the column found by the weight layout's own placement
(hw/layout.py ``WeightLayout.place``), and the words of the contrasted phases' states
worked out here per variant."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from epfpga.hw.core.group_issue import group_entry_layout
from epfpga.hw.core.update_address import UpdateAddress, update_ports
from epfpga.hw.layout import rand_offsets, weight_layouts, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config

VARIANTS = {"ep": {}, "symmetric": {"nudge": "symmetric"}, "cep": {"algorithm": "cep"}}


def expected(cfg, variant: str, lay: int, g: int, c: int, last: bool, cur: int,
             pixel_base: int) -> dict[str, int]:
    """Port -> address for stage 1 at column c (``last``: the bias entry) and stage 2
    at group g."""
    P, n, geo = cfg.lanes, cfg.layers, weight_layouts(cfg)
    a_off, c_off = rand_offsets(cfg)
    want = {}
    for b in range(P):
        r = g * P + (b - c) % P  # lane (b - c) mod P's row meets bank b at column c
        bank, addr = geo[lay].place(r, c)
        assert bank == b
        want[f"w{lay}_{b}"] = addr
    want[f"cr{lay}"] = c_off[lay] + (n[lay] if last else c)

    def phases(k: int) -> tuple[int, int]:
        """(hi, lo) word of element 0 of layer k's states."""
        bank = cur * words(n[k], P)
        return {"ep": (bank, 0), "symmetric": (0, bank),
                "cep": (bank, (1 - cur) * words(n[k], P))}[variant]

    if lay == 0:
        want["x"] = pixel_base + c
    else:
        hi, lo = phases(lay)
        want.update({f"pre_hi{lay}": hi + c // P, f"pre_lo{lay}": lo + c // P})
    hi, lo = phases(lay + 1)
    want.update({f"post_hi{lay}": hi + g, f"post_lo{lay}": lo + g, f"b{lay}": g,
                 f"ar{lay}": a_off[lay] + g})
    return want


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seed", range(3))
def test_every_entry_reads_what_it_updates(variant: str, seed: int) -> None:
    rng = np.random.default_rng(seed * 11 + len(variant))
    cfg = small_config(rng, lanes=[1, 2, 4][seed], **VARIANTS[variant])
    plan = make_plan(cfg, bool(seed % 2), False)
    geo = weight_layouts(cfg)
    entry = group_entry_layout(max(g.groups for g in geo), max(g.depth for g in geo))
    ports = update_ports(plan)
    dut = UpdateAddress(plan, entry, 8, {name: 16 for name in ports})
    checks = []

    async def tb(ctx):
        for lay in range(cfg.n_layers):
            for g in range(geo[lay].groups):
                # the k v opening (t = 0: no column), the columns, the bias
                for t in range(cfg.layers[lay] + 2):
                    c = max(t - 1, 0) if t <= cfg.layers[lay] else int(rng.integers(0, 9))
                    last = t == cfg.layers[lay] + 1
                    cur, base = int(rng.integers(0, 2)), int(rng.integers(0, 40))
                    e = {"v": 1, "first": int(t == 0), "last": int(last), "g": g,
                         "gb": g * cfg.lanes * geo[lay].words}
                    ctx.set(dut.entries, [e, e])
                    ctx.set(dut.column, c if lay else int(rng.integers(0, 255)))
                    ctx.set(dut.pixel_column, c if lay == 0 else int(rng.integers(0, 255)))
                    ctx.set(dut.cur, cur)
                    ctx.set(dut.pixel_base, base)
                    await ctx.delay(1e-6)
                    want = expected(cfg, variant, lay, g, c, last, cur, base)
                    if last:  # the bias entry reads no weight and no column state
                        want = {k: v for k, v in want.items()
                                if not k.startswith(("w", "pre", "x"))}
                    got = {k: ctx.get(dut.addr[k]) for k in want}
                    checks.append((lay, g, t, got == want, got, want))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert len(checks) == sum(g.groups * (n + 2) for g, n in zip(geo, cfg.layers[:-1], strict=True))
    bad = [x for x in checks if not x[3]]
    assert not bad, bad[:3]
    # every port is one some entry reads
    used = {k for lay in range(cfg.n_layers) for k in expected(cfg, variant, lay, 0, 0, False,
                                                               0, 0)}
    assert used == set(ports)
