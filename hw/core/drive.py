"""The sample in: pixels loaded, and the input drive W0 x + b0 (or the predrive's,
computed while the sample before relaxed)."""

from __future__ import annotations

from amaranth.hdl import Cat, Mux, Signal

from .build import CoreBuild
from .control import clear_writes
from .controller import Phase
from .group_pass import group_issue
from .input_drive import InputDrive
from .predrive import Predrive


def connect_predrive(ctx: CoreBuild) -> None:
    """The predrive (fast plan): while the FSM relaxes (or zeroes or copies states,
    which leave W0, X, NZ, b0 and the drive's write port alone) the next sample's drive
    b0 + W0 x' goes into the other drive bank.  UPD_START and RESULT wait for it; the
    next sample then starts without a drive.  Host writes (weights, biases) void it."""
    Br, Dw, NZr, P, Wq, Wr, Xd = ctx.Br, ctx.Dw, ctx.NZr, ctx.P, ctx.Wq, ctx.Wr, ctx.Xd
    Xr, fb, h_we, hp, loader, m, nw = ctx.Xr, ctx.fb, ctx.h_we, ctx.hp, ctx.loader, ctx.m, ctx.nw
    predrive = ctx.predrive
    db = Signal(name="drive_bank")  # the bank the relaxation reads
    db_off = Mux(db, nw[1], 0) if predrive else 0
    pre_db_off = Mux(db, 0, nw[1])  # the other bank: the predrive's
    pre_may = Signal(name="pre_may")  # set by the phases it may run in
    pre_run = Signal(name="pre_run")
    pre_done = Signal(name="pre_done")  # valid for X bank pre_bank
    pre_bank = Signal(name="pre_bank")
    pre_wait = Signal(name="pre_wait")  # (constant 0 without the predrive)
    if predrive:
        m.submodules.predrive = ctx.pre = pre = Predrive(hp)
        m.d.comb += [pre_wait.eq(pre.run), pre_run.eq(pre.run), pre_done.eq(pre.done),
                     pre_bank.eq(pre.bank), pre.may.eq(pre_may),
                     pre.next_full.eq(loader.next.full), pre.next_nnz.eq(loader.next.nnz),
                     pre.fsm_bank.eq(fb), pre.void.eq(h_we),
                     pre.nz_data.eq(NZr.data), pre.x_data.eq(Xd), pre.b_data.eq(Br[0].data),
                     pre.w_data.eq(Cat(*Wq[0]))]
        with m.If(pre.run):  # W0, X, NZ and b0 are the predrive's
            m.d.comb += [NZr.addr.eq(pre.nz_addr), Xr.addr.eq(pre.x_addr),
                         Br[0].addr.eq(pre.b_addr)]
            m.d.comb += [Wr[0][b].addr.eq(pre.w_addr[b]) for b in range(P)]
        with m.If(pre.d_write):
            m.d.comb += [Dw.addr.eq(pre_db_off + pre.d_group), Dw.data.eq(pre.d_data),
                         Dw.en.eq(1)]
    ctx.db, ctx.db_off, ctx.pre_bank = db, db_off, pre_bank
    ctx.pre_db_off, ctx.pre_done, ctx.pre_may = pre_db_off, pre_done, pre_may
    ctx.pre_wait = pre_wait


def load_state(ctx: CoreBuild) -> None:
    """LOAD (plans without the pixel loader): pixels into X, the non-zero ones' columns
    into NZ; the states start at 0, cleared here when there are enough pixels for it."""
    NZw, Xw, core, i, m, n = ctx.NZw, ctx.Xw, ctx.core, ctx.i, ctx.m, ctx.n
    nnz, overlap, t = ctx.nnz, ctx.overlap, ctx.t
    zero_in_load = ctx.zero_in_load
    if not overlap:  # (else the loader below takes the pixels)
        with m.Case(Phase.LOAD):
            m.d.comb += core.pixels.ready.eq(1)
            with m.If(core.pixels.valid):
                m.d.comb += [Xw.addr.eq(t), Xw.data.eq(core.pixels.payload), Xw.en.eq(1)]
                with m.If(core.pixels.payload != 0):
                    m.d.comb += [NZw.addr.eq(nnz), NZw.data.eq(t), NZw.en.eq(1)]
                    m.d.sync += nnz.eq(nnz + 1)
                m.d.sync += t.eq(t + 1)
                if zero_in_load:  # s = 0 in bank cur, a word per pixel
                    m.d.comb += [ctx.clear.word.eq(t), ctx.clear.zero.eq(1)]
                    m.d.comb += clear_writes(ctx)
                with m.If(t == n[0] - 1):
                    m.d.sync += [i.eq(0), t.eq(0)]
                    m.d.comb += ctx.ctrl.loaded.eq(1)


def connect_drive(ctx: CoreBuild) -> None:
    """The input drive's unit (hw/core/input_drive.py) and what it reads every cycle:
    the row-group issue's entries and columns, the registered W0 words, the pixel, the
    biases and (shared plan) the pool's products."""
    Br, P, Wq, m, pool = ctx.Br, ctx.P, ctx.Wq, ctx.m, ctx.pool
    m.submodules.input_drive = ctx.drive = unit = InputDrive(ctx.hp, len(ctx.t), ctx.gissue.entry)
    m.d.comb += [unit.entries.eq(ctx.gissue.st), unit.column.eq(ctx.j1_nz),
                 unit.column3.eq(ctx.j3), unit.x_data.eq(ctx.Xd), unit.b_data.eq(Br[0].data)]
    m.d.comb += [unit.w_data[b].eq(Wq[0][b]) for b in range(P)]
    if ctx.hp.shared_mul:
        m.d.comb += [unit.mul.p[k].eq(pool.ops.p[k]) for k in range(P)]


def drive_state(ctx: CoreBuild) -> None:
    """DRIVE: W0 x + b0, P rows at a time over the non-zero pixels: the unit's
    addresses, multiplier operands and accumulator operands, and its groups' drives
    into the drive memory."""
    Br, Dw, P, Wr, Xr, accu = ctx.Br, ctx.Dw, ctx.P, ctx.Wr, ctx.Xr, ctx.accu
    db_off, gw, m, pool, unit = ctx.db_off, ctx.gw, ctx.m, ctx.pool, ctx.drive
    with m.Case(Phase.DRIVE):
        j1, done = group_issue(ctx, ctx.nnz, 0, indirect=True)
        m.d.comb += [Wr[0][b].addr.eq(unit.w_addr[b]) for b in range(P)]
        m.d.comb += [Xr.addr.eq(ctx.x_base + j1), Br[0].addr.eq(unit.b_addr)]
        if ctx.hp.shared_mul:
            m.d.comb += [pool.ops.a[k].eq(unit.mul.a[k]) for k in range(P)]
            m.d.comb += [pool.ops.b[k].eq(unit.mul.b[k]) for k in range(P)]
        m.d.comb += accu.take(unit.acc)
        with m.If(unit.group_end):
            m.d.comb += [Dw.addr.eq(db_off + gw), Dw.data.eq(accu.acc), Dw.en.eq(1)]
            m.d.sync += gw.eq(gw + 1)
        # (C-EP: W0 changed, so the drive is recomputed between steps)
        m.d.comb += ctx.ctrl.driven.eq(done)
