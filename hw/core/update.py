"""The local weight updates: P rows at a time, one column per cycle, on one shared
datapath; and the predrive's correction by W0's update."""

from __future__ import annotations

from amaranth.hdl import Cat, Signal

from .build import CoreBuild
from .group_pass import group_issue
from .mem_ports import write_from
from .predrive_correction import PredriveCorrection
from .update_address import UpdateAddress
from .update_operands import UpdateOperands
from .update_unit import UpdateUnit
from .update_writeback import UpdateWriteback


def update_sequence(ctx: CoreBuild) -> None:
    """UPD_START and the order the layers update in (W0 last with the predrive: the
    other layers' updates need none of its ports)."""
    L, fill_on, m, pre_wait, predrive = ctx.L, ctx.fill_on, ctx.m, ctx.pre_wait, ctx.predrive
    order = list(range(1, L)) + [0] if predrive else list(range(L))

    def upd_next(after: int | None) -> str:
        """The state after layer ``after``'s update (None: UPD_START)."""
        k = 0 if after is None else order.index(after) + 1
        if k == L:
            return "UPD_END"
        return "U0_WAIT" if order[k] == 0 and predrive else f"U{order[k]}_LOOP"

    with m.State("UPD_START"):
        # (W0 first: the predrive, if any, must have read it)
        ready = ~fill_on & ~pre_wait if order[0] == 0 else ~fill_on
        with m.If(ready):
            m.next = upd_next(None)
    if predrive:
        with m.State("U0_WAIT"):  # the predrive reads the old W0
            with m.If(~pre_wait):
                m.next = "U0_LOOP"
    ctx.upd_next = upd_next


def update_end(ctx: CoreBuild) -> None:
    """UPD_END: every layer updated (C-EP with nudged steps left: their random values
    are drawn now, for the next step's update)."""
    core, ctrl, fill, m = ctx.core, ctx.ctrl, ctx.fill, ctx.m
    with m.State("UPD_END"):
        m.d.comb += ctrl.updated.eq(1)
        if ctx.cep:
            with m.If(ctrl.step != core.t2):
                m.d.comb += fill.start.eq(core.stochastic)
        m.next = "UPD_START"


def update_registers(ctx: CoreBuild) -> None:
    """The one update datapath (UpdateUnit), shared by every layer (the layers update
    one after the other), its read addressing and per layer its writes, and the
    predrive's correction."""
    P, cfg, m, predrive = ctx.P, ctx.cfg, ctx.m, ctx.predrive
    SFd, SFr, SPd, SPr, Sd, Slo = ctx.SFd, ctx.SFr, ctx.SPd, ctx.SPr, ctx.Sd, ctx.Slo
    Slod, Sr = ctx.Slod, ctx.Sr
    m.submodules.update = unit = UpdateUnit(cfg, predrive)
    in_u0 = Signal(name="in_u0")  # the FSM updates W0 (and b0)
    ctx.in_u0, ctx.upd = in_u0, unit
    if predrive:
        m.submodules.predrive_correction = ctx.pre_fix = PredriveCorrection(
            ctx.hp, ctx.gissue.entry, len(ctx.j4))

    def hi_lo(k: int):
        """((read port, data) of the hi states, of the lo ones) of state memory k: the
        two phases the update contrasts (``HardwarePlan.update_contrast``)."""
        def port(where: str) -> tuple:
            if where == "cur":
                return Sr[k], Sd[k]
            if where == "other":
                return Slo[k], Slod[k]
            return (SFr[k], SFd[k]) if where == "free" else (SPr[k], SPd[k])
        return tuple(port(where) for where in ctx.hp.update_contrast)

    def reads(lay: int) -> dict:
        """Weight layer ``lay``'s update's read ports, by ``update_ports`` name."""
        (post_hi, _), (post_lo, _) = hi_lo(lay)
        out = {f"w{lay}_{b}": ctx.Wr[lay][b] for b in range(P)}
        out.update({f"cr{lay}": ctx.CRr, f"post_hi{lay}": post_hi,
                    f"post_lo{lay}": post_lo, f"b{lay}": ctx.Br[lay], f"ar{lay}": ctx.ARr})
        if lay == 0:
            out["x"] = ctx.Xr
        else:
            (pre_hi, _), (pre_lo, _) = hi_lo(lay - 1)
            out.update({f"pre_hi{lay}": pre_hi, f"pre_lo{lay}": pre_lo})
        return out

    ctx.upd_reads = [reads(lay) for lay in range(ctx.L)]
    widths = {name: len(r.addr) for rs in ctx.upd_reads for name, r in rs.items()}
    m.submodules.update_address = ua = UpdateAddress(ctx.hp, ctx.gissue.entry, len(ctx.t),
                                                     widths)
    m.d.comb += [ua.entries.eq(Cat(ctx.u1, ctx.u2)), ua.column.eq(ctx.gissue.t1),
                 ua.pixel_column.eq(ctx.j1_nz), ua.pixel_base.eq(ctx.x_base),
                 ua.cur.eq(ctx.cur)]
    ctx.upd_addr = ua
    # stage 3's operands, from the reads' data
    m.submodules.update_operands = ops = UpdateOperands(ctx.hp, ctx.gissue.entry, len(ctx.j3))
    m.d.comb += [ops.column.eq(ctx.j3), ops.neg.eq(ctx.neg),
                 ops.update_q.eq(ctx.core.update_q), ops.data.ar.eq(ctx.ARr.data),
                 ops.data.x.eq(ctx.Xd)]
    for lay in range(ctx.L):
        (post_hi, _), (post_lo, _) = hi_lo(lay)
        m.d.comb += [ops.data[f"w{lay}_{b}"].eq(ctx.Wq[lay][b]) for b in range(P)]
        m.d.comb += [ops.data[f"b{lay}"].eq(ctx.Br[lay].data),
                     ops.data[f"post_hi{lay}"].eq(post_hi.data),
                     ops.data[f"post_lo{lay}"].eq(post_lo.data)]
        if lay:
            (_, pre_hi), (_, pre_lo) = hi_lo(lay - 1)
            m.d.comb += [ops.data[f"pre_hi{lay}"].eq(pre_hi), ops.data[f"pre_lo{lay}"].eq(pre_lo)]
    m.d.comb += [unit.valid.eq(ops.valid), unit.first.eq(ops.first), unit.k.eq(ops.k),
                 unit.v_hi.eq(ops.v_hi), unit.v_lo.eq(ops.v_lo), unit.a.eq(ops.a),
                 unit.u_hi.eq(ops.u_hi), unit.u_lo.eq(ops.u_lo), unit.w.eq(ops.w)]
    ctx.upd_ops = ops
    # each layer's writes of the new weights and biases (stage 5)
    ctx.upd_writes = []
    for lay, geo in enumerate(ctx.geo):
        m.submodules[f"update_writeback{lay}"] = wb = UpdateWriteback(
            geo, cfg.weight_bits, ctx.gissue.entry, len(ctx.j5))
        m.d.comb += [wb.entry.eq(ctx.u5), wb.column.eq(ctx.j5), wb.new_w.eq(unit.new_w)]
        ctx.upd_writes.append(wb)


def update_loops(ctx: CoreBuild) -> None:
    """U{l}_LOOP: P rows (a group) at a time, one column per cycle, all groups of a
    layer in one flat pipeline: a k*v entry per group, one entry per column, a bias
    entry (column n_in with u = 1.0); stages 1 and 2 read (their addresses:
    hw/core/update_address.py), stage 3 hands the unit its operands
    (hw/core/update_operands.py), stage 5 writes back."""
    Bw, L, Ww, half, m = ctx.Bw, ctx.L, ctx.Ww, ctx.half, ctx.m
    ops, pool, unit = ctx.upd_ops, ctx.pool, ctx.upd
    for lay in range(L):
        # the bias entry: t = columns + 1 (nnz + 1 from a register: timing)
        last_t = ctx.nnz_p1 if lay == 0 else ctx.n[lay] + 1
        with m.State(f"U{lay}_LOOP"):
            alternate = lay == 0 and ctx.hp.single_port_w0
            if alternate:
                m.d.sync += half.eq(~half)
            # single-port W0: its columns issue on alternate cycles (the writes
            # land between); the k*v and bias entries do not touch W0
            t = ctx.gissue.t
            col = (t != 0) & (t != last_t)
            _, done = group_issue(ctx, last_t, lay, indirect=lay == 0,
                                  gate=~(half & col) if alternate else 1)
            # stages 1 and 2: the column's and the group's reads
            m.d.comb += [r.addr.eq(ctx.upd_addr.addr[name])
                         for name, r in ctx.upd_reads[lay].items()]
            # stage 3: the operands, formed on the pool
            m.d.comb += [ops.layer.eq(lay), ops.entry.eq(ctx.u3)]
            if lay == 0:
                m.d.comb += ctx.in_u0.eq(1)
            m.d.comb += [pool.ops.a.eq(unit.mul.a), pool.ops.b.eq(unit.mul.b)]
            # stage 5: write back
            wb = ctx.upd_writes[lay]
            m.d.comb += write_from(Bw[lay], wb.bias)
            for b in range(ctx.P):
                m.d.comb += write_from(Ww[lay][b], getattr(wb, f"w{b}"))
            with m.If(done):
                m.d.sync += half.eq(0)
                m.next = ctx.upd_next(lay)


def update_datapath(ctx: CoreBuild) -> None:
    """What the update unit takes every cycle (its registers run every cycle; the
    entries' valid bits say when a result is real): the pool's products, the column's
    random value at stage 4, and with the predrive the next sample's pixel."""
    CRd4, X2r, core, m = ctx.CRd4, ctx.X2r, ctx.core, ctx.m
    pool, predrive, u5, unit = ctx.pool, ctx.predrive, ctx.u5, ctx.upd
    m.d.comb += [unit.mul.p.eq(pool.ops.p), unit.r_col.eq(CRd4),
                 unit.stochastic.eq(core.stochastic)]
    if predrive:
        m.d.comb += [unit.last.eq(u5.last), unit.x.eq(X2r.data)]


def predrive_correction(ctx: CoreBuild) -> None:
    """The predrive read W0 and b0 before this update: its drive corrected by what the
    update changes (hw/core/predrive_correction.py), with the drive memory's ports and
    the next sample's pixels (X's second read port) while W0 updates."""
    if not ctx.predrive:
        return
    m, u = ctx.m, ctx.pre_fix
    m.d.comb += [u.run.eq(ctx.in_u0 & ctx.pre_done), u.entries.eq(Cat(ctx.u5, ctx.u6)),
                 u.column.eq(ctx.j4), u.bank.eq(ctx.pre_bank), u.drive_base.eq(ctx.pre_db_off),
                 u.terms.eq(ctx.upd.corr_term), u.drive.data.eq(ctx.Dr.data)]
    with m.If(u.run):
        m.d.comb += [ctx.X2r.addr.eq(u.x_addr), ctx.Dr.addr.eq(u.drive.addr)]
    with m.If(u.drive_write.en):
        m.d.comb += write_from(ctx.Dw, u.drive_write)
