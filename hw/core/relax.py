"""The relaxation: one flat pipeline over (row or row group, entry) per pipeline, a
step's layers back to back, built from its units: the entry issue
(hw/core/relax_issue.py), stage 1's addressing (hw/core/relax_address.py), the products
at stage 3 and the accumulator operands at 3 + ml (hw/core/relax_mac.py), and after a
row's last entry the writeback (hw/core/relax_writeback.py: the nudge, rho and the
state writes).  This module makes the pipelines' read ports and registered data and
connects the units to the core's memories, accumulators and multipliers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Cat, Signal

from .accumulators import Accumulators
from .build import CoreBuild
from .controller import Phase
from .mem_ports import write_from
from .relax_address import RelaxAddress, address_ports
from .relax_issue import RelaxIssue
from .relax_mac import RelaxMac
from .relax_writeback import RelaxWriteback


@dataclass
class HalfReaders:
    """A layer's second half of entries (hw/layout.py ``relax_halves``): its own weight
    and state readers and their registered data."""

    wr: list
    wq: list
    sr: Any
    sd: Any


@dataclass
class RelaxPipe:
    """One relaxation pipeline (the fast plan has two, odd and even layers side by
    side): its entry issue with the stage registers, accumulators, the weight readers
    it uses, its addressing and its writeback."""

    q: int  # 0: the first (or only) pipeline
    layers: list[int]
    issue: Any  # its entry issue and stage registers (hw/core/relax_issue.py)
    st: list  # st[1..5]: the issue's stages
    accu: Any  # its accumulators (hw/core/accumulators.py)
    wr: Any  # weight readers, per layer and bank
    wq: Any  # their registered data
    half: dict[int, HalfReaders] = field(default_factory=dict)
    pa: Any = None  # the accumulate stage
    pw: Any = None  # the write stage
    ra: Any = None  # its stage-1 addressing (hw/core/relax_address.py)
    reads: dict = field(default_factory=dict)  # the read ports that addresses
    data: dict = field(default_factory=dict)  # their data, registered once
    mac: Any = None  # its products and accumulator operands (hw/core/relax_mac.py)
    wb: Any = None  # its rho, nudge and state writes (hw/core/relax_writeback.py)


def relax_pipes(ctx: CoreBuild) -> None:
    """The relaxation pipelines: one runs every layer in turn; on DSP-rich parts two
    run side by side, the odd layers in one and the even ones in the other (a layer
    reads only its neighbours' states, which the other pipeline writes)."""
    L, P, Sd, Sr, Wq, Wr, accu = ctx.L, ctx.P, ctx.Sd, ctx.Sr, ctx.Wq, ctx.Wr, ctx.accu
    acc_shape, delayed = ctx.acc_shape, ctx.delayed
    hp, i, m, ml, t, wbanks = ctx.hp, ctx.i, ctx.m, ctx.ml, ctx.t, ctx.wbanks
    halves, visits = hp.relax_halves, hp.relax_visits
    odd_even = hp.odd_even
    groups_of = ([[lay for lay in range(1, L + 1) if lay % 2 == q] for q in (1, 0)]
                 if odd_even else [list(range(1, L + 1))])

    def inputs_of(lay: int, fwd: bool) -> tuple[int, int]:
        """(weight layer, state memory) a MAC direction of layer ``lay`` reads."""
        return (lay - 1, lay - 2) if fwd else (lay, lay)

    pipes = []
    for q, lays in enumerate(groups_of):
        issue = RelaxIssue(ctx.n, [(lay, visits[lay].rows, visits[lay].entries)
                                   for lay in lays], (len(i), len(t)))
        m.submodules[f"relax_issue{q}" if q else "relax_issue"] = issue
        st = [None] + [issue.stage(k) for k in range(1, 6)]
        if q == 0:
            pp = RelaxPipe(q=q, layers=lays, issue=issue, st=st, accu=accu, wr=Wr, wq=Wq)
        else:
            m.submodules[f"accumulators{q}"] = accu_q = Accumulators(P, acc_shape)
            ports = {li: [wbanks[li][b].port("copy") for b in range(P)]
                     for li in range(1, L)}
            pp = RelaxPipe(
                q=q, layers=lays, issue=issue, st=st, accu=accu_q, wr=ports,
                wq=[[delayed(r.data, f"w{li}_{b}_q{q}") for b, r in enumerate(ports[li])]
                    if li in ports else None for li in range(L)])
        for lay in lays:
            if halves[lay] == 2:
                # (its one direction: top-down for layer 1, bottom-up for L)
                li, sk = inputs_of(lay, fwd=lay != 1)
                wr2 = [wbanks[li][b].port(f"half{lay}") for b in range(P)]
                sr2 = ctx.stores[sk].port(f"half{lay}")
                pp.half[lay] = HalfReaders(
                    wr=wr2, sr=sr2, sd=delayed(sr2.data, f"s{sk + 1}_d_half{lay}"),
                    wq=[delayed(r.data, f"w{li}_{b}_q_half{lay}")
                        for b, r in enumerate(wr2)])
        # stage 3 forms the products, 3 + ml accumulates, 4 + ml writes
        pp.pa, pp.pw = pp.st[3 + ml], pp.st[4 + ml]
        pipes.append(pp)
    if odd_even:  # the nudge's own states, read by the output layer's pipeline
        own_r = ctx.stores[L - 1].port("own")
        own_d = delayed(own_r.data, f"s{L}_own_d")
    else:
        own_r, own_d = Sr[L - 1], Sd[L - 1]
    ctx.own_d, ctx.own_r, ctx.pipes = own_d, own_r, pipes
    for pp in pipes:
        relax_address(ctx, pp)
        relax_mac(ctx, pp)
        relax_writeback(ctx, pp)


def relax_address(ctx: CoreBuild, pp: RelaxPipe) -> None:
    """Pipeline ``pp``'s stage-1 addressing and the read ports it addresses (its own
    weight readers, its layers' second-half readers, the states, biases and drive)."""
    def port(spec: tuple) -> tuple:
        """(the read port, its data registered once)"""
        kind = spec[0]
        if kind == "w":
            _, li, b, half = spec
            return ((pp.half[half].wr[b], pp.half[half].wq[b]) if half
                    else (pp.wr[li][b], pp.wq[li][b]))
        if kind == "s":
            _, k, half = spec
            return ((pp.half[half].sr, pp.half[half].sd) if half
                    else (ctx.Sr[k - 1], ctx.Sd[k - 1]))
        return ((ctx.Br[spec[1]], ctx.Bd[spec[1]]) if kind == "b" else
                (ctx.Dr, ctx.Dd) if kind == "drive" else (ctx.own_r, ctx.own_d))

    ports = {name: port(spec) for name, spec in address_ports(ctx.hp, pp.layers).items()}
    pp.reads = {name: r for name, (r, _) in ports.items()}
    pp.data = {name: d for name, (_, d) in ports.items()}
    pp.ra = ra = RelaxAddress(ctx.hp, pp.layers,
                              {name: len(r.addr) for name, r in pp.reads.items()})
    ctx.m.submodules[f"relax_address{pp.q}" if pp.q else "relax_address"] = ra
    ctx.m.d.comb += [ra.entry.eq(pp.st[1]), ra.cur.eq(ctx.cur)]
    if "drive" in pp.reads:
        ctx.m.d.comb += ra.drive_base.eq(ctx.db_off)


def relax_mac(ctx: CoreBuild, pp: RelaxPipe) -> None:
    """Pipeline ``pp``'s products and accumulator operands, from what its addressing
    read."""
    pp.mac = mac = RelaxMac(ctx.hp, pp.layers)
    ctx.m.submodules[f"relax_mac{pp.q}" if pp.q else "relax_mac"] = mac
    ctx.m.d.comb += [mac.entries.eq(pp.issue.st)]
    ctx.m.d.comb += [mac.data[name].eq(d) for name, d in pp.data.items()]
    if ctx.hp.shared_mul:
        ctx.m.d.comb += mac.mul.p.eq(ctx.pool.ops.p)


def relax_writeback(ctx: CoreBuild, pp: RelaxPipe) -> None:
    """Pipeline ``pp``'s writeback and what it reads: its accumulators, its last two
    stages, the label, beta and the controller's phase ends."""
    ctrl, m = ctx.ctrl, ctx.m
    depths = {lay: (ctx.stores[lay - 1].depth, ctx.stores[lay - 1].end_depth)
              for lay in pp.layers}
    pp.wb = wb = RelaxWriteback(ctx.cfg, {lay: ctx.core.relax_order[lay] for lay in pp.layers},
                                depths, ctx.cand.payload.shape())
    m.submodules[f"relax_writeback{pp.q}" if pp.q else "relax_writeback"] = wb
    m.d.comb += [wb.run.eq(pp.issue.run), wb.accumulate.eq(pp.pa), wb.write.eq(pp.pw),
                 wb.acc.eq(pp.accu.acc), wb.own.eq(pp.mac.own), wb.label.eq(ctx.job.label),
                 wb.beta.eq(ctx.beta_s),
                 wb.nudging.eq(ctrl.nudging), wb.cur.eq(ctx.cur),
                 wb.free_end.eq(ctrl.free_end)]
    if ctx.symmetric:  # (+beta end = free end when T2 = 0)
        m.d.comb += wb.plus_end.eq((ctrl.nudged_end & ~ctx.minus)
                                   | (ctrl.free_end & (ctx.core.t2 == 0)))


def relax_ports(ctx: CoreBuild) -> None:
    """In the relaxation, the pipelines' addressing owns their read ports, their MACs
    the accumulators (and the shared plan's multipliers), and the writebacks the state
    stores' write ports and the argmax's candidates."""
    m = ctx.m
    for pp in ctx.pipes:
        m.d.comb += [r.addr.eq(pp.ra.addr[name]) for name, r in pp.reads.items()]
        m.d.comb += pp.accu.take(pp.mac.acc)
        if ctx.hp.shared_mul:
            m.d.comb += [ctx.pool.ops.a.eq(pp.mac.mul.a), ctx.pool.ops.b.eq(pp.mac.mul.b)]
    for pp in ctx.pipes:
        for lay in pp.layers:
            ports = [(ctx.Sw, "s"), (ctx.SFw, "sf")] + ([(ctx.SPw, "sp")] if ctx.symmetric
                                                        else [])
            for dst, kind in ports:
                m.d.comb += write_from(dst[lay - 1], getattr(pp.wb, f"{kind}{lay}"))
            if lay == ctx.L:
                cand = pp.wb.candidates
                m.d.comb += [ctx.cand.valid.eq(cand.valid), ctx.cand.payload.eq(cand.payload)]


def relax_state(ctx: CoreBuild) -> None:
    """RELAX: the step's entries issued per pipeline and layer, and the step's end (the
    layers of a step follow each other without a drain; only the step's end waits for
    its last write, as the next step reads it)."""
    ctrl, m, ml, pipes, pre_may = ctx.ctrl, ctx.m, ctx.ml, ctx.pipes, ctx.pre_may
    leave_r = Signal(name="relax_leave_r")
    m.d.sync += leave_r.eq(ctrl.last_step)
    drain_end = Signal(name="relax_drain_end")
    busy_stages = [pp.st[k].v for pp in pipes for k in range(1, 4 + ml)]
    m.d.comb += drain_end.eq(Cat(*(pp.issue.hold for pp in pipes)).all()
                             & ~Cat(*busy_stages).any())
    # the step's last entry writes this cycle; the next step's first may issue in it
    # (the decision to go on is registered)
    m.d.comb += [x for pp in pipes for x in (pp.issue.restart.eq(drain_end),
                                            pp.issue.resume.eq(drain_end & ~leave_r))]
    with m.Case(Phase.RELAX):
        m.d.comb += pre_may.eq(1)
        m.d.comb += [pp.issue.run.eq(1) for pp in pipes]
        # the next step reads after the last write
        m.d.comb += ctrl.step_end.eq(drain_end)
        relax_ports(ctx)
