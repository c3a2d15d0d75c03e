"""The core's memories and their ports, from the plan's memory list (hw/plan.py):
weights in P banks per layer, biases, states (two banks), free and +beta end states,
pixels, the sparse pixel list, the drive, the random values."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Mux, Signal, unsigned
from amaranth.lib.memory import Memory

from ..bitslice import BitSlicedMemory
from ..spram import SinglePortMemory
from .build import CoreBuild, unnamed
from .job import index_bits


def memories(ctx: CoreBuild) -> None:
    """Every memory of the plan and its ports, and the registered read data the loops
    consume (weight banks are many block RAMs behind a mux: the MAC starts from a flop)."""
    L, P, ab, act, cfg, core, geo = ctx.L, ctx.P, ctx.ab, ctx.act, ctx.cfg, ctx.core, ctx.geo
    hp, m, n, overlap, predrive, wb_ = ctx.hp, ctx.m, ctx.n, ctx.overlap, ctx.predrive, ctx.wb_
    wsh = ctx.wsh
    plan = {name: (depth, width) for name, depth, width in hp.memories()}

    def mem(name: str, shape=None, attrs=None) -> Memory:
        depth, width = plan[name]
        mm = Memory(shape=shape if shape is not None else unsigned(width),
                    depth=max(depth, 1), init=[], attrs=attrs)
        m.submodules[name] = mm
        return mm

    def wport(mm: Memory, lane_bits: int | None = None):
        return mm.write_port(granularity=lane_bits if P > 1 else None)

    # On the UP5K, W0 (most of the weights) lives in single-port SPRAM: one read or
    # one write per cycle, so its update loop reads and writes on alternate cycles.
    single_w0 = hp.single_port_w0
    Wr: list[list] = []
    Ww: list[list] = []
    w_mems: dict[tuple[int, int], Memory] = {}  # (layer, bank), block RAM ones
    for li, g in enumerate(geo):
        rs, ws = [], []
        for b in range(P):
            name = f"w{li}_{b}" if P > 1 else f"w{li}"
            if li == 0 and single_w0:
                m.submodules[name] = sp = SinglePortMemory(wb_, g.depth, spram=core.spram)
                r = SimpleNamespace(addr=Signal(range(max(g.depth, 2)), name=f"{name}_ra"),
                                    data=sp.rdata.as_signed())
                w = SimpleNamespace(addr=Signal(range(max(g.depth, 2)), name=f"{name}_wa"),
                                    data=Signal(wsh, name=f"{name}_wd"),
                                    en=Signal(name=f"{name}_we"))
                # the update loop issues a read every other cycle; its writes come
                # five stages later and land one cycle late, in the cycles between
                wa, wd, we_ = unnamed(Signal.like(w.addr), Signal(wsh), Signal())
                m.d.sync += [wa.eq(w.addr), wd.eq(w.data), we_.eq(w.en)]
                m.d.comb += [sp.addr.eq(Mux(we_, wa, r.addr)), sp.wdata.eq(wd),
                             sp.we.eq(we_)]
            elif li == 0 and hp.w0_bit_sliced:
                m.submodules[name] = bs = BitSlicedMemory(wb_, g.depth)
                r = SimpleNamespace(addr=bs.raddr, data=bs.rdata.as_signed())
                w = SimpleNamespace(addr=bs.waddr, data=bs.wdata, en=bs.we)
            else:
                mm = mem(name, wsh)
                r, w = mm.read_port(), mm.write_port()
                w_mems[li, b] = mm
            rs.append(r)
            ws.append(w)
        Wr.append(rs)
        Ww.append(ws)
    B = [mem(f"b{i}") for i in range(L)]
    S = [mem(f"s{i + 1}") for i in range(L)]  # two banks: cur and ~cur
    SF = [mem(f"sf{i + 1}") for i in range(L)]
    symmetric, cep = cfg.nudge == "symmetric", cfg.algorithm == "cep"
    # symmetric nudge keeps the +beta end states while the -beta phase runs
    SP = [mem(f"sp{i + 1}") for i in range(L)] if symmetric else []
    X = mem("x", act)
    # The non-zero list's read data is a column number that W0's address is added
    # from, combinationally: on the fast plan's part (the ECP5) it sits in LUT RAM,
    # whose registered output comes 5 ns sooner than block RAM's (the 4-lane build's
    # critical path started there).
    NZ = mem("nz", unsigned(index_bits(n[0] + 1)),
             attrs={"ram_style": "distributed"} if overlap else None)
    DRV = mem("drive")
    AR = mem("rand_a")
    CR = mem("rand_c", unsigned(cfg.sr_bits))

    Br, Bw = [x.read_port() for x in B], [wport(x, wb_) for x in B]
    Sr, Sw = [x.read_port() for x in S], [wport(x, ab) for x in S]
    SFr, SFw = [x.read_port() for x in SF], [wport(x, ab) for x in SF]
    SPr, SPw = [x.read_port() for x in SP], [wport(x, ab) for x in SP]
    # C-EP contrasts each nudged step with the one before: the other state bank
    Slo = [x.read_port() for x in S] if cep else []
    Xr, Xw = X.read_port(), X.write_port()
    X2r = X.read_port() if predrive else None  # the next sample's pixels, for the update
    NZr, NZw = unnamed(NZ.read_port(), NZ.write_port())
    Dr, Dw = unnamed(DRV.read_port(), DRV.write_port())
    ARr, ARw = AR.read_port(), wport(AR, cfg.sr_bits)
    CRr, CRw = CR.read_port(), CR.write_port()
    for port in sum(Ww, []) + Bw + Sw + SFw + SPw + [Dw] + ([] if overlap else [Xw, NZw]):
        m.d.comb += port.en.eq(0)

    def delayed(v, name: str):
        r = Signal.like(v, name=name)
        m.d.sync += r.eq(v)
        return r

    # Weight memories are large (many block RAMs behind a select mux): their read
    # data is registered once, so the MAC starts from a flop (timing), and the loops
    # consume at stage 3 with the one-cycle operands delayed to match.
    Wq = [[delayed(r.data, f"w{i}_{b}_q") for b, r in enumerate(rs)]
          for i, rs in enumerate(Wr)]
    Xd = delayed(Xr.data, "x_d")
    CRd = delayed(CRr.data, "rand_c_d")
    CRd4 = delayed(CRd, "rand_c_d4")
    Dd = delayed(Dr.data, "drive_d")
    Bd = [delayed(r.data, f"b{i}_d") for i, r in enumerate(Br)]
    Sd = [delayed(r.data, f"s{i + 1}_d") for i, r in enumerate(Sr)]
    SFd = [delayed(r.data, f"sf{i + 1}_d") for i, r in enumerate(SFr)]
    SPd = [delayed(r.data, f"sp{i + 1}_d") for i, r in enumerate(SPr)]
    Slod = [delayed(r.data, f"slo{i + 1}_d") for i, r in enumerate(Slo)]
    ctx.ARr, ctx.ARw, ctx.Bd, ctx.Br, ctx.Bw, ctx.CRd4, ctx.CRr = ARr, ARw, Bd, Br, Bw, CRd4, CRr
    ctx.CRw, ctx.Dd, ctx.Dr, ctx.Dw, ctx.NZr, ctx.NZw, ctx.S = CRw, Dd, Dr, Dw, NZr, NZw, S
    ctx.SFd, ctx.SFr, ctx.SFw, ctx.SPd, ctx.SPr, ctx.SPw = SFd, SFr, SFw, SPd, SPr, SPw
    ctx.Sd, ctx.Slo, ctx.Slod, ctx.Sr, ctx.Sw, ctx.Wq, ctx.Wr = Sd, Slo, Slod, Sr, Sw, Wq, Wr
    ctx.Ww, ctx.X2r, ctx.Xd, ctx.Xr, ctx.Xw, ctx.cep = Ww, X2r, Xd, Xr, Xw, cep
    ctx.delayed, ctx.single_w0, ctx.symmetric, ctx.w_mems = delayed, single_w0, symmetric, w_mems
