"""The core's memories and their ports, from the plan's memory list (hw/plan.py):
weights in P banks per layer, biases, states (two banks), free and +beta end states,
pixels, the sparse pixel list, the drive, the random values."""

from __future__ import annotations

from amaranth.hdl import Signal, unsigned
from amaranth.lib.memory import Memory

from .build import CoreBuild
from .pixel_store import PixelStore
from .state_store import StateStore
from .weight_bank import WeightBank, bank_name


def memories(ctx: CoreBuild) -> None:
    """Every memory of the plan and its ports (the units: weight banks, state stores,
    the pixel store; the biases, the drive and the random values as plain memories),
    and the registered read data the loops consume (weight banks are many block RAMs
    behind a mux: the MAC starts from a flop)."""
    L, P, cfg, geo = ctx.L, ctx.P, ctx.cfg, ctx.geo
    hp, m, overlap, predrive, wb_ = ctx.hp, ctx.m, ctx.overlap, ctx.predrive, ctx.wb_
    plan = {name: (depth, width) for name, depth, width in hp.memories()}

    def mem(name: str, shape=None, attrs=None) -> Memory:
        depth, width = plan[name]
        mm = Memory(shape=shape if shape is not None else unsigned(width),
                    depth=max(depth, 1), init=[], attrs=attrs)
        m.submodules[name] = mm
        return mm

    def wport(mm: Memory, lane_bits: int | None = None):
        return mm.write_port(granularity=lane_bits if P > 1 else None)

    # a weight matrix's P banks (hw/core/weight_bank.py: block RAM, W0 in the UP5K's
    # SPRAM or in one-bit slices, as the plan says)
    wbanks = [[WeightBank(hp, li, b, g.depth) for b in range(P)] for li, g in enumerate(geo)]
    for li, row in enumerate(wbanks):
        for b, bank in enumerate(row):
            m.submodules[bank_name(li, b, P)] = bank
    Wr = [[bank.read for bank in row] for row in wbanks]
    Ww = [[bank.write for bank in row] for row in wbanks]
    B = [mem(f"b{i}") for i in range(L)]
    symmetric, cep = cfg.nudge == "symmetric", cfg.algorithm == "cep"
    # each layer's states: two banks, the free and (symmetric nudge) +beta end states
    stores = [StateStore(hp, k) for k in range(1, L + 1)]
    for k, store in enumerate(stores, 1):
        m.submodules[f"states{k}"] = store
    # the sample's pixels and its non-zero list (hw/core/pixel_store.py)
    m.submodules.pixels = pixels = PixelStore(hp)
    DRV = mem("drive")
    AR = mem("rand_a")
    CR = mem("rand_c", unsigned(cfg.sr_bits))

    Br, Bw = [x.read_port() for x in B], [wport(x, wb_) for x in B]
    Sr, Sw = [x.read for x in stores], [x.write for x in stores]
    SFr, SFw = [x.free_read for x in stores], [x.free_write for x in stores]
    SPr = [x.plus_read for x in stores] if symmetric else []
    SPw = [x.plus_write for x in stores] if symmetric else []
    # C-EP contrasts each nudged step with the one before: the other state bank
    Slo = [x.port("lo") for x in stores] if cep else []
    Xr, Xw = pixels.x_read, pixels.x_write
    X2r = pixels.x_read_next if predrive else None  # the next sample's, for the update
    NZr, NZw = pixels.nz_read, pixels.nz_write
    Dr, Dw = DRV.read_port(), DRV.write_port()
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
    ctx.CRw, ctx.Dd, ctx.Dr, ctx.Dw, ctx.NZr, ctx.NZw = CRw, Dd, Dr, Dw, NZr, NZw
    ctx.stores = stores
    ctx.SFd, ctx.SFr, ctx.SFw, ctx.SPd, ctx.SPr, ctx.SPw = SFd, SFr, SFw, SPd, SPr, SPw
    ctx.Sd, ctx.Slo, ctx.Slod, ctx.Sr, ctx.Sw, ctx.Wq, ctx.Wr = Sd, Slo, Slod, Sr, Sw, Wq, Wr
    ctx.Ww, ctx.X2r, ctx.Xd, ctx.Xr, ctx.Xw, ctx.cep = Ww, X2r, Xd, Xr, Xw, cep
    ctx.delayed, ctx.symmetric, ctx.wbanks = delayed, symmetric, wbanks
