"""The local weight updates: P rows at a time, one column per cycle, on one shared
datapath; and the predrive's correction by W0's update."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed

from .build import CoreBuild
from .group_pass import group_issue
from .update_lane import UpdateLane


def update_sequence(ctx: CoreBuild) -> None:
    """UPD_START and the order the layers update in (W0 last with the predrive: the
    other layers' updates need none of its ports); which two phases each update
    contrasts, per variant."""
    L, SFd, SFr, SPd, SPr, Sd, Slo = ctx.L, ctx.SFd, ctx.SFr, ctx.SPd, ctx.SPr, ctx.Sd, ctx.Slo
    Slod, Sr, cep, cur, fill_on, i = ctx.Slod, ctx.Sr, ctx.cep, ctx.cur, ctx.fill_on, ctx.i
    m, nw, pre_wait, predrive = ctx.m, ctx.nw, ctx.pre_wait, ctx.predrive
    symmetric, t, u_fin = ctx.symmetric, ctx.t, ctx.u_fin
    order = list(range(1, L)) + [0] if predrive else list(range(L))

    def upd_next(after: int | None) -> str:
        """The state after layer ``after``'s update (None: UPD_START)."""
        k = 0 if after is None else order.index(after) + 1
        if k == L:
            return "UPD_END"
        return "U0_WAIT" if order[k] == 0 and predrive else f"U{order[k]}_LOOP"

    with m.State("UPD_START"):
        m.d.sync += [t.eq(0), i.eq(0), u_fin.eq(0)]
        # (W0 first: the predrive, if any, must have read it)
        with m.If(~fill_on & ~pre_wait if order[0] == 0 else ~fill_on):
            m.next = upd_next(None)
    if predrive:
        with m.State("U0_WAIT"):  # the predrive reads the old W0
            with m.If(~pre_wait):
                m.next = "U0_LOOP"
    # the two phases each update contrasts (hi - lo), per variant:
    #   EP: nudged (bank cur) vs free (SF); symmetric: +beta (SP) vs -beta (bank
    #   cur); C-EP: this nudged step (bank cur) vs the previous one (other bank)
    def hi_lo(layer: int):
        """(read port, word offset, delayed data) of the hi and lo states."""
        bank = (Sr[layer], cur * nw[layer + 1], Sd[layer])
        if symmetric:
            return (SPr[layer], 0, SPd[layer]), bank
        if cep:
            return bank, (Slo[layer], ~cur * nw[layer + 1], Slod[layer])
        return bank, (SFr[layer], 0, SFd[layer])

    ctx.hi_lo, ctx.upd_next = hi_lo, upd_next


def update_registers(ctx: CoreBuild) -> None:
    """The one update datapath's registers, shared by every layer (the layers
    update one after the other)."""
    P, ab, acc_shape, act, core = ctx.P, ctx.ab, ctx.acc_shape, ctx.act, ctx.core
    kv_width, wsh = ctx.kv_width, ctx.wsh
    pw = core.update_q_width + 2 * ab + 4
    kvb = [Signal(signed(kv_width), name=f"kvb_{k}") for k in range(P)]
    kvf = [Signal(signed(kv_width), name=f"kvf_{k}") for k in range(P)]
    u_hi, u_lo = Signal(act, name="u_hi"), Signal(act, name="u_lo")  # stage 3
    w_in = [Signal(wsh, name=f"w_in_{k}") for k in range(P)]  # stage 3
    prod_hi: list = [None] * P  # shared-multiplier outputs, set by the states
    prod_lo: list = [None] * P
    new_w = [Signal(wsh, name=f"new_w_{k}") for k in range(P)]  # stage 5
    in_u0 = Signal(name="in_u0")  # the FSM updates W0 (and b0)
    corr = [Signal(acc_shape, name=f"corr_{k}") for k in range(P)]  # stage 6
    corr_term = [Signal(acc_shape, name=f"corr_term_{k}") for k in range(P)]

    ctx.corr, ctx.corr_term, ctx.in_u0, ctx.kvb, ctx.kvf = corr, corr_term, in_u0, kvb, kvf
    ctx.new_w, ctx.prod_hi, ctx.prod_lo, ctx.pw, ctx.u_hi = new_w, prod_hi, prod_lo, pw, u_hi
    ctx.u_lo, ctx.w_in = u_lo, w_in


def update_loops(ctx: CoreBuild) -> None:
    """U{l}_LOOP: P rows (a group) at a time, one column per cycle, all groups of a
    layer in one flat pipeline: a k*v entry per group, one entry per column, a bias
    entry (column n_in with u = 1.0); stage 5 writes back."""
    ARr, Br, Bw, CRr, L, P, Wr = ctx.ARr, ctx.Br, ctx.Bw, ctx.CRr, ctx.L, ctx.P, ctx.Wr
    Ww, Xd, Xr, a_k, a_off, ab = ctx.Ww, ctx.Xd, ctx.Xr, ctx.a_k, ctx.a_off, ctx.ab
    by_lane, c_off, cfg, core, geo = ctx.by_lane, ctx.c_off, ctx.cfg, ctx.core, ctx.geo
    group_addr, gw, gwb, half, hi = ctx.group_addr, ctx.gw, ctx.gwb, ctx.half, ctx.hi
    hi_lo, in_u0, j3, j5, kvb, kvf = ctx.hi_lo, ctx.in_u0, ctx.j3, ctx.j5, ctx.kvb, ctx.kvf
    lane, lo, m, mul, n, neg, new_w = ctx.lane, ctx.lo, ctx.m, ctx.mul, ctx.n, ctx.neg, ctx.new_w
    nnz_p1, one, prod_hi, prod_lo, rot = ctx.nnz_p1, ctx.one, ctx.prod_hi, ctx.prod_lo, ctx.rot
    rotate, t, u1, u2, u3 = ctx.rotate, ctx.t, ctx.u1, ctx.u2, ctx.u3
    u5, u_hi, u_lo, upd_next, w_in = ctx.u5, ctx.u_hi, ctx.u_lo, ctx.upd_next, ctx.w_in
    wb_, x_base = ctx.wb_, ctx.x_base
    for lay in range(L):
        g = geo[lay]
        n_out, n_in = n[lay + 1], n[lay]
        # the bias entry: t = columns + 1 (nnz + 1 from a register: timing)
        last_t = nnz_p1 if lay == 0 else n_in + 1
        k_ = Signal(signed(core.update_q_width + 1), name=f"k{lay}")
        m.d.comb += k_.eq(Mux(neg, -core.update_q[lay], core.update_q[lay]))

        def row_ok(k: int, grp, n_out=n_out):
            """Lane k holds a real row (the last group may be partial)."""
            return grp * P + k < n_out if n_out % P else Const(1, 1)

        (post_r, post_o, _), (postf_r, postf_o, _) = hi_lo(lay)
        with m.State(f"U{lay}_LOOP"):
            alternate = lay == 0 and ctx.hp.single_port_w0
            if alternate:
                m.d.sync += half.eq(~half)
            # single-port W0: its columns issue on alternate cycles (the writes
            # land between); the k*v and bias entries do not touch W0
            col = (t != 0) & (t != last_t)
            j1, done = group_issue(ctx, last_t, lay, indirect=lay == 0,
                                   gate=~(half & col) if alternate else 1)
            # stage 1: the columns' weights and random values, the bias
            m.d.comb += [Wr[lay][b].addr.eq(group_addr(lay, b, u1.gb, j1))
                         for b in range(P)]
            m.d.comb += CRr.addr.eq(c_off[lay] + Mux(u1.last, n_in, j1))
            # stage 2: the k*v entry's states and row values, the bias (read at
            # stage 3 straight from the ports)
            m.d.comb += [post_r.addr.eq(post_o + u2.g), postf_r.addr.eq(postf_o + u2.g),
                         Br[lay].addr.eq(u2.g),
                         ARr.addr.eq(a_off[lay] + u2.g)]
            if lay == 0:
                m.d.comb += [Xr.addr.eq(x_base + j1), u_hi.eq(Mux(u3.last, one, Xd)),
                             u_lo.eq(Mux(u3.last, one, Xd)), in_u0.eq(1)]
            else:
                (pre_r, pre_o, pre_d), (pref_r, pref_o, pref_d) = hi_lo(lay - 1)
                m.d.comb += [pre_r.addr.eq(pre_o + hi(j1)),
                             pref_r.addr.eq(pref_o + hi(j1)),
                             u_hi.eq(Mux(u3.last, one, lane(pre_d, lo(j3), ab))),
                             u_lo.eq(Mux(u3.last, one, lane(pref_d, lo(j3), ab)))]
            # stage 3: k*v once per group (one multiplier level per weight after)
            # or k (v_hi u_hi - v_lo u_lo) for a column or the bias
            w_lane = by_lane(lay, lo(j3))
            for k in range(P):
                m.d.comb += w_in[k].eq(Mux(u3.last, lane(Br[lay].data, k, wb_, True),
                                           w_lane[k]))
                with m.If(u3.first):
                    kb_ = mul(k, k_, lane(post_r.data, k, ab), pool_only=True)
                    kf_ = mul(P + k, k_, lane(postf_r.data, k, ab), pool_only=True)
                    with m.If(u3.v):
                        m.d.sync += [kvb[k].eq(kb_), kvf[k].eq(kf_),
                                     a_k[k].eq(lane(ARr.data, k, cfg.sr_bits))]
                with m.Else():
                    prod_hi[k] = mul(k, kvb[k], u_hi, pool_only=True)
                    prod_lo[k] = mul(P + k, kvf[k], u_lo, pool_only=True)
            # stage 5: write back
            new_banked = rotate(new_w, lo(j5), back=True)  # entry b: bank b's
            with m.If(u5.v & u5.last):
                m.d.comb += [Bw[lay].addr.eq(gw), Bw[lay].data.eq(Cat(*new_w)),
                             Bw[lay].en.eq(Cat(*(row_ok(k, gw) for k in range(P))))]
                m.d.sync += [gw.eq(gw + 1), gwb.eq(gwb + P * g.words)]
            with m.Elif(u5.v & ~u5.first):
                for b in range(P):
                    kb = rot(b, lo(j5))
                    with m.If(row_ok(kb, gw)):  # padding rows of a last group: no
                        m.d.comb += [
                            Ww[lay][b].addr.eq(group_addr(lay, b, gwb, j5)),
                            Ww[lay][b].data.eq(new_banked[b]),
                            Ww[lay][b].en.eq(1)]
            with m.If(done):
                m.d.sync += half.eq(0)
                m.next = upd_next(lay)


def update_datapath(ctx: CoreBuild) -> None:
    """The update's arithmetic, one UpdateLane per lane (hw/core/update_lane.py): stage
    4 the products' difference, rounding and saturation, and with the predrive the drive
    correction's term.  Its registers run every cycle; the entries' valid bits say when
    a result is real."""
    CRd4, P, X2r, a_k, cfg = ctx.CRd4, ctx.P, ctx.X2r, ctx.a_k, ctx.cfg
    core, corr_term, m, new_w, predrive = ctx.core, ctx.corr_term, ctx.m, ctx.new_w, ctx.predrive
    prod_hi, prod_lo, pw, u5, w_in = ctx.prod_hi, ctx.prod_lo, ctx.pw, ctx.u5, ctx.w_in
    for k in range(P):
        m.submodules[f"update_lane{k}"] = ul = UpdateLane(cfg, pw, predrive)
        m.d.comb += [ul.hi.eq(prod_hi[k]), ul.lo.eq(prod_lo[k]), ul.w.eq(w_in[k]),
                     ul.r.eq(a_k[k] ^ CRd4), ul.stochastic.eq(core.stochastic),
                     new_w[k].eq(ul.new_w)]
        if predrive:
            m.d.comb += [ul.last.eq(u5.last), ul.x.eq(X2r.data), corr_term[k].eq(ul.corr_term)]


def predrive_correction(ctx: CoreBuild) -> None:
    """The predrive read W0 and b0 before this update: what the update changes
    goes into it, (w' - w) x'_j per column and (b' - b) for the bias (stage 6), and the
    corrected group is written at its last entry (x'_j from X's second read port)."""
    Dr, Dw, P, X2r, aw, corr = ctx.Dr, ctx.Dw, ctx.P, ctx.X2r, ctx.aw, ctx.corr
    corr_term, in_u0, j4, lane, m, n = ctx.corr_term, ctx.in_u0, ctx.j4, ctx.lane, ctx.m, ctx.n
    pre_bank, pre_db_off, pre_done = ctx.pre_bank, ctx.pre_db_off, ctx.pre_done
    predrive, u5, u6 = ctx.predrive, ctx.u5, ctx.u6
    if predrive:
        with m.If(in_u0 & pre_done):
            m.d.comb += [X2r.addr.eq(Mux(pre_bank, n[0], 0) + j4),
                         Dr.addr.eq(pre_db_off + u5.g)]
            with m.If(u6.v):
                m.d.sync += [c.eq(Mux(u6.first, 0, c + v))
                             for c, v in zip(corr, corr_term, strict=True)]
            with m.If(u6.v & u6.last):
                fixed = [lane(Dr.data, k, aw, True) + corr[k] + corr_term[k]
                         for k in range(P)]
                m.d.comb += [Dw.addr.eq(pre_db_off + u6.g),
                             Dw.data.eq(Cat(*(f[:aw] for f in fixed))), Dw.en.eq(1)]

