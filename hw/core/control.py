"""The phases around the datapath (hw/core/controller.py orders them): a job's start,
state clearing, the symmetric nudge's copy, and the result."""

from __future__ import annotations

from amaranth.hdl import Signal

from .build import CoreBuild
from .controller import Phase
from .mem_ports import write_from


def idle_start(ctx: CoreBuild) -> None:
    """IDLE: a job starts (with its pixels loaded, on the fast plan; straight to the
    relaxation when the predrive has its drive)."""
    argmax, cep, core, ctrl, db = ctx.argmax, ctx.cep, ctx.core, ctx.ctrl, ctx.db
    fb, fill, h_we, i, job, loader = ctx.fb, ctx.fill, ctx.h_we, ctx.i, ctx.job, ctx.loader
    m, nnz, overlap, pre = ctx.m, ctx.nnz, ctx.overlap, ctx.pre
    pre_bank, pre_done, predrive, t = ctx.pre_bank, ctx.pre_done, ctx.predrive, ctx.t
    if overlap:  # a loaded sample starts at once
        start, new_job = loader.cur.full, loader.cur.job
    else:
        start, new_job = core.job.valid, core.job.payload
    m.d.comb += ctrl.start.eq(start)
    with m.If(start):
        m.d.sync += [job.eq(new_job), t.eq(0), nnz.eq(0)]
        m.d.comb += argmax.clear.eq(1)
        # (C-EP without nudged steps never updates, so draws nothing)
        m.d.comb += fill.start.eq(new_job.train & core.stochastic
                                  & ((core.t2 != 0) if cep else 1))
        if overlap:
            m.d.sync += [nnz.eq(loader.cur.nnz), i.eq(0)]
        if predrive:  # its drive is ready: straight to the relaxation
            ready = pre_done & (pre_bank == fb) & ~h_we
            m.d.comb += ctrl.drive_ready.eq(ready)
            with m.If(ready):
                m.d.sync += db.eq(~db)
                m.d.comb += pre.take.eq(1)


def clear_writes(ctx: CoreBuild) -> list:
    """The state stores' write ports, given to the state clear (hw/core/state_clear.py)."""
    return sum((write_from(ctx.Sw[k - 1], ctx.clear.write(k)) for k in range(1, ctx.L + 1)),
               [])


def zero_state(ctx: CoreBuild) -> None:
    """ZERO: the states start at 0, a word per cycle."""
    argmax, clear, ctrl, i, m, t = ctx.argmax, ctx.clear, ctx.ctrl, ctx.i, ctx.m, ctx.t
    with m.Case(Phase.ZERO):
        m.d.comb += [ctx.pre_may.eq(1), clear.word.eq(i), clear.zero.eq(1)]
        m.d.comb += clear_writes(ctx)
        m.d.sync += i.eq(i + 1)
        with m.If(clear.last):
            m.d.sync += [i.eq(0), t.eq(0)]
            m.d.comb += [argmax.clear.eq(1), ctrl.zeroed.eq(1)]


def copy_states(ctx: CoreBuild) -> None:
    """COPY: the symmetric nudge's -beta phase starts again from the free states, a
    word every other cycle (its address, then its write)."""
    SFr, clear, ctrl, i, m, t = ctx.SFr, ctx.clear, ctx.ctrl, ctx.i, ctx.m, ctx.t
    if not ctx.symmetric:
        return
    m.d.comb += [clear.free_port(k).data.eq(SFr[k - 1].data) for k in range(1, ctx.L + 1)]
    writing = Signal(name="copy_writing")
    with m.Case(Phase.COPY):
        m.d.comb += [ctx.pre_may.eq(1), clear.word.eq(i)]
        m.d.sync += writing.eq(~writing)
        with m.If(~writing):
            m.d.comb += [SFr[k - 1].addr.eq(clear.free_port(k).addr)
                         for k in range(1, ctx.L + 1)]
        with m.Else():
            m.d.comb += [clear.copy.eq(1)] + clear_writes(ctx)
            m.d.sync += i.eq(i + 1)
            with m.If(clear.last):
                m.d.sync += [i.eq(0), t.eq(0)]
                m.d.comb += ctrl.copied.eq(1)


def result_state(ctx: CoreBuild) -> None:
    """RESULT (after the last argmax candidates and the predrive)."""
    argmax, core, ctrl, job, loader = ctx.argmax, ctx.core, ctx.ctrl, ctx.job, ctx.loader
    m, overlap, pre_wait, samples = ctx.m, ctx.overlap, ctx.pre_wait, ctx.samples
    with m.Case(Phase.RESULT):
        # (inference gets here the cycle after its last argmax candidates)
        # (and after the predrive, which may not run in IDLE)
        m.d.comb += [core.result.valid.eq(~argmax.busy & ~pre_wait),
                     core.result.payload.eq(argmax.index)]
        with m.If(core.result.ready & ~argmax.busy & ~pre_wait):
            m.d.sync += samples.eq(samples + job.train)
            m.d.comb += ctrl.taken.eq(1)
            if overlap:  # the sample's pixels are no longer needed
                m.d.comb += loader.release.eq(1)
