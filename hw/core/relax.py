"""The relaxation: one flat pipeline over (row or row group, entry) per pipeline, a
step's layers back to back.  Stage 1 addresses (hw/core/relax_address.py), stage 3
forms the products, 3 + ml accumulates; after a row's last entry the pipeline's
writeback (hw/core/relax_writeback.py) applies the nudge and rho and writes.  Per layer
the plan's visiting order:

* rows: one neuron at a time, word t of both MAC directions per cycle (P bottom-up
  products along W_{lay-1} row i, P top-down ones down W_lay column i), one accumulator;
* groups: P neurons at a time, one input per cycle in each direction, P accumulators
  (wins when a direction is shorter than P)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Cat, Mux, Signal

from .accumulators import Accumulators
from .build import CoreBuild
from .controller import Phase
from .relax_address import RelaxAddress, address_ports
from .relax_issue import RelaxIssue
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
    wb: Any = None  # its rho, nudge and state writes (hw/core/relax_writeback.py)


def relax_orders(ctx: CoreBuild) -> None:
    """Per layer, the plan's visiting order (rows or row groups) and its sizes."""
    visits = ctx.hp.relax_visits
    ctx.halves = ctx.hp.relax_halves
    ctx.iters = {lay: (v.rows, v.entries) for lay, v in visits.items()}
    ctx.shape = {lay: (*v.inputs, *v.input_words) for lay, v in visits.items()}


def relax_pipes(ctx: CoreBuild) -> None:
    """The relaxation pipelines: one runs every layer in turn; on DSP-rich parts two
    run side by side, the odd layers in one and the even ones in the other (a layer
    reads only its neighbours' states, which the other pipeline writes)."""
    L, P, Sd, Sr, Wq, Wr, accu = ctx.L, ctx.P, ctx.Sd, ctx.Sr, ctx.Wq, ctx.Wr, ctx.accu
    acc_shape, delayed = ctx.acc_shape, ctx.delayed
    halves, hp, i, iters, m = ctx.halves, ctx.hp, ctx.i, ctx.iters, ctx.m
    ml, t, wbanks = ctx.ml, ctx.t, ctx.wbanks
    odd_even = hp.odd_even
    groups_of = ([[lay for lay in range(1, L + 1) if lay % 2 == q] for q in (1, 0)]
                 if odd_even else [list(range(1, L + 1))])

    def inputs_of(lay: int, fwd: bool) -> tuple[int, int]:
        """(weight layer, state memory) a MAC direction of layer ``lay`` reads."""
        return (lay - 1, lay - 2) if fwd else (lay, lay)

    pipes = []
    for q, lays in enumerate(groups_of):
        issue = RelaxIssue(ctx.n, [(lay, *iters[lay]) for lay in lays], (len(i), len(t)))
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
    pipe_of = {lay: pp for pp in pipes for lay in pp.layers}

    ctx.inputs_of, ctx.own_d, ctx.own_r, ctx.pipe_of = inputs_of, own_d, own_r, pipe_of
    ctx.pipes = pipes
    for pp in pipes:
        relax_address(ctx, pp)
        relax_writeback(ctx, pp)


def relax_address(ctx: CoreBuild, pp: RelaxPipe) -> None:
    """Pipeline ``pp``'s stage-1 addressing and the read ports it addresses (its own
    weight readers, its layers' second-half readers, the states, biases and drive)."""
    def port(spec: tuple):
        kind = spec[0]
        if kind == "w":
            _, li, b, half = spec
            return pp.half[half].wr[b] if half else pp.wr[li][b]
        if kind == "s":
            _, k, half = spec
            return pp.half[half].sr if half else ctx.Sr[k - 1]
        return ctx.Br[spec[1]] if kind == "b" else ctx.Dr if kind == "drive" else ctx.own_r

    pp.reads = {name: port(spec) for name, spec in address_ports(ctx.hp, pp.layers).items()}
    pp.ra = ra = RelaxAddress(ctx.hp, pp.layers,
                              {name: len(r.addr) for name, r in pp.reads.items()})
    ctx.m.submodules[f"relax_address{pp.q}" if pp.q else "relax_address"] = ra
    ctx.m.d.comb += [ra.entry.eq(pp.st[1]), ra.cur.eq(ctx.cur)]
    if "drive" in pp.reads:
        ctx.m.d.comb += ra.drive_base.eq(ctx.db_off)


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
                 wb.acc.eq(pp.accu.acc), wb.label.eq(ctx.job.label), wb.beta.eq(ctx.beta_s),
                 wb.nudging.eq(ctrl.nudging), wb.cur.eq(ctx.cur),
                 wb.free_end.eq(ctrl.free_end)]
    if ctx.symmetric:  # (+beta end = free end when T2 = 0)
        m.d.comb += wb.plus_end.eq((ctrl.nudged_end & ~ctx.minus)
                                   | (ctrl.free_end & (ctx.core.t2 == 0)))


def relax_ports(ctx: CoreBuild) -> None:
    """In the relaxation, the pipelines' addressing owns their read ports, and the
    writebacks the state stores' write ports and the argmax's candidates."""
    m = ctx.m
    for pp in ctx.pipes:
        m.d.comb += [r.addr.eq(pp.ra.addr[name]) for name, r in pp.reads.items()]
    for pp in ctx.pipes:
        for lay in pp.layers:
            ports = [(ctx.Sw, "s"), (ctx.SFw, "sf")] + ([(ctx.SPw, "sp")] if ctx.symmetric
                                                        else [])
            for dst, kind in ports:
                src = getattr(pp.wb, f"{kind}{lay}")
                m.d.comb += [dst[lay - 1].addr.eq(src.addr), dst[lay - 1].data.eq(src.data),
                             dst[lay - 1].en.eq(src.en)]
            if lay == ctx.L:
                cand = pp.wb.candidates
                m.d.comb += [ctx.cand.valid.eq(cand.valid), ctx.cand.payload.eq(cand.payload)]


def relax_inputs(ctx: CoreBuild) -> None:
    """How a layer's MAC directions find their weights, states and row constant."""
    Bd, Dd, Sd, af, aw = ctx.Bd, ctx.Dd, ctx.Sd, ctx.af, ctx.aw
    inputs_of, lane, pipe_of, wb_ = ctx.inputs_of, ctx.lane, ctx.pipe_of, ctx.wb_

    def halves_of(lay: int, fwd: bool) -> list:
        """Per half of a MAC direction's entries: (the weights read, registered; the
        input states read, registered)."""
        pp = pipe_of[lay]
        li, sk = inputs_of(lay, fwd)
        out = [(pp.wq[li], Sd[sk])]
        if lay in pp.half:
            out.append((pp.half[lay].wq, pp.half[lay].sd))
        return out

    def entry_of(t_, h: int, nt: int):
        """Entry t_ of half h: the halves take consecutive runs of nt entries."""
        return t_ if h == 0 else t_ + h * nt

    def const_of(lay: int, k):
        """The row constant at stage 3: the drive (layer 1) or the bias."""
        if lay == 1:
            return lane(Dd, k, aw, True)
        return lane(Bd[lay - 1], k, wb_, True) << af

    ctx.const_of, ctx.entry_of, ctx.halves_of = const_of, entry_of, halves_of


def relax_rows(ctx: CoreBuild, lay: int, cf: int, cb: int, nt: int) -> None:
    """Layer ``lay`` by rows: one neuron at a time, word t of both MAC directions per
    cycle (P bottom-up products along W_{lay-1} row i, P top-down ones down W_lay
    column i), one accumulator."""
    L, P, ab, const_of = ctx.L, ctx.P, ctx.ab, ctx.const_of
    halves_of, lane = ctx.halves_of, ctx.lane
    lo, m, mul = ctx.lo, ctx.m, ctx.mul
    own_d, pipe_of, rotate, staged = ctx.own_d, ctx.pipe_of, ctx.rotate, ctx.staged
    pp = pipe_of[lay]
    p3_, pa = pp.st[3], pp.pa
    with m.If(p3_.lay == lay):  # stage 3
        const = staged(const_of(lay, lo(p3_.i)), f"r{lay}_const")
        own = staged(lane(own_d, lo(p3_.i), ab), f"r{lay}_own") if lay == L else 0
        def bank_states(sd):
            """Entry b: the state that meets bank b's weight, lane (b - i) mod P."""
            return rotate([lane(sd, k, ab) for k in range(P)], lo(p3_.i), back=True)
        sums = []  # (P products, entries of their half), at most two
        for fwd, c in ((True, cf), (False, cb)):
            for h, (wq, sd) in enumerate(halves_of(lay, fwd) if c else []):
                if c - h * nt <= 0:
                    continue
                tag = ("f" if fwd else "b") + (f"h{h}" if h else "")
                sums.append(([staged(mul(b + (0 if fwd else P), wq[b], sv),
                                     f"r{lay}_{tag}{b}")
                              for b, sv in enumerate(bank_states(sd))], c - h * nt))
    with m.If(pa.lay == lay):  # stage 3 + ml
        accu = pp.accu
        m.d.comb += [accu.valid.eq(pa.v), accu.first.eq(pa.first), accu.const[0].eq(const)]
        for r, (prods, left) in zip((accu.fwd[0], accu.bwd[0]), sums, strict=False):
            m.d.comb += r.eq(Mux(pa.t < left, sum(prods), 0) if left < nt
                             else sum(prods))
        if lay == L:  # the nudge's s_L, for the writeback
            m.d.comb += pp.wb.own[0].eq(own)


def relax_groups(ctx: CoreBuild, lay: int, nf: int, nb: int, nt: int) -> None:
    """Layer ``lay`` by row groups: P neurons at a time, one input per cycle in each
    direction, P accumulators (wins when a direction is shorter than P)."""
    L, P, ab, by_lane = ctx.L, ctx.P, ctx.ab, ctx.by_lane
    const_of, entry_of, halves_of = ctx.const_of, ctx.entry_of, ctx.halves_of
    lane, lo, m, mul, own_d = ctx.lane, ctx.lo, ctx.m, ctx.mul, ctx.own_d
    pipe_of, staged = ctx.pipe_of, ctx.staged
    pp = pipe_of[lay]
    p3_, pa = pp.st[3], pp.pa
    prods: list[list] = [[] for _ in range(P)]
    with m.If(p3_.lay == lay):  # stage 3
        const = [staged(const_of(lay, k), f"g{lay}_const{k}") for k in range(P)]
        own = ([staged(lane(own_d, k, ab), f"g{lay}_own{k}") for k in range(P)]
               if lay == L else [])
        for fwd, c in ((True, nf), (False, nb)):
            li = lay - 1 if fwd else lay
            for h, (wq, sd) in enumerate(halves_of(lay, fwd) if c else []):
                if c - h * nt <= 0:
                    continue
                tt = entry_of(p3_.t, h, nt)
                ws = by_lane(li, lo(tt), wq)
                tag = ("f" if fwd else "b") + (f"h{h}" if h else "")
                for k in range(P):
                    prods[k].append((staged(
                        mul(k + (0 if fwd else P), ws[k], lane(sd, lo(tt), ab)),
                        f"g{lay}_{tag}{k}"), c - h * nt))
    with m.If(pa.lay == lay):  # stage 3 + ml
        accu = pp.accu
        m.d.comb += [accu.valid.eq(pa.v), accu.first.eq(pa.first)]
        for k in range(P):
            terms = [Mux(pa.t < n_, v, 0) if n_ < nt else v for v, n_ in prods[k]]
            m.d.comb += [accu.const[k].eq(const[k])] + [
                r.eq(v) for r, v in zip((accu.fwd[k], accu.bwd[k]), terms, strict=False)]
            if lay == L:  # the nudge's s_L, for the writeback
                m.d.comb += pp.wb.own[k].eq(own[k])


def relax_state(ctx: CoreBuild) -> None:
    """RELAX: the step's entries issued per pipeline and layer, and the step's end (the
    layers of a step follow each other without a drain; only the step's end waits for
    its last write, as the next step reads it)."""
    L, core, ctrl, iters, m = ctx.L, ctx.core, ctx.ctrl, ctx.iters, ctx.m
    ml, pipes, pre_may, shape = ctx.ml, ctx.pipes, ctx.pre_may, ctx.shape
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
        for lay in range(1, L + 1):
            nf, nb, cf, cb = shape[lay]
            if core.relax_order[lay] == "groups":
                relax_groups(ctx, lay, nf, nb, iters[lay][1])
            else:
                relax_rows(ctx, lay, cf, cb, iters[lay][1])
