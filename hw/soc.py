"""The SoC: UART and receive buffer (or a raw byte port in simulation) -> frame parser
and receive store -> command dispatcher -> EP core, and responses framed back.  Behaves
like ``epfpga.board_model.BoardModel`` byte for byte on clean links; the tests compare
the two.

Delivery rule (go-back-N, see docs/protocol.md): only the expected sequence number is
executed; a retry of one of the last REPLAY_WINDOW accepted frames (same sequence number
and command) is answered again -- INFO, STATUS and READ by executing them again, every
command with side effects from the outcome stored when it ran, so nothing runs twice --
and anything else is dropped and counted as a gap.  Every payload is validated in a
first pass before anything reaches the core, so a bad frame changes nothing.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga import protocol as p
from epfpga.config import EPConfig

from .core import EPCore
from .link.framing import FrameReceiver
from .link.rx_buffer import RxBuffer
from .link.sender import FrameSender
from .link.sequence import SequenceFilter, Verdict
from .link.uart import BaudTiming, UARTRx, UARTTx
from .plan import HardwarePlan, make_plan
from .store.commands import Dispatcher, StoreCommands, StoreGeometry
from .store.word_port import WordPortSignature


class EPSoC(wiring.Component):
    """``uart``: the UART's timing at the board clock (pins ``rx``/``tx``); None: raw
    byte streams, for fast simulation, where INFO reports no clock and no baud.
    ``store``: a dataset store on the ``store`` word port (the ULX3S's SDRAM), and the
    DS_* commands with it (hw/store/commands.py)."""

    def __init__(self, cfg: EPConfig, uart: BaudTiming | None = None, spram: bool = False,
                 shared_mul: bool | None = None, plan: HardwarePlan | None = None,
                 store: StoreGeometry | None = None):
        self.cfg = cfg
        self.uart = uart
        self.store_geo = store
        # the core's plan (hw/plan.py); spram: W0 in the iCE40UP5K's SPRAM blocks
        self.plan = plan or make_plan(cfg, shared_mul, spram)
        members = {"status_led": Out(3)}
        if uart is None:
            members.update({"rx_bytes": In(stream.Signature(8)),
                            "tx_bytes": Out(stream.Signature(8))})
        else:
            members.update({"rx": In(1, init=1), "tx": Out(1, init=1)})
        if store is not None:
            members["store"] = Out(WordPortSignature(store.addr_width, store.data_width))
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        L = cfg.n_layers
        n0 = cfg.layers[0]
        m.submodules.core = core = EPCore(cfg, plan=self.plan)
        m.submodules.receiver = receiver = FrameReceiver()
        amap = core.amap
        counters = {k: Signal(p.STATUS_BITS[k], name=f"cnt_{k}") for k in p.STATUS_FIELDS}

        if self.uart is None:
            wiring.connect(m, wiring.flipped(self.rx_bytes), receiver.bytes)
            tx_stream = wiring.flipped(self.tx_bytes)
        else:
            m.submodules.uart_rx = urx = UARTRx(self.uart)
            m.submodules.rx_buffer = rxb = RxBuffer()
            m.submodules.uart_tx = utx = UARTTx(self.uart)
            m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                         counters["overruns"].eq(rxb.overruns)]
            wiring.connect(m, urx.data, rxb.i)
            wiring.connect(m, rxb.o, receiver.bytes)
            tx_stream = utx.data
        frames = receiver.frames

        # ---------------------------------------------------------------- state
        m.d.comb += [counters["crc_errors"].eq(receiver.crc_errors),
                     counters["framing_errors"].eq(receiver.framing_errors),
                     counters["samples"].eq(core.samples)]
        update_q = Signal(data.ArrayLayout(core.update_q_width, L), init=list(cfg.update_q),
                          name="uq")
        m.d.comb += core.update_q.eq(update_q)
        m.d.comb += [core.t1.eq(cfg.T1), core.t2.eq(cfg.T2), core.beta_q.eq(cfg.beta_q),
                     core.stochastic.eq(int(cfg.rounding == "stochastic"))]
        m.submodules.sequence = sequence = SequenceFilter()
        verdict = sequence.verdict.payload

        cmd, seq, length = frames.cmd, frames.seq, frames.length
        pa = Signal(range(p.MAX_PAYLOAD + 1))  # payload byte address
        m.d.comb += frames.addr.eq(pa)
        pb = frames.data  # byte at the address set last cycle

        # ---------------------------------------------------------------- response
        r_error = Signal()  # answering with ERROR, else with cmd | RESPONSE
        r_cmd = Mux(r_error, p.ERROR, cmd | p.RESPONSE)
        r_len = Signal(range(p.MAX_PAYLOAD + 1))
        r_err = Signal(2)  # the error code
        m.submodules.sender = sender = FrameSender()
        wiring.connect(m, sender.bytes, tx_stream)
        body = sender.body
        hk = Signal(range(8))
        word = Signal(64)  # value being read/written, little endian bytes
        bk = Signal(range(9))
        k = Signal(range(p.MAX_PAYLOAD + 1))  # generic loop counter
        cnt = Signal(16)
        # registers keep only what the checks leave meaningful: kind 0..2, layer < L
        kind, kind_bad = Signal(2), Signal()
        layer, layer_bad = Signal(range(max(L, 2))), Signal()
        offset = Signal(range(amap.max_size + 1))
        offset_big = Signal()  # the 32-bit offset field is beyond every region
        region = Signal(range(len(amap.regions)))  # of the core's host port
        base = Signal(range(amap.max_size + 1))  # first offset of a READ/WRITE
        size = Signal(range(amap.max_size + 2))
        y = Signal.like(core.job.payload.label)
        neg = Signal()
        s0 = Mux(cmd == p.TRAIN, 2, 0)  # first sample byte
        # a sample's runs (protocol.encode_sample): `j` the pixel reached, which the
        # validation lets run up to two run headers past n0 before it is caught
        vb = p.value_bytes(cfg.act_one)
        j = Signal(range(n0 + 2 * p.RUN_MAX + 1))
        zl = Signal(8)  # zeros of the run still to send
        check_values = vb == 2 or cfg.act_one < 256  # else every value byte is in range
        pred = Signal.like(core.result.payload)
        replaying = Signal()
        bad = Signal()
        hostv = Signal(signed(33))
        n_vals = Signal(16)  # values a READ/WRITE moves
        end = Signal(range(amap.max_size + 2 ** 16))
        region_r, size_r = Signal.like(region), Signal.like(size)
        host = core.host.req
        m.d.comb += [host.payload.data.eq(hostv), host.payload.region.eq(region)]

        info = p.info_payload(p.VERSION, cfg.digest, cfg.layers,
                              self.uart.clock_hz if self.uart else 0,
                              self.uart.baud if self.uart else 0, p.STORE_BYTES,
                              p.CAP_BASE | (p.CAP_DATASET if self.store_geo else 0))
        info_rom = Array(Const(v, 8) for v in info)
        status_bytes = Array(Cat(*(Cat(counters[f], Const(0, 32 - p.STATUS_BITS[f]))
                                   for f in p.STATUS_FIELDS)).word_select(
            i, 8) for i in range(4 * len(p.STATUS_FIELDS)))

        def region_size(kd, ly):
            """(core region index, size) of (kind, layer), a mux over the address map."""
            r_, s_ = Const(0, region.shape()), Const(0, size.shape())
            for kname, kcode in (("W", p.REGION_W), ("b", p.REGION_B), ("lfsr", p.REGION_LFSR)):
                for li in range(L):
                    hit = (kd == kcode) & (ly == li)
                    r_ = Mux(hit, amap.index(kname, li), r_)
                    s_ = Mux(hit, amap.size(kname, li), s_)
            return r_, s_

        rb_, rs_ = region_size(kind, layer)

        def start_response(rc, rl, byte=0):
            """Begin answering; a first execution also records the answer for retries
            (``byte``: the prediction or error code a TRAIN retry must repeat)."""
            m.d.sync += [r_error.eq(rc == p.ERROR), r_len.eq(rl), hk.eq(0)]
            rec = sequence.record
            m.d.comb += [rec.frame.seq.eq(seq), rec.frame.cmd.eq(cmd), rec.en.eq(~replaying),
                         rec.error.eq(rc == p.ERROR), rec.byte.eq(byte)]

        def shift_in(last, then: str, primed: bool) -> None:
            """State body: shift payload bytes into the top of ``word`` (little endian)
            until byte ``last`` of the value, then hold ``pa`` on the next value's first
            byte and go to ``then``.  ``primed``: the first byte was addressed on entry;
            otherwise the first cycle only addresses it."""
            m.d.sync += [pa.eq(pa + 1), bk.eq(bk + 1)]
            if primed:
                m.d.sync += word.eq(Cat(word[8:], pb))
            else:
                with m.If(bk >= 1):
                    m.d.sync += word.eq(Cat(word[8:], pb))
            with m.If(bk == last):
                m.d.sync += pa.eq(pa)  # next value starts where this one ended
                m.next = then

        store = None
        if self.store_geo is not None:
            store = StoreCommands(m, self.store_geo, self.store, Dispatcher(
                cmd=cmd, seq=seq, length=length, pa=pa, frame_byte=frames.data, word=word,
                bk=bk, k=k, y=y, neg=neg, r_err=r_err, n_out=cfg.layers[-1],
                start_response=start_response, shift_in=shift_in))
            pb = Mux(store.ds_rec, store.pb, frames.data)
            slen = Mux(store.ds_rec, store.rec_len, length)  # the sample's bytes
        else:
            slen = length
        training = ((cmd == p.TRAIN) | (cmd == p.DS_TRAIN)) if store else cmd == p.TRAIN
        reexecuted = [p.READ, p.STATUS] + ([p.DS_INFO, p.DS_DIGEST, p.DS_INFER] if store else [])

        def bad_sample() -> None:
            """A sample's runs do not decode: error 2, or for a stored one its answer."""
            if store is None:
                m.d.sync += r_err.eq(p.E_BAD_PAYLOAD)
                m.next = "ERR"
                return
            with m.If(store.ds_rec):
                store.bad_sample()
            with m.Else():
                m.d.sync += r_err.eq(p.E_BAD_PAYLOAD)
                m.next = "ERR"

        with m.FSM(name="disp"):
            m.d.comb += [sequence.frame.payload.seq.eq(seq), sequence.frame.payload.cmd.eq(cmd)]
            with m.State("WAIT"):
                m.d.comb += sequence.frame.valid.eq(frames.valid)
                with m.If(frames.valid):
                    m.next = "SEQ"
            with m.State("SEQ"):  # the verdict comes two cycles after the frame
                m.d.comb += [sequence.frame.valid.eq(1), sequence.verdict.ready.eq(1)]
                m.d.sync += [pa.eq(0), k.eq(0), bad.eq(0)]
                with m.If(sequence.verdict.valid):
                    with m.Switch(verdict.kind):
                        with m.Case(Verdict.RUN):
                            m.d.sync += [replaying.eq(0),
                                         counters["frames_ok"].eq(counters["frames_ok"] + 1)]
                            m.next = "DECODE"
                        with m.Case(Verdict.RETRY):
                            m.d.sync += [replaying.eq(1),
                                         counters["replays"].eq(counters["replays"] + 1)]
                            with m.If(Cat(*(cmd == c for c in reexecuted)).any() if store
                                      else (cmd == p.READ) | (cmd == p.STATUS)):
                                m.next = "DECODE"  # no side effects: executed again
                            with m.Elif(verdict.error):
                                m.d.sync += r_err.eq(verdict.byte)
                                m.next = "ERR"
                            with m.Else():  # the stored outcome: a prediction or an ack
                                m.d.sync += pred.eq(verdict.byte)
                                m.next = "REPLAY"
                        with m.Case(Verdict.GAP):
                            m.d.sync += counters["seq_gaps"].eq(counters["seq_gaps"] + 1)
                            m.d.comb += frames.done.eq(1)
                            m.next = "WAIT"

            # read the first 8 payload bytes into `word` (command arguments)
            with m.State("DECODE"):
                m.d.sync += [pa.eq(pa + 1), k.eq(k + 1)]
                with m.If(k >= 1):
                    m.d.sync += word.eq(Cat(word[8:], pb))
                with m.If(k == 8):
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                w = word  # argument bytes, little endian: byte i = w[8i:8i+8]
                m.d.sync += [kind.eq(w[0:8]), kind_bad.eq(w[0:8] > p.REGION_LFSR),
                             layer.eq(w[8:16]), layer_bad.eq(w[8:16] >= L), offset.eq(w[16:48]),
                             offset_big.eq(w[16:48] > amap.max_size),
                             cnt.eq(w[48:64]), y.eq(w[0:8]), neg.eq(w[8:16] != 0)]
                with m.Switch(cmd):
                    with m.Case(p.INFO):
                        start_response(p.INFO | p.RESPONSE, len(info))
                        m.next = "HDR"
                    with m.Case(p.STATUS):
                        start_response(p.STATUS | p.RESPONSE, 4 * len(p.STATUS_FIELDS))
                        m.next = "HDR"
                    with m.Case(p.READ, p.WRITE):
                        m.next = "ACCESS_SUM"
                    with m.Case(p.SET_PARAMS):
                        with m.If(length != 8 * L):
                            m.d.sync += r_err.eq(p.E_BAD_PAYLOAD)
                            m.next = "ERR"
                        with m.Else():
                            m.d.sync += [pa.eq(0), k.eq(0), bad.eq(0)]
                            m.next = "PARAMS_CHECK"
                    with m.Case(p.TRAIN, p.INFER):
                        with m.If((cmd == p.TRAIN) & (length < 2)):
                            m.d.sync += r_err.eq(p.E_BAD_PAYLOAD)
                            m.next = "ERR"
                        with m.Elif((cmd == p.TRAIN) & (w[0:8] >= cfg.layers[-1])):
                            m.d.sync += r_err.eq(p.E_RANGE)
                            m.next = "ERR"
                        with m.Else():
                            m.d.sync += pa.eq(s0)
                            m.next = "SAMPLE"
                    if store:
                        store.dispatch(w)
                    with m.Default():
                        m.d.sync += [r_err.eq(p.E_UNKNOWN_CMD), counters["unknown_cmds"].eq(
                            counters["unknown_cmds"] + 1)]
                        m.next = "ERR"

            with m.State("ERR"):
                start_response(p.ERROR, 2, r_err)
                m.next = "HDR"

            # ------------------------------------------------------------ READ / WRITE
            # the range check's sums are registered first: one long path less
            with m.State("ACCESS_SUM"):
                m.d.sync += [n_vals.eq(Mux(cmd == p.READ, cnt, (length - 6) >> 3)),
                             region_r.eq(rb_), size_r.eq(rs_)]
                m.next = "ACCESS_END"
            with m.State("ACCESS_END"):
                m.d.sync += end.eq(offset + n_vals)
                m.next = "ACCESS_CHECK"
            with m.State("ACCESS_CHECK"):  # in board_model.BoardModel._access's order
                bad_shape = Mux(cmd == p.READ, length != 8, (length < 6) | (length[:3] != 6))
                with m.If(bad_shape | kind_bad):
                    m.d.sync += r_err.eq(p.E_BAD_PAYLOAD)
                    m.next = "ERR"
                with m.Elif(layer_bad):
                    m.d.sync += r_err.eq(p.E_RANGE)
                    m.next = "ERR"
                with m.Elif(offset_big | (end > size_r) | ((cmd == p.READ) &
                                                    (cnt > p.MAX_PAYLOAD // 8))):
                    m.d.sync += r_err.eq(p.E_RANGE)
                    m.next = "ERR"
                with m.Else():
                    m.d.sync += [region.eq(region_r), base.eq(offset), cnt.eq(n_vals), k.eq(0),
                                 pa.eq(6)]
                    with m.If(cmd == p.READ):
                        start_response(p.READ | p.RESPONSE, n_vals << 3)
                        m.next = "HDR"
                    with m.Else():
                        m.next = "WCHECK"
            # WRITE pass 1: every value in range, before any is written
            with m.State("WCHECK"):
                with m.If(k == cnt):
                    m.d.sync += [k.eq(0), bk.eq(0), pa.eq(6)]
                    with m.If(bad):
                        m.d.sync += r_err.eq(p.E_RANGE)
                        m.next = "ERR"
                    with m.Else():
                        m.next = "WLOAD"
                with m.Else():
                    m.d.sync += [bk.eq(0)]
                    m.next = "WCHECK_LOAD"
            with m.State("WCHECK_LOAD"):
                shift_in(8, "WCHECK_TEST", primed=False)
            with m.State("WCHECK_TEST"):
                # in [weight_min, weight_max] <=> the top bits are one sign extension;
                # an LFSR state is 32 bits and never zero (a zero LFSR sticks)
                top = word[cfg.weight_bits - 1:]
                lfsr_ok = (word[32:] == 0) & (word[:32] != 0)
                with m.If(Mux(kind == p.REGION_LFSR, ~lfsr_ok, ~(top.all() | ~top.any()))):
                    m.d.sync += bad.eq(1)
                m.d.sync += k.eq(k + 1)
                m.next = "WCHECK"
            # WRITE pass 2
            with m.State("WLOAD"):
                with m.If(k == cnt):
                    start_response(p.WRITE | p.RESPONSE, 0)
                    m.next = "HDR"
                with m.Else():
                    m.d.sync += bk.eq(0)
                    m.next = "WLOAD_BYTES"
            with m.State("WLOAD_BYTES"):
                shift_in(8, "WSTORE", primed=False)
            with m.State("WSTORE"):
                m.d.comb += [host.payload.offset.eq(base + k), host.payload.write.eq(1),
                             host.valid.eq(1),
                             hostv.eq(Mux(kind == p.REGION_LFSR, word[:32], word[:33]))]
                with m.If(host.ready):
                    m.d.sync += k.eq(k + 1)
                    m.next = "WLOAD"

            # ------------------------------------------------------------ SET_PARAMS
            # SET_PARAMS pass 1: every value fits the eta registers, before any is set
            with m.State("PARAMS_CHECK"):
                m.d.sync += [pa.eq(pa + 1), k.eq(k + 1)]
                keep = Array(Const(((1 << core.update_q_width) - 1) >> (8 * b) & 0xFF, 8)
                             for b in range(8))
                with m.If((k >= 1) & ((pb & ~keep[(k - 1)[:3]]) != 0)):
                    m.d.sync += bad.eq(1)
                with m.If(k == 8 * L):
                    m.d.sync += [pa.eq(0), k.eq(0)]
                    m.next = "PARAMS"
                    with m.If(bad | ((pb & ~keep[7]) != 0)):
                        m.d.sync += r_err.eq(p.E_RANGE)
                        m.next = "ERR"
            # pass 2
            with m.State("PARAMS"):
                m.d.sync += [pa.eq(pa + 1), k.eq(k + 1)]
                with m.If(k >= 1):
                    m.d.sync += word.eq(Cat(word[8:], pb))
                for i in range(L):
                    with m.If(k == 8 * i + 8):
                        m.d.sync += update_q[i].eq(Cat(word[8:], pb)[:core.update_q_width])
                with m.If(k == 8 * L):
                    start_response(p.SET_PARAMS | p.RESPONSE, 0)
                    m.next = "HDR"

            # ------------------------------------------------------------ samples
            # validation pass over the runs: none past n0 or the payload, values in range
            with m.State("SAMPLE"):
                m.d.sync += j.eq(0)
                m.next = "RUN_CHECK"
            with m.State("RUN_CHECK"):  # `pa` on a run's first byte, or the payload's end
                with m.If(pa == slen):
                    m.d.sync += [j.eq(0), pa.eq(s0)]
                    m.next = "JOB"
                with m.Elif(pa + 1 == slen):  # a run header cut in two
                    bad_sample()
                with m.Else():
                    m.d.sync += pa.eq(pa + 1)
                    m.next = "RUN_SKIP"
            with m.State("RUN_SKIP"):
                m.d.sync += [j.eq(j + pb), pa.eq(pa + 1)]
                m.next = "RUN_COUNT"
            with m.State("RUN_COUNT"):  # `pa` on the run's first value
                with m.If((j + pb > n0) | (pa + pb * vb > slen)):
                    bad_sample()
                with m.Else():
                    m.d.sync += j.eq(j + pb)
                    if check_values:
                        m.d.sync += cnt.eq(pb)
                        m.next = "VALUE_CHECK"
                    else:
                        m.d.sync += pa.eq(pa + pb)
                        m.next = "RUN_CHECK"
            if check_values:
                with m.State("VALUE_CHECK"):
                    with m.If(cnt == 0):
                        m.next = "RUN_CHECK"
                    with m.Else():
                        m.d.sync += [bk.eq(0), pa.eq(pa + 1)]
                        m.next = "VALUE_BYTES"
                with m.State("VALUE_BYTES"):
                    shift_in(vb - 1, "VALUE_TEST", primed=True)
                with m.State("VALUE_TEST"):
                    with m.If(word[64 - 8 * vb:] >= cfg.act_one):
                        bad_sample()
                    with m.Else():
                        m.d.sync += cnt.eq(cnt - 1)
                        m.next = "VALUE_CHECK"
            with m.State("JOB"):
                m.d.comb += [core.job.valid.eq(1), core.job.payload.train.eq(training),
                             core.job.payload.neg.eq(neg & training),
                             core.job.payload.label.eq(Mux(training, y, 0))]
                with m.If(core.job.ready):
                    m.next = "RUN"
                    if store:
                        store.job_taken()
            # the pixels: a run's zeros one a cycle, its values one every two cycles
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
                    m.d.comb += [core.pixels.valid.eq(1), core.pixels.payload.eq(0)]
                    with m.If(core.pixels.ready):
                        m.d.sync += [j.eq(j + 1), zl.eq(zl - 1)]
                with m.Elif(cnt == 0):
                    m.next = "RUN"
                with m.Else():  # its first value addressed now, as `shift_in` expects
                    m.d.sync += [bk.eq(0), pa.eq(pa + 1)]
                    m.next = "VALUE"
            with m.State("VALUE"):
                shift_in(vb - 1, "PIXEL", primed=True)
            with m.State("PIXEL"):  # `pa` on the next value or run, addressed
                m.d.comb += [core.pixels.valid.eq(1),
                             core.pixels.payload.eq(word[64 - 8 * vb:] + 1)]
                with m.If(core.pixels.ready):
                    m.d.sync += [j.eq(j + 1), cnt.eq(cnt - 1), bk.eq(0)]
                    with m.If(cnt == 1):
                        m.next = "RUN"
                    with m.Else():
                        m.d.sync += pa.eq(pa + 1)
                        m.next = "VALUE"
            with m.State("TAIL"):  # the zeros after the last run
                with m.If(j == n0):
                    m.next = "RESULT"
                    if store:  # a stored sample's result is collected on its own
                        with m.If(store.ds_rec):
                            store.sample_sent()
                with m.Else():
                    m.d.comb += [core.pixels.valid.eq(1), core.pixels.payload.eq(0)]
                    with m.If(core.pixels.ready):
                        m.d.sync += j.eq(j + 1)
            with m.State("RESULT"):
                m.d.comb += core.result.ready.eq(1)
                with m.If(core.result.valid):
                    m.d.sync += pred.eq(core.result.payload)
                    start_response(cmd | p.RESPONSE, 1, core.result.payload)
                    m.next = "HDR"
            with m.State("REPLAY"):
                one = Mux((cmd == p.TRAIN) | (cmd == p.INFER), 1, 0)
                # a DS_TRAIN's predictions are still in the answer memory
                start_response(cmd | p.RESPONSE, Mux(cmd == p.DS_TRAIN, (length - 8) >> 2, one)
                               if store else one)
                m.next = "HDR"

            # ------------------------------------------------------------ framing out
            with m.State("HDR"):  # cmd, seq, len; the framer adds the rest
                if store:
                    store.header_cycle()
                fields = Array([r_cmd, seq[:8], seq[8:], r_len[:8], r_len[8:]])
                m.d.comb += [body.payload.data.eq(fields[hk]), body.valid.eq(1),
                             body.payload.last.eq((hk == len(fields) - 1) & (r_len == 0))]
                with m.If(body.ready):
                    m.d.sync += hk.eq(hk + 1)
                    with m.If(hk == len(fields) - 1):
                        m.d.sync += [k.eq(0), bk.eq(0)]
                        with m.If(r_len == 0):
                            m.next = "SENT"
                        with m.Else():
                            m.next = "BODY"
            with m.State("BODY"):
                byte = Signal(8)
                reading = r_cmd == (p.READ | p.RESPONSE)
                with m.If(reading & (k[:3] == 0) & (bk == 0)):  # fetch the next value
                    m.d.comb += [host.payload.offset.eq(base + (k >> 3)), host.valid.eq(1)]
                    with m.If(host.ready):
                        m.d.sync += bk.eq(1)
                with m.Elif(reading & (bk == 1)):  # until the core answers
                    with m.If(core.host.resp.valid):
                        m.d.sync += [word.eq(core.host.resp.payload), bk.eq(4)]
                with m.Else():
                    with m.Switch(r_cmd):
                        with m.Case(p.INFO | p.RESPONSE):
                            m.d.comb += byte.eq(info_rom[k[:len(info).bit_length()]])
                        with m.Case(p.STATUS | p.RESPONSE):
                            m.d.comb += byte.eq(status_bytes[k[:5]])
                        with m.Case(p.READ | p.RESPONSE):
                            m.d.comb += byte.eq(word.word_select(k[:3], 8))
                        with m.Case(p.TRAIN | p.RESPONSE, p.INFER | p.RESPONSE):
                            m.d.comb += byte.eq(pred)
                        with m.Case(p.ERROR):
                            m.d.comb += byte.eq(Mux(k == 0, cmd, r_err))
                        if store:
                            with m.Case(p.DS_INFO | p.RESPONSE):
                                m.d.comb += byte.eq(store.info_rom[k[:3]])
                            with m.Case(p.DS_DIGEST | p.RESPONSE):
                                m.d.comb += byte.eq(word.word_select(k[:3], 8))
                            with m.Case(p.DS_TRAIN | p.RESPONSE, p.DS_INFER | p.RESPONSE):
                                m.d.comb += byte.eq(store.answer_byte(body.ready))
                    m.d.comb += [body.payload.data.eq(byte), body.valid.eq(1),
                                 body.payload.last.eq(k == r_len - 1)]
                    with m.If(body.ready):
                        m.d.sync += k.eq(k + 1)
                        with m.If(k[:3] == 7):
                            m.d.sync += bk.eq(0)
                        with m.If(k == r_len - 1):
                            m.next = "SENT"
            if store:
                store.states()
            with m.State("SENT"):  # the frame's CRC goes out
                with m.If(sender.done):
                    m.d.comb += frames.done.eq(1)
                    m.next = "WAIT"

        if store:
            store.collect(core.result)
        m.d.comb += self.status_led.eq(Cat(core.busy, counters["crc_errors"] != 0,
                                           counters["seq_gaps"] != 0))
        return m
