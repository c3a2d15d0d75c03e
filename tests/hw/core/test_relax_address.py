"""The relaxation's stage-1 addressing alone: every entry of every layer of random
configs, both multiplier plans (one pipeline or odd/even two), both visiting orders and
split entries, against what the entry must read -- the weights it multiplies found by
the weight layout's own placement (hw/layout.py ``WeightLayout.place``), the words of
the states holding its inputs in bank ``cur``, the row constant's word."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from epfpga.hw.core.relax_address import RelaxAddress, address_ports
from epfpga.hw.layout import weight_layouts, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config


def expected(cfg, plan, lay: int, i: int, t: int, cur: int, base: int) -> dict[str, int]:
    """Port -> address for entry t of row (group) i of layer ``lay``."""
    P, n, geo = cfg.lanes, cfg.layers, weight_layouts(cfg)
    v = plan.relax_visits[lay]
    rows = v.order == "rows"
    want = {}
    word = i // P if rows else i
    want["drive" if lay == 1 else f"b{lay - 1}"] = base + word if lay == 1 else word
    if lay == cfg.n_layers:
        want["own" if plan.odd_even else f"s{lay}"] = cur * words(n[lay], P) + word
    sizes = v.input_words if rows else v.inputs
    for fwd, size in zip((True, False), sizes, strict=True):
        if not size:
            continue
        li, sk = (lay - 1, lay - 1) if fwd else (lay, lay + 1)
        g = geo[li]
        for h in range(plan.relax_halves[lay]):
            tt, tag = t + h * v.entries, f"_half{lay}" if h else ""
            for b in range(P):
                # the matrix element bank b must deliver (padding rows/columns included:
                # the banks hold zeros there)
                if rows and fwd:  # row i, word tt: column tt P + k in bank (i + c) mod P
                    r, c = i, tt * P + (b - i) % P
                elif rows:  # column i, rows tt P ..: row r in bank (r + i) mod P
                    r, c = tt * P + (b - i) % P, i
                elif fwd:  # group i's rows at column tt
                    r, c = i * P + (b - tt) % P, tt
                else:  # row tt at group i's columns
                    r, c = tt, i * P + (b - tt) % P
                bank, addr = g.place(r, c)
                assert bank == b
                want[f"w{li}_{b}{tag}"] = addr
            want[f"s{sk}{tag}"] = cur * words(n[sk], P) + (tt if rows else tt // P)
    return want


@pytest.mark.parametrize("seed", range(8))
def test_every_entry_reads_what_it_multiplies(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers = tuple(int(x) for x in rng.integers(2, 10, int(rng.integers(3, 5))))
    cfg = small_config(rng, layers=layers, lrs=(0.1,) * (len(layers) - 1),
                       lanes=int(rng.choice([1, 2, 4])))
    plan = make_plan(cfg, bool(seed % 2), False)
    L = cfg.n_layers
    pipes = ([[lay for lay in range(1, L + 1) if lay % 2 == q] for q in (1, 0)]
             if plan.odd_even else [list(range(1, L + 1))])
    for layers in pipes:
        ports = address_ports(plan, layers)
        dut = RelaxAddress(plan, layers, {name: 16 for name in ports})
        checks = []

        async def tb(ctx, dut=dut, layers=layers, ports=ports, checks=checks):
            for lay in layers:
                v = plan.relax_visits[lay]
                for i in range(v.rows):
                    for t in range(v.entries):
                        cur = int(rng.integers(0, 2))
                        base = int(rng.integers(0, 40)) if "drive" in ports else 0
                        ctx.set(dut.entry, {"v": 1, "lay": lay, "i": i, "t": t})
                        ctx.set(dut.cur, cur)
                        ctx.set(dut.drive_base, base)
                        await ctx.delay(1e-6)
                        want = expected(cfg, plan, lay, i, t, cur, base)
                        got = {k: ctx.get(dut.addr[k]) for k in want}
                        checks.append((lay, i, t, got == want, got, want))

        sim = Simulator(dut)
        sim.add_testbench(tb)
        sim.run()
        assert checks
        bad = [c for c in checks if not c[3]]
        assert not bad, bad[:3]
        # every port the pipeline addresses is one an entry reads
        used = {k for lay in layers for k in expected(cfg, plan, lay, 0, 0, 0, 0)}
        assert used == set(ports)
