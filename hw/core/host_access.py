"""The host port: requests registered, weight offsets split into row and column,
regions decoded while idle, and the read data's mux."""

from __future__ import annotations

from amaranth.hdl import Array, Mux, Signal

from ..layout import exact_divider
from .build import CoreBuild


def host_inputs(ctx: CoreBuild) -> None:
    """The host's request registered (a read answers ``READ_LATENCY`` cycles later
    from the address kept until the next request)."""
    core, delayed, lg, m = ctx.core, ctx.delayed, ctx.lg, ctx.m
    req = core.host.req.payload
    taken = core.host.req.valid & core.host.req.ready
    m.d.comb += core.host.req.ready.eq(~core.busy)
    # the request's address is kept until the next one: a read answers from it
    h_region, h_offset = Signal.like(req.region), Signal.like(req.offset)
    with m.If(taken):
        m.d.sync += [h_region.eq(req.region), h_offset.eq(req.offset)]
    h_we = delayed(taken & req.write, "h_we")
    h_re = delayed(taken & ~req.write, "h_re")
    h_wdata = delayed(req.data, "h_wdata")
    m.d.comb += core.host.resp.valid.eq(
        delayed(delayed(h_re, "h_re_2"), "h_re_3"))  # READ_LATENCY
    host_rsel = Signal(range(len(core.amap.regions) + 1))
    host_lane = Signal(max(lg, 1))
    ctx.h_offset, ctx.h_re, ctx.h_region, ctx.h_wdata = h_offset, h_re, h_region, h_wdata
    ctx.h_we, ctx.host_lane, ctx.host_rsel = h_we, host_lane, host_rsel


def host_split(ctx: CoreBuild) -> None:
    """With lanes, the weight offset split into row and column by a reciprocal
    multiply, a stage of its own outside the FSM (so synthesis cannot share its
    multipliers with the datapath's); the read then answers from the memory port."""
    P, delayed, geo, h_offset, h_re = ctx.P, ctx.delayed, ctx.geo, ctx.h_offset, ctx.h_re
    h_region, h_wdata, h_we, hi, lo = ctx.h_region, ctx.h_wdata, ctx.h_we, ctx.hi, ctx.lo
    m = ctx.m
    h_split = {}
    if P > 1:
        h_region2 = delayed(h_region, "h_region2")
        h_we2, h_re2 = delayed(h_we, "h_we2"), delayed(h_re, "h_re2")
        h_wdata2 = delayed(h_wdata, "h_wdata2")
        ctx.h_region2, ctx.h_we2, ctx.h_re2, ctx.h_wdata2 = h_region2, h_we2, h_re2, h_wdata2
        for layer, g in enumerate(geo):
            mul_r, shift = exact_divider(g.n_in, g.n_out * g.n_in)
            off = Signal(range(g.n_out * g.n_in), name=f"h_woff{layer}")
            row = Signal(range(g.n_out), name=f"h_row{layer}")
            row_r = Signal.like(row, name=f"h_row{layer}_r")
            col_r = Signal(range(g.n_in), name=f"h_col{layer}_r")
            m.d.comb += [off.eq(h_offset), row.eq((off * mul_r) >> shift)]
            m.d.sync += [row_r.eq(row), col_r.eq(off - row * g.n_in)]
            # bank address row * words + col // P: off // P when P divides a row,
            # with no multiplier (Yosys would share one with the datapath's, the FSM
            # state then steering W0's read address through it)
            if g.n_in % P == 0:
                off_r = delayed(off, f"h_woff{layer}_r")
                h_split[layer] = (hi(off_r), lo(row_r + col_r))
            else:
                h_split[layer] = (row_r * g.words + hi(col_r), lo(row_r + col_r))
    ctx.h_split = h_split


def idle_requests(ctx: CoreBuild) -> None:
    """While idle: the host's reads and writes decoded by region onto the memories'
    ports (weights with lanes a cycle later, from the split offset)."""
    Br, Bw, P, SFr, SPr, Sr, Wr = ctx.Br, ctx.Bw, ctx.P, ctx.SFr, ctx.SPr, ctx.Sr, ctx.Wr
    Ww, core, cur, fill, h_offset = ctx.Ww, ctx.core, ctx.cur, ctx.fill, ctx.h_offset
    h_re, h_re2, h_region, h_region2 = ctx.h_re, ctx.h_re2, ctx.h_region, ctx.h_region2
    h_split, h_wdata, h_wdata2, h_we = ctx.h_split, ctx.h_wdata, ctx.h_wdata2, ctx.h_we
    h_we2, hi, host_lane, host_rsel, lo = ctx.h_we2, ctx.hi, ctx.host_lane, ctx.host_rsel, ctx.lo
    m, nw, onehot, spread, wb_ = ctx.m, ctx.nw, ctx.onehot, ctx.spread, ctx.wb_
    for r_idx, (kind, layer, size) in enumerate(core.amap.regions):
        hit = h_region == r_idx
        off = Signal(range(max(size, 2)), name=f"h_off{r_idx}")
        m.d.comb += off.eq(h_offset)
        with m.If(hit):
            with m.If(h_re):
                m.d.sync += host_rsel.eq(r_idx)
            if kind == "lfsr":  # read straight from the register (idle)
                m.d.comb += [fill.seed.layer.eq(layer), fill.seed.en.eq(h_we)]
            elif kind == "W":  # (with lanes: below, a cycle later)
                if P == 1:
                    m.d.comb += Wr[layer][0].addr.eq(off)
                    with m.If(h_we):
                        m.d.comb += [Ww[layer][0].addr.eq(off),
                                     Ww[layer][0].data.eq(h_wdata),
                                     Ww[layer][0].en.eq(1)]
            else:
                word = hi(off) + (cur * nw[layer + 1] if kind == "s" else 0)
                src = {"b": Br, "sf": SFr, "s": Sr, "sp": SPr}[kind][layer]
                m.d.comb += src.addr.eq(word)
                with m.If(h_re):
                    m.d.sync += host_lane.eq(lo(off))
                if kind == "b":
                    with m.If(h_we):
                        m.d.comb += [Bw[layer].addr.eq(word),
                                     Bw[layer].data.eq(spread(h_wdata, wb_)),
                                     Bw[layer].en.eq(onehot(lo(off)))]
    for layer, (addr, bank) in h_split.items():
        hit2 = h_region2 == core.amap.index("W", layer)
        for b in range(P):
            m.d.comb += Wr[layer][b].addr.eq(addr)
            with m.If(hit2 & h_we2 & (bank == b)):
                m.d.comb += [Ww[layer][b].addr.eq(addr),
                             Ww[layer][b].data.eq(h_wdata2),
                             Ww[layer][b].en.eq(1)]
        with m.If(hit2 & h_re2):
            m.d.sync += host_lane.eq(bank)


def read_mux(ctx: CoreBuild) -> None:
    """The host's read data: from the region and lane latched at the (registered)
    read; the mux is as wide as the widest source, the sign extension after it."""
    Br, P, SFr, SPr, Sr, Wq, Wr = ctx.Br, ctx.P, ctx.SFr, ctx.SPr, ctx.Sr, ctx.Wq, ctx.Wr
    ab, core, fill, host_lane = ctx.ab, ctx.core, ctx.fill, ctx.host_lane
    host_rsel, lane, m, wb_ = ctx.host_rsel, ctx.lane, ctx.m, ctx.wb_
    raw = Signal(max(32, wb_))
    is_signed = Signal()
    with m.Switch(host_rsel):
        for r_idx, (kind, layer, _) in enumerate(core.amap.regions):
            with m.Case(r_idx):
                if kind == "lfsr":
                    m.d.comb += raw.eq(fill.state[layer])
                elif kind == "W":
                    m.d.comb += [raw.eq((Array(r.data for r in Wr[layer])[host_lane]
                                         if P > 1 else Wq[layer][0]).as_unsigned()),
                                 is_signed.eq(1)]
                else:
                    src = {"b": Br, "sf": SFr, "s": Sr, "sp": SPr}[kind][layer]
                    m.d.comb += raw.eq(lane(src.data, host_lane, wb_ if kind == "b" else ab))
                    if kind == "b":
                        m.d.comb += is_signed.eq(1)
    m.d.comb += core.host.resp.payload.eq(Mux(is_signed, raw[:wb_].as_signed(), raw))
