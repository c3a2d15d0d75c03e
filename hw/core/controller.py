"""The sample's phases in the order the EP variant needs them, and the registers that
say where a sample is in them: the relaxation step, the nudge's sign, the state bank.

The units do the work of a phase and report its end (``loaded``, ``driven``, ...);
the controller decides what comes next.  Every variant's order lives here:

* inference: (load) drive (zero) T1 free steps, result;
* EP: then T2 nudged steps and the update; the symmetric nudge runs the T2 steps
  again at -beta from the free states (copied) before the update;
* C-EP: after the free steps, each nudged step is followed by its update and, while
  steps remain, the drive again (W0 changed);
* the fast plan loads pixels beside the FSM (no load phase) and, with the predrive,
  starts from a drive computed during the sample before (no drive phase)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out


class Phase(enum.Enum, shape=3):
    IDLE = 0
    LOAD = 1  # pixels in (plans without the pixel loader)
    DRIVE = 2  # W0 x + b0
    ZERO = 3  # states to 0 (when the load had too few cycles for it)
    RELAX = 4  # one step per ``step_end``
    COPY = 5  # symmetric nudge: the free states back, for the -beta phase
    UPDATE = 6  # every layer's weights and biases
    RESULT = 7  # the prediction out


class Controller(wiring.Component):
    """``start``: a job is there; ``drive_ready``: the predrive has its drive (straight
    to ZERO); the phase ends come from the units.  ``last_step``: the relaxation leaves
    after the step under way (combinational: the relaxation's issue registers it);
    ``free_end``/``nudged_end``: the step under way is the free (nudged) phase's last,
    whose states are the phase's end states."""

    def __init__(self, *, overlap: bool, predrive: bool, zero_in_load: bool, cep: bool,
                 symmetric: bool):
        self.overlap, self.predrive, self.zero_in_load = overlap, predrive, zero_in_load
        self.cep, self.symmetric = cep, symmetric
        super().__init__({
            "start": In(1), "drive_ready": In(1), "loaded": In(1), "driven": In(1),
            "zeroed": In(1), "step_end": In(1), "copied": In(1), "updated": In(1),
            "taken": In(1),
            "train": In(1), "t1": In(16), "t2": In(16),
            "phase": Out(Phase), "step": Out(16), "nudging": Out(1), "minus": Out(1),
            "cur": Out(1), "last_step": Out(1), "free_end": Out(1), "nudged_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        step, nudging, minus, t1, t2 = self.step, self.nudging, self.minus, self.t1, self.t2
        free_end, nudged_end = self.free_end, self.nudged_end
        m.d.comb += [free_end.eq(~nudging & (step == t1 - 1)),
                     nudged_end.eq(nudging & (step == t2 - 1))]
        learns = self.train & (t2 != 0)
        m.d.comb += self.last_step.eq((free_end & ~learns) | (nudging & self.cep)
                                      | nudged_end)
        first = Phase.RELAX if self.zero_in_load else Phase.ZERO  # after the drive

        def go(phase: Phase) -> None:
            m.d.sync += self.phase.eq(phase)

        with m.Switch(self.phase):
            with m.Case(Phase.IDLE):
                with m.If(self.start):
                    m.d.sync += [nudging.eq(0), minus.eq(0), step.eq(0)]
                    go(Phase.DRIVE if self.overlap else Phase.LOAD)
                    if self.predrive:
                        with m.If(self.drive_ready):
                            go(Phase.ZERO)
            with m.Case(Phase.LOAD):
                with m.If(self.loaded):
                    go(Phase.DRIVE)
            with m.Case(Phase.DRIVE):
                with m.If(self.driven):
                    # C-EP: a nudged step's drive goes straight back to the relaxation
                    go(first)
                    if self.cep:
                        with m.If(nudging):
                            go(Phase.RELAX)
            with m.Case(Phase.ZERO):
                with m.If(self.zeroed):
                    m.d.sync += [step.eq(0), nudging.eq(0)]
                    go(Phase.RELAX)
            with m.Case(Phase.RELAX):
                with m.If(self.step_end):
                    self._step_done(m, free_end, nudged_end, go)
            with m.Case(Phase.COPY):
                with m.If(self.copied):
                    m.d.sync += minus.eq(1)
                    go(Phase.RELAX)
            with m.Case(Phase.UPDATE):
                with m.If(self.updated):
                    go(Phase.RESULT)
                    if self.cep:  # more nudged steps: the drive again, with the new W0
                        with m.If(step != t2):
                            go(Phase.DRIVE)
            with m.Case(Phase.RESULT):
                with m.If(self.taken):
                    go(Phase.IDLE)
        return m

    def _step_done(self, m: Module, free_end, nudged_end, go) -> None:
        """A relaxation step has written its last state: the next one, or the phase
        after the free or the nudged steps."""
        step, nudging = self.step, self.nudging
        m.d.sync += [self.cur.eq(~self.cur), step.eq(step + 1)]
        with m.If(free_end):
            m.d.sync += step.eq(0)
            with m.If(self.train & (self.t2 != 0)):
                m.d.sync += nudging.eq(1)
            with m.Elif(self.train):  # T2 = 0: C-EP has no nudged step to learn on
                go(Phase.RESULT if self.cep else Phase.UPDATE)
            with m.Else():
                go(Phase.RESULT)
        with m.Elif(nudging & self.cep):
            go(Phase.UPDATE)  # C-EP: every nudged step updates
        with m.Elif(nudged_end):
            m.d.sync += step.eq(0)
            go(Phase.COPY if self.symmetric else Phase.UPDATE)
            if self.symmetric:
                with m.If(self.minus):
                    go(Phase.UPDATE)
