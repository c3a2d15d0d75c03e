"""Passes over row groups (the input drive and the updates): P rows at a time, one
column per cycle."""

from __future__ import annotations

from amaranth.hdl import Signal

from .build import CoreBuild


def group_issue(ctx: CoreBuild, last_t, layer: int, indirect: bool, gate=1):
    """Run the group issue (hw/core/group_issue.py) for a pass over layer ``layer``'s
    row groups this cycle: t = 1.. are columns (the non-zero pixels through NZ when
    ``indirect``), t = ``last_t`` the bias; ``gate`` low holds issue for a cycle.
    Returns j1, the column at stage 1, and the drained flag."""
    NZr, gissue, gw, j1_nz = ctx.NZr, ctx.gissue, ctx.gw, ctx.j1_nz
    j2, j3, j4, j5, m = ctx.j2, ctx.j3, ctx.j4, ctx.j5, ctx.m
    predrive, x_base = ctx.predrive, ctx.x_base
    m.d.comb += [gissue.run.eq(1), gissue.layer.eq(layer), gissue.last_t.eq(last_t),
                 gissue.gate.eq(gate)]
    if indirect or not predrive:  # (the predrive may be reading NZ meanwhile)
        m.d.comb += NZr.addr.eq(x_base + gissue.t - 1)
    j1 = j1_nz if indirect else gissue.t1  # (one signal for every pass: no mux)
    m.d.sync += [j2.eq(j1), j3.eq(j2), j4.eq(j3), j5.eq(j4)]
    with m.If(gissue.drained):
        m.d.sync += gw.eq(0)
    return j1, gissue.drained


def group_helpers(ctx: CoreBuild) -> None:
    """The sparse pixel list's column (the drive's and W0's update's)."""
    ctx.j1_nz = j1_nz = Signal.like(ctx.t, name="j1_nz")
    ctx.m.d.comb += j1_nz.eq(ctx.NZr.data)
