"""The controller's states around the datapath: start, state clearing, the
symmetric nudge's copy, the end of the updates and the result."""

from __future__ import annotations

from .build import CoreBuild


def idle_start(ctx: CoreBuild) -> None:
    """IDLE: a job starts (with its pixels loaded, on the fast plan; straight to the
    relaxation when the predrive has its drive)."""
    argmax, cep, core, db, fb, fill = ctx.argmax, ctx.cep, ctx.core, ctx.db, ctx.fb, ctx.fill
    h_we, i, job, loader, m, minus = ctx.h_we, ctx.i, ctx.job, ctx.loader, ctx.m, ctx.minus
    nnz, nudging, overlap, pre = ctx.nnz, ctx.nudging, ctx.overlap, ctx.pre
    pre_bank, pre_done, predrive, step = ctx.pre_bank, ctx.pre_done, ctx.predrive, ctx.step
    t = ctx.t
    if overlap:  # a loaded sample starts at once
        start, new_job = loader.cur.full, loader.cur.job
    else:
        start, new_job = core.job.valid, core.job.payload
    with m.If(start):
        m.d.sync += [job.eq(new_job), t.eq(0), nnz.eq(0),
                     nudging.eq(0), minus.eq(0), step.eq(0)]
        m.d.comb += argmax.clear.eq(1)
        # (C-EP without nudged steps never updates, so draws nothing)
        m.d.comb += fill.start.eq(new_job.train & core.stochastic
                                  & ((core.t2 != 0) if cep else 1))
        m.next = "DRIVE_LOOP" if overlap else "LOAD"
        if overlap:
            m.d.sync += [nnz.eq(loader.cur.nnz), i.eq(0)]
        if predrive:  # its drive is ready: straight to the relaxation
            with m.If(pre_done & (pre_bank == fb) & ~h_we):
                m.d.sync += db.eq(~db)
                m.d.comb += pre.take.eq(1)
                m.next = "ZERO"


def zero_state(ctx: CoreBuild) -> None:
    """ZERO: the states start at 0, a word per cycle."""
    L, Sw, argmax, cur, i, m = ctx.L, ctx.Sw, ctx.argmax, ctx.cur, ctx.i, ctx.m
    nudging, nw, pre_may, step, t = ctx.nudging, ctx.nw, ctx.pre_may, ctx.step, ctx.t
    with m.State("ZERO"):
        m.d.comb += pre_may.eq(1)
        for layer in range(L):
            with m.If(i < nw[layer + 1]):
                m.d.comb += [Sw[layer].addr.eq(cur * nw[layer + 1] + i),
                             Sw[layer].data.eq(0), Sw[layer].en.eq(-1)]
        m.d.sync += i.eq(i + 1)
        with m.If(i == max(nw[1:]) - 1):
            m.d.sync += [i.eq(0), t.eq(0), step.eq(0), nudging.eq(0)]
            m.d.comb += argmax.clear.eq(1)
            m.next = "RELAX"


def copy_states(ctx: CoreBuild) -> None:
    """COPY_ADDR/COPY_WRITE: the symmetric nudge's -beta phase starts again from the
    free states."""
    L, SFr, Sw, cur, i, m, minus = ctx.L, ctx.SFr, ctx.Sw, ctx.cur, ctx.i, ctx.m, ctx.minus
    nw, pre_may, t = ctx.nw, ctx.pre_may, ctx.t
    # symmetric nudge: the -beta phase starts again from the free states
    with m.State("COPY_ADDR"):
        m.d.comb += pre_may.eq(1)
        for layer in range(L):
            m.d.comb += SFr[layer].addr.eq(i)
        m.next = "COPY_WRITE"
    with m.State("COPY_WRITE"):
        m.d.comb += pre_may.eq(1)
        for layer in range(L):
            with m.If(i < nw[layer + 1]):
                m.d.comb += [Sw[layer].addr.eq(cur * nw[layer + 1] + i),
                             Sw[layer].data.eq(SFr[layer].data), Sw[layer].en.eq(-1)]
        m.d.sync += i.eq(i + 1)
        m.next = "COPY_ADDR"
        with m.If(i == max(nw[1:]) - 1):
            m.d.sync += [i.eq(0), t.eq(0), minus.eq(1)]
            m.next = "RELAX"


def end_states(ctx: CoreBuild) -> None:
    """UPD_END (C-EP: more nudged steps recompute the drive with the new W0) and
    RESULT (after the last argmax candidates and the predrive)."""
    argmax, cep, core, fill, job = ctx.argmax, ctx.cep, ctx.core, ctx.fill, ctx.job
    loader, m, overlap, pre_wait = ctx.loader, ctx.m, ctx.overlap, ctx.pre_wait
    samples, step = ctx.samples, ctx.step

    with m.State("UPD_END"):
        m.next = "RESULT"
        if cep:  # more nudged steps: recompute the drive with the new W0
            with m.If(step != core.t2):
                m.d.comb += fill.start.eq(core.stochastic)
                m.next = "DRIVE_LOOP"

    with m.State("RESULT"):
        # (inference gets here the cycle after its last argmax candidates)
        # (and after the predrive, which may not run in IDLE)
        m.d.comb += [core.result.valid.eq(~argmax.busy & ~pre_wait),
                     core.result.payload.eq(argmax.index)]
        with m.If(core.result.ready & ~argmax.busy & ~pre_wait):
            m.d.sync += samples.eq(samples + job.train)
            m.next = "IDLE"
            if overlap:  # the sample's pixels are no longer needed
                m.d.comb += loader.release.eq(1)

