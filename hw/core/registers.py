"""The core's control registers, pipeline entries and multipliers."""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from .accumulators import Accumulators
from .argmax import Argmax
from .build import CoreBuild
from .controller import Controller
from .group_issue import GroupIssue
from .job import index_bits, job_layout, nnz_bits
from .multipliers import MultiplierPool
from .shapes import multiplier_shape


def registers(ctx: CoreBuild) -> None:
    """The controller's registers, the group passes' entry registers, and the 2P
    multipliers."""
    P, ab, acc_shape, cfg = ctx.P, ctx.ab, ctx.acc_shape, ctx.cfg
    core, geo, lg, m, n = ctx.core, ctx.geo, ctx.lg, ctx.m, ctx.n
    job = Signal(job_layout(cfg))
    # the states start at 0: cleared while the pixels load when there are enough
    # pixels for it, in a phase of their own otherwise
    ctx.zero_in_load = ctx.n[0] >= max(ctx.nw[1:]) and not ctx.overlap
    m.submodules.controller = ctrl = Controller(
        overlap=ctx.overlap, predrive=ctx.predrive, zero_in_load=ctx.zero_in_load,
        cep=cfg.algorithm == "cep", symmetric=cfg.nudge == "symmetric")
    m.d.comb += [ctrl.train.eq(job.train), ctrl.t1.eq(core.t1), ctrl.t2.eq(core.t2)]
    cur = ctrl.cur  # state bank holding the previous step
    minus = ctrl.minus  # symmetric nudge: the -beta phase
    nnz = Signal(nnz_bits(cfg))
    nnz_p1 = Signal.like(nnz, name="nnz_p1")  # (steady long before the update reads it)
    m.d.sync += nnz_p1.eq(nnz + 1)
    i = Signal(index_bits(max(n) + 1) + 1)
    t = Signal(index_bits(max(n) + 2) + 1)
    # per lane of a group, one adder each for the drive and every relaxation (lane 0
    # alone in the row order; hw/core/accumulators.py)
    m.submodules.accumulators = accu = Accumulators(P, acc_shape)
    # the argmax takes the output layer's free end states as they are written
    m.submodules.argmax = argmax = Argmax(P, ab, index_bits(max(n) + 1) + lg + 1,
                                          index_bits(n[-1]))
    cand = argmax.candidates
    # passes over row groups (drive, updates): their entry issue (hw/core/group_issue.py)
    # and the column a stage behind it, down to stage 5
    j2, j3, j4, j5 = (Signal.like(t, name=f"j{k}") for k in range(2, 6))
    depth = max(lay.depth for lay in geo)
    m.submodules.group_issue = gissue = GroupIssue(
        [(lay.groups, P * lay.words) for lay in geo], depth, (len(i), len(t)),
        drain_u6=ctx.predrive)
    gw = Signal(range(max(lay.groups for lay in geo) + 1),
                name="group_w")  # the group the drive's last stage writes
    half = Signal()  # single-port W0 update: read slot (0) / write slot (1)
    cycles = Signal(32)
    samples = Signal(32)
    m.d.comb += [core.cycles.eq(cycles), core.samples.eq(samples)]

    # 2P shared multipliers form every product but the nudge (drive, both relaxation
    # directions, update): the phases that need them are exclusive, and DSP
    # blocks are the scarcest resource on the iCE40UP5K (8).
    wa, wb = multiplier_shape(cfg)
    pool = MultiplierPool(2 * P, wa, wb)
    # Without sharing, the update's k*v and kv*u still share a pool of 2P (they are
    # never formed in the same cycle): the update needs half the multipliers.
    m.submodules["multipliers" if core.shared_mul else "update_multipliers"] = pool
    neg = job.neg
    beta_s = Signal(signed(cfg.beta_frac + 3))  # (steady for a sample: registered)
    m.d.sync += beta_s.eq(Mux(neg ^ minus, -core.beta_q, core.beta_q))

    ctx.accu, ctx.argmax, ctx.ctrl = accu, argmax, ctrl
    ctx.beta_s, ctx.cand, ctx.cur, ctx.cycles = beta_s, cand, cur, cycles
    ctx.gw, ctx.half, ctx.i, ctx.j2, ctx.j3 = gw, half, i, j2, j3
    ctx.j4, ctx.j5, ctx.job, ctx.minus = j4, j5, job, minus
    ctx.neg, ctx.nnz, ctx.nnz_p1 = neg, nnz, nnz_p1
    ctx.samples = samples
    ctx.t = t
    ctx.gissue, ctx.pool = gissue, pool
    ctx.u1, ctx.u2, ctx.u3, ctx.u4, ctx.u5, ctx.u6 = (gissue.stage(k) for k in range(1, 7))
