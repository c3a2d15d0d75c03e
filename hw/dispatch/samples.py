"""TRAIN and INFER (and a stored sample of DS_TRAIN/DS_INFER): a sample's runs
(protocol.encode_sample) validated in a first pass -- none past the input layer or the
payload, every value in range -- then the job and the pixels streamed into the core,
and the result taken from it."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Mux, Signal

from epfpga.host import protocol as p
from epfpga.model.config import EPConfig

from .shared import Dispatcher


class SampleCommands:
    """``store``: the dataset store's commands (or None), whose stored samples run
    through these states from the record buffer; ``slen``: the sample's bytes;
    ``pixels``: the stream into the core's pixels."""

    def __init__(self, d: Dispatcher, cfg: EPConfig, core: Any, store: Any, slen: Any,
                 pixels: Any):
        self.d, self.cfg, self.core, self.store, self.slen = d, cfg, core, store, slen
        self.pixels = pixels
        n0 = cfg.layers[0]
        self.s0 = Mux(d.cmd == p.TRAIN, 2, 0)  # first sample byte
        self.vb = p.value_bytes(cfg.act_one)
        # `j` the pixel reached, which the validation lets run up to two run headers
        # past n0 before it is caught
        self.j = Signal(range(n0 + 2 * p.RUN_MAX + 1), name="j")
        self.zl = Signal(8, name="zl")  # zeros of the run still to send
        # else every value byte is in range
        self.check_values = self.vb == 2 or cfg.act_one < 256
        self.pred = Signal.like(core.result.payload, name="pred")
        self.training = (((d.cmd == p.TRAIN) | (d.cmd == p.DS_TRAIN)) if store
                         else d.cmd == p.TRAIN)

    def bad_sample(self) -> None:
        """A sample's runs do not decode: error 2, or for a stored one its answer."""
        m, d, store = self.d.m, self.d, self.store
        if store is None:
            m.d.sync += d.r_err.eq(p.E_BAD_PAYLOAD)
            m.next = "ERR"
            return
        with m.If(store.ds_rec):
            store.bad_sample()
        with m.Else():
            m.d.sync += d.r_err.eq(p.E_BAD_PAYLOAD)
            m.next = "ERR"

    def dispatch(self, w) -> None:
        m, d, cmd = self.d.m, self.d, self.d.cmd
        with m.Case(p.TRAIN, p.INFER):
            with m.If((cmd == p.TRAIN) & (d.length < 2)):
                m.d.sync += d.r_err.eq(p.E_BAD_PAYLOAD)
                m.next = "ERR"
            with m.Elif((cmd == p.TRAIN) & (w[0:8] >= self.cfg.layers[-1])):
                m.d.sync += d.r_err.eq(p.E_RANGE)
                m.next = "ERR"
            with m.Else():
                m.d.sync += d.pa.eq(self.s0)
                m.next = "SAMPLE"

    def states(self) -> None:
        self._validate()
        self._stream()

    def _validate(self) -> None:
        """The validation pass over the runs."""
        m, d, n0, slen, pb, pa, j = (self.d.m, self.d, self.cfg.layers[0], self.slen,
                                     self.d.pb, self.d.pa, self.j)
        vb, cnt = self.vb, d.cnt
        with m.State("SAMPLE"):
            m.d.sync += j.eq(0)
            m.next = "RUN_CHECK"
        with m.State("RUN_CHECK"):  # `pa` on a run's first byte, or the payload's end
            with m.If(pa == slen):
                m.d.sync += [j.eq(0), pa.eq(self.s0)]
                m.next = "JOB"
            with m.Elif(pa + 1 == slen):  # a run header cut in two
                self.bad_sample()
            with m.Else():
                m.d.sync += pa.eq(pa + 1)
                m.next = "RUN_SKIP"
        with m.State("RUN_SKIP"):
            m.d.sync += [j.eq(j + pb), pa.eq(pa + 1)]
            m.next = "RUN_COUNT"
        with m.State("RUN_COUNT"):  # `pa` on the run's first value
            # the count's check is registered: the block RAM's byte then ends in one
            # flop, not in the dispatcher's next state and error code (timing)
            m.d.sync += [d.bad.eq((j + pb > n0) | (pa + pb * vb > slen)), cnt.eq(pb)]
            m.next = "RUN_TEST"
        with m.State("RUN_TEST"):  # `cnt`: the run's values
            with m.If(d.bad):
                self.bad_sample()
            with m.Else():
                m.d.sync += j.eq(j + cnt)
                if self.check_values:
                    m.next = "VALUE_CHECK"
                else:
                    m.d.sync += pa.eq(pa + cnt)
                    m.next = "RUN_CHECK"
        if self.check_values:
            with m.State("VALUE_CHECK"):
                with m.If(cnt == 0):
                    m.next = "RUN_CHECK"
                with m.Else():
                    m.d.sync += [d.bk.eq(0), pa.eq(pa + 1)]
                    m.next = "VALUE_BYTES"
            with m.State("VALUE_BYTES"):
                d.shift_in(vb - 1, "VALUE_TEST", primed=True)
            with m.State("VALUE_TEST"):
                with m.If(d.word[64 - 8 * vb:] >= self.cfg.act_one):
                    self.bad_sample()
                with m.Else():
                    m.d.sync += cnt.eq(cnt - 1)
                    m.next = "VALUE_CHECK"

    def _stream(self) -> None:
        """The job, then the pixels: a run's zeros one a cycle, its values one every
        two cycles; then the result."""
        m, d, core, store, training = self.d.m, self.d, self.core, self.store, self.training
        pixels = self.pixels
        pa, pb, j, zl, cnt, vb, slen = d.pa, d.pb, self.j, self.zl, d.cnt, self.vb, self.slen
        with m.State("JOB"):
            m.d.comb += [core.job.valid.eq(1), core.job.payload.train.eq(training),
                         core.job.payload.neg.eq(d.neg & training),
                         core.job.payload.label.eq(Mux(training, d.y, 0))]
            with m.If(core.job.ready):
                m.next = "RUN"
                if store:
                    store.job_taken()
        with m.State("RUN"):  # `pa` on a run's first byte, or the payload's end
            with m.If(pa == slen):
                m.next = "TAIL"
            with m.Else():
                m.d.sync += pa.eq(pa + 1)
                m.next = "RUN_ZEROS"
        with m.State("RUN_ZEROS"):
            m.d.sync += [zl.eq(pb), pa.eq(pa + 1)]
            m.next = "RUN_VALUES"
        with m.State("RUN_VALUES"):  # `pa` on the first value, addressed from now on
            m.d.sync += cnt.eq(pb)
            m.next = "ZEROS"
        with m.State("ZEROS"):
            with m.If(zl != 0):
                m.d.comb += [pixels.valid.eq(1), pixels.payload.eq(0)]
                with m.If(pixels.ready):
                    m.d.sync += [j.eq(j + 1), zl.eq(zl - 1)]
            with m.Elif(cnt == 0):
                m.next = "RUN"
            with m.Else():  # its first value addressed now, as `shift_in` expects
                m.d.sync += [d.bk.eq(0), pa.eq(pa + 1)]
                m.next = "VALUE"
        with m.State("VALUE"):
            d.shift_in(vb - 1, "PIXEL", primed=True)
        with m.State("PIXEL"):  # `pa` on the next value or run, addressed
            m.d.comb += [pixels.valid.eq(1),
                         pixels.payload.eq(d.word[64 - 8 * vb:] + 1)]
            with m.If(pixels.ready):
                m.d.sync += [j.eq(j + 1), cnt.eq(cnt - 1), d.bk.eq(0)]
                with m.If(cnt == 1):
                    m.next = "RUN"
                with m.Else():
                    m.d.sync += pa.eq(pa + 1)
                    m.next = "VALUE"
        with m.State("TAIL"):  # the zeros after the last run
            with m.If(j == self.cfg.layers[0]):
                m.next = "RESULT"
                if store:  # a stored sample's result is collected on its own
                    with m.If(store.ds_rec):
                        store.sample_sent()
            with m.Else():
                m.d.comb += [pixels.valid.eq(1), pixels.payload.eq(0)]
                with m.If(pixels.ready):
                    m.d.sync += j.eq(j + 1)
        with m.State("RESULT"):
            m.d.comb += core.result.ready.eq(1)
            with m.If(core.result.valid):
                m.d.sync += self.pred.eq(core.result.payload)
                d.start_response(d.cmd | p.RESPONSE, 1, core.result.payload)
                m.next = "HDR"
