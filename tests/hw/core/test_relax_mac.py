"""A relaxation pipeline's multiply-accumulate alone, fed as the core feeds it: its
entry issue, its stage-1 addressing and memories holding random weights (placed by the
weight layout's own ``banks``), states (the bank not read full of other values), biases
and drives, each read registered once; the accumulators and, on the shared plan, the
multiplier pool it borrows.  After each row (group) the accumulators must hold, worked
in integers here, the row constant (the drive for layer 1, else b << act_frac) plus
W_{lay-1} s_{lay-1} plus W_lay^T s_{lay+1}, for every neuron of every layer of random
configs on both plans (one pipeline or odd/even two), both visiting orders and split
entries; and the output layer's own states at the accumulate stage."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib.memory import Memory

from epfpga.hw.core.accumulators import Accumulators
from epfpga.hw.core.job import index_bits
from epfpga.hw.core.multipliers import MultiplierPool
from epfpga.hw.core.relax_address import RelaxAddress, address_ports
from epfpga.hw.core.relax_issue import RelaxIssue
from epfpga.hw.core.relax_mac import RelaxMac, data_shapes
from epfpga.hw.core.shapes import multiplier_shape
from epfpga.hw.layout import acc_width, weight_layouts, words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked
from tests.hw.words import pack


class Net:
    """Random weights, biases, states and a drive for ``cfg``."""

    def __init__(self, cfg, rng: np.random.Generator):
        n, L = cfg.layers, cfg.n_layers
        self.W = [rng.integers(cfg.weight_min, cfg.weight_max + 1, (n[k + 1], n[k]))
                  for k in range(L)]
        self.b = [rng.integers(cfg.weight_min, cfg.weight_max + 1, n[k + 1]) for k in range(L)]
        self.s = [None] + [rng.integers(0, cfg.act_one + 1, n[k]) for k in range(1, L + 1)]
        span = 1 << (acc_width(cfg) - 3)
        self.drive = rng.integers(-span, span, n[1])

    def preactivation(self, cfg, lay: int) -> np.ndarray:
        """What layer ``lay``'s accumulators must hold after its rows, with integers."""
        L = cfg.n_layers
        total = (self.drive.copy() if lay == 1
                 else (self.b[lay - 1] << cfg.act_frac) + self.W[lay - 1] @ self.s[lay - 1])
        if lay < L:
            total = total + self.W[lay].T @ self.s[lay + 1]
        return total


def _harness(cfg, plan, layers: list[int], net: Net, cur: int, rng):
    P, n = cfg.lanes, cfg.layers
    geo = weight_layouts(cfg)
    m = Module()
    visits = plan.relax_visits
    m.submodules.issue = issue = RelaxIssue(
        n, [(lay, visits[lay].rows, visits[lay].entries) for lay in layers],
        (index_bits(max(n) + 1) + 1, index_bits(max(n) + 2) + 1))
    ports = address_ports(plan, layers)
    m.submodules.addr = ra = RelaxAddress(plan, layers, {name: 16 for name in ports})
    m.submodules.dut = dut = RelaxMac(plan, layers)
    m.submodules.accu = accu = Accumulators(P, signed(acc_width(cfg)))
    base = words(n[1], P)  # the drive bank read is the second one
    m.d.comb += [ra.entry.eq(issue.st[0]), ra.cur.eq(cur), ra.drive_base.eq(base),
                 issue.run.eq(1), dut.entries.eq(issue.st)] + accu.take(dut.acc)
    if plan.shared_mul:
        m.submodules.pool = pool = MultiplierPool(2 * P, *multiplier_shape(cfg))
        m.d.comb += [pool.ops.a.eq(dut.mul.a), pool.ops.b.eq(dut.mul.b),
                     dut.mul.p.eq(pool.ops.p)]
    shapes = data_shapes(plan, layers)

    def state_words(k: int) -> list[int]:
        """Layer k's states in bank ``cur``, the other bank holding other values."""
        real = pack(net.s[k], cfg.act_bits, P)
        other = pack(rng.integers(0, cfg.act_one + 1, n[k]), cfg.act_bits, P)
        return real + other if cur == 0 else other + real

    for name, spec in ports.items():
        kind = spec[0]
        if kind == "w":
            init = [int(v) for v in geo[spec[1]].banks(net.W[spec[1]])[spec[2]]]
        elif kind == "s":
            init = state_words(spec[1])
        elif kind == "own":
            init = state_words(cfg.n_layers)
        elif kind == "b":
            init = pack(net.b[spec[1]], cfg.weight_bits, P)
        else:
            noise = rng.integers(-99, 99, n[1])
            init = pack(noise, acc_width(cfg), P) + pack(net.drive, acc_width(cfg), P)
        m.submodules[f"mem_{name}"] = mem = Memory(shape=shapes[name], depth=len(init),
                                                   init=init)
        rp = mem.read_port()
        q = Signal(shapes[name], name=f"{name}_q")  # registered once, as in the core
        m.d.comb += rp.addr.eq(ra.addr[name])
        m.d.sync += q.eq(rp.data)
        m.d.comb += dut.data[name].eq(q)
    return m, issue, dut, accu


@pytest.mark.parametrize("seed", range(8))
def test_every_row_accumulates_its_preactivation(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    layers = tuple(int(x) for x in rng.integers(2, 10, int(rng.integers(3, 5))))
    cfg = small_config(rng, layers=layers, lrs=(0.1,) * (len(layers) - 1),
                       lanes=int(rng.choice([1, 2, 4])))
    plan = make_plan(cfg, bool(seed % 2), False)
    P, L, n, ml = cfg.lanes, cfg.n_layers, cfg.layers, plan.mul_latency
    net = Net(cfg, rng)
    pipes = ([[lay for lay in range(1, L + 1) if lay % 2 == q] for q in (1, 0)]
             if plan.odd_even else [list(range(1, L + 1))])
    for layers_ in pipes:
        cur = int(rng.integers(0, 2))
        m, issue, dut, accu = _harness(cfg, plan, layers_, net, cur, rng)
        got: dict[int, dict[int, int]] = {lay: {} for lay in layers_}
        own: dict[int, int] = {}

        async def tb(ctx, issue=issue, dut=dut, accu=accu, got=got, own=own):
            pa, pw = issue.st[2 + ml], issue.st[3 + ml]
            for _ in range(20 * sum(n) * sum(n)):
                if ctx.get(pa.v) and ctx.get(pa.first) and ctx.get(pa.lay) == L:
                    i = ctx.get(pa.i)
                    if plan.relax_visits[L].order == "rows":
                        own[i] = ctx.get(dut.own[0])
                    else:
                        own.update({i * P + k: ctx.get(dut.own[k]) for k in range(P)})
                if ctx.get(pw.v) and ctx.get(pw.last):
                    lay, i = ctx.get(pw.lay), ctx.get(pw.i)
                    if plan.relax_visits[lay].order == "rows":
                        got[lay][i] = ctx.get(accu.acc[0])
                    else:
                        got[lay].update({i * P + k: ctx.get(accu.acc[k]) for k in range(P)})
                await ctx.tick()
                busy = any(ctx.get(issue.st[k].v) for k in range(5))
                if ctx.get(issue.hold) and not busy:
                    break
            assert ctx.get(issue.hold)

        run_clocked(m, tb)
        for lay in layers_:
            want = net.preactivation(cfg, lay)
            assert [got[lay].get(r) for r in range(n[lay])] == [int(v) for v in want], \
                (lay, plan.relax_visits[lay])
        if L in layers_:
            assert [own.get(r) for r in range(n[L])] == [int(v) for v in net.s[L]]


def test_the_seeds_cover_both_orders_and_split_entries() -> None:
    """The random configs above reach what the unit distinguishes."""
    seen = set()
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        layers = tuple(int(x) for x in rng.integers(2, 10, int(rng.integers(3, 5))))
        cfg = small_config(rng, layers=layers, lrs=(0.1,) * (len(layers) - 1),
                           lanes=int(rng.choice([1, 2, 4])))
        plan = make_plan(cfg, bool(seed % 2), False)
        for lay, v in plan.relax_visits.items():
            seen.add(v.order)
            if plan.relax_halves[lay] == 2:
                seen.add("halves")
            if cfg.lanes > 1:
                seen.add("lanes")
        seen.add("odd_even" if plan.odd_even else "one pipeline")
    assert seen == {"rows", "groups", "halves", "lanes", "odd_even", "one pipeline"}
