"""Passes over row groups (the input drive and the updates): P rows at a time, one
column per cycle."""

from __future__ import annotations

from amaranth.hdl import Signal

from .build import CoreBuild


def group_issue(ctx: CoreBuild, last_t, layer: int, indirect: bool, gate=1):
    """Issue the next entry (group i, entry t) of a pass over row groups (drive,
    updates): t = 0 opens a group, t = 1.. are its columns (the non-zero pixels
    through NZ when ``indirect``), t = ``last_t`` closes it; ``gate`` low holds
    issue for a cycle.  Returns j1, the column at stage 1, and the drained flag.
    Each entry carries its group's first weight address, so the stage-1 address
    is one addition of registers and the column (timing)."""
    NZr, P, geo, gw, gwb, i, j1_nz = ctx.NZr, ctx.P, ctx.geo, ctx.gw, ctx.gwb, ctx.i, ctx.j1_nz
    j2, j3, j4, j5, m, predrive, t = ctx.j2, ctx.j3, ctx.j4, ctx.j5, ctx.m, ctx.predrive, ctx.t
    t1_, u1, u2, u3, u4, u5, u6 = ctx.t1_, ctx.u1, ctx.u2, ctx.u3, ctx.u4, ctx.u5, ctx.u6
    u_fin, x_base = ctx.u_fin, ctx.x_base
    n_groups, row_words = geo[layer].groups, P * geo[layer].words
    issue = ~u_fin & gate
    with m.If(issue):
        with m.If(t != last_t):
            m.d.sync += t.eq(t + 1)
        with m.Elif(i != n_groups - 1):
            m.d.sync += [i.eq(i + 1), t.eq(0)]
        with m.Else():
            m.d.sync += u_fin.eq(1)
    m.d.sync += [u1.v.eq(issue), u1.first.eq(t == 0), u1.last.eq(t == last_t),
                 u1.g.eq(i), u1.gb.eq(i * row_words), t1_.eq(t - 1),
                 u2.eq(u1), u3.eq(u2), u4.eq(u3), u5.eq(u4), u6.eq(u5)]
    if indirect or not predrive:  # (the predrive may be reading NZ meanwhile)
        m.d.comb += NZr.addr.eq(x_base + t - 1)
    j1 = j1_nz if indirect else t1_  # (one signal for every pass: no mux)
    m.d.sync += [j2.eq(j1), j3.eq(j2), j4.eq(j3), j5.eq(j4)]
    drained = u_fin & ~u1.v & ~u2.v & ~u3.v & ~u4.v & ~u5.v & ~(u6.v & predrive)
    with m.If(drained):
        m.d.sync += [i.eq(0), t.eq(0), u_fin.eq(0), gw.eq(0), gwb.eq(0)]
    return j1, drained


def group_helpers(ctx: CoreBuild) -> None:
    """The sparse pixel list's column, and the weight addressing of a row group."""
    NZr, Wq, geo, lm, m, t = ctx.NZr, ctx.Wq, ctx.geo, ctx.lm, ctx.m, ctx.t
    j1_nz = Signal.like(t, name="j1_nz")  # the column from the sparse pixel list
    m.d.comb += j1_nz.eq(NZr.data)

    def group_addr(layer: int, b: int, base, c):
        return lm.group_addr(geo[layer].words, b, base, c)

    rotate = lm.rotate

    def by_lane(layer: int, c, regs=None):
        """Registered weights reordered so entry k is lane k's (bank (k + c) mod P)."""
        return rotate(Wq[layer] if regs is None else regs, c)
    ctx.by_lane, ctx.group_addr, ctx.rotate, ctx.j1_nz = by_lane, group_addr, rotate, j1_nz
