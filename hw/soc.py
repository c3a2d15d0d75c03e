"""The SoC: UART and receive buffer (or a raw byte port in simulation) -> frame parser
and receive store -> command dispatcher -> EP core, and responses framed back.  Behaves
like ``epfpga.host.board_model.BoardModel`` byte for byte on clean links; the tests compare
the two.

Delivery rule (go-back-N, see docs/protocol.md): only the expected sequence number is
executed; a retry of one of the last REPLAY_WINDOW accepted frames (same sequence number
and command) is answered again -- INFO, STATUS and READ by executing them again, every
command with side effects from the outcome stored when it ran, so nothing runs twice --
and anything else is dropped and counted as a gap.  Every payload is validated in a
first pass before anything reaches the core, so a bad frame changes nothing.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.host import protocol as p
from epfpga.model.config import EPConfig

from .core import EPCore
from .dispatch.access import AccessCommands
from .dispatch.params import ParamsCommands
from .dispatch.response import Response, status_bytes
from .dispatch.samples import SampleCommands
from .dispatch.shared import Dispatcher
from .link.framing import FrameReceiver
from .link.rx_buffer import RxBuffer
from .link.sequence import SequenceFilter, Verdict
from .link.uart import BaudTiming, UARTRx, UARTTx
from .plan import HardwarePlan, make_plan
from .store.commands import StoreCommands, StoreGeometry
from .store.word_port import WordPortSignature
from .stream_register import StreamRegister


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
        m.submodules.core = core = EPCore(cfg, plan=self.plan)
        m.submodules.receiver = receiver = FrameReceiver()
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
        m.d.comb += [counters["crc_errors"].eq(receiver.crc_errors),
                     counters["framing_errors"].eq(receiver.framing_errors),
                     counters["samples"].eq(core.samples)]

        # ---------------------------------------------------------------- command groups
        # (the build order names the netlist's wires: another order is another up5k
        # placement, so its timing is checked again with `epfpga build --seeds N`)
        cmd, length = frames.cmd, frames.length
        replaying = Signal()
        d = Dispatcher(
            m=m, cmd=cmd, seq=frames.seq, length=length,
            pa=Signal(range(p.MAX_PAYLOAD + 1), name="pa"), frame_byte=frames.data,
            word=Signal(64, name="word"), bk=Signal(range(9), name="bk"),
            k=Signal(range(p.MAX_PAYLOAD + 1), name="k"), cnt=Signal(16, name="cnt"),
            bad=Signal(name="bad"), y=Signal.like(core.job.payload.label, name="y"),
            neg=Signal(name="neg"), r_err=Signal(2, name="r_err"), n_out=cfg.layers[-1],
            start_response=None, pb=frames.data)
        params = ParamsCommands(d, cfg, core)
        m.d.comb += [core.t1.eq(cfg.T1), core.t2.eq(cfg.T2), core.beta_q.eq(cfg.beta_q),
                     core.stochastic.eq(int(cfg.rounding == "stochastic"))]
        m.submodules.sequence = sequence = SequenceFilter()
        verdict = sequence.verdict.payload
        m.d.comb += frames.addr.eq(d.pa)
        response = Response(m, frames, sequence, replaying, d.r_err, tx_stream)
        d.start_response = response.start_response
        access = AccessCommands(d, cfg, core)
        info = p.info_payload(p.VERSION, cfg.digest, cfg.layers,
                              self.uart.clock_hz if self.uart else 0,
                              self.uart.baud if self.uart else 0, p.STORE_BYTES,
                              p.CAP_BASE | (p.CAP_DATASET if self.store_geo else 0))
        store = None
        slen = length  # the sample's bytes
        if self.store_geo is not None:
            store = StoreCommands(m, self.store_geo, self.store, d)
            d.pb = Mux(store.ds_rec, store.pb, frames.data)
            slen = Mux(store.ds_rec, store.rec_len, length)
        # the pixels reach the core from a register: the dispatcher's state decides
        # them, the core's phase logic takes them, and both are long on the iCE40
        m.submodules.pixel_register = pixels = StreamRegister(core.pixels.payload.shape())
        wiring.connect(m, pixels.source, core.pixels)
        samples = SampleCommands(d, cfg, core, store, slen, pixels.sink)
        reexecuted = [p.READ, p.STATUS] + ([p.DS_INFO, p.DS_DIGEST, p.DS_INFER] if store else [])

        with m.FSM(name="disp"):
            m.d.comb += [sequence.frame.payload.seq.eq(frames.seq),
                         sequence.frame.payload.cmd.eq(cmd)]
            with m.State("WAIT"):
                m.d.comb += sequence.frame.valid.eq(frames.valid)
                with m.If(frames.valid):
                    m.next = "SEQ"
            with m.State("SEQ"):  # the verdict comes two cycles after the frame
                m.d.comb += [sequence.frame.valid.eq(1), sequence.verdict.ready.eq(1)]
                m.d.sync += [d.pa.eq(0), d.k.eq(0), d.bad.eq(0)]
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
                                m.d.sync += d.r_err.eq(verdict.byte)
                                m.next = "ERR"
                            with m.Else():  # the stored outcome: a prediction or an ack
                                m.d.sync += samples.pred.eq(verdict.byte)
                                m.next = "REPLAY"
                        with m.Case(Verdict.GAP):
                            m.d.sync += counters["seq_gaps"].eq(counters["seq_gaps"] + 1)
                            m.d.comb += frames.done.eq(1)
                            m.next = "WAIT"

            # read the first 8 payload bytes into `word` (command arguments)
            with m.State("DECODE"):
                m.d.sync += [d.pa.eq(d.pa + 1), d.k.eq(d.k + 1)]
                with m.If(d.k >= 1):
                    m.d.sync += d.word.eq(Cat(d.word[8:], d.pb))
                with m.If(d.k == 8):
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                w = d.word  # argument bytes, little endian: byte i = w[8i:8i+8]
                m.d.sync += access.arguments(w) + [d.cnt.eq(w[48:64]), d.y.eq(w[0:8]),
                                                   d.neg.eq(w[8:16] != 0)]
                with m.Switch(cmd):
                    with m.Case(p.INFO):
                        d.start_response(p.INFO | p.RESPONSE, len(info))
                        m.next = "HDR"
                    with m.Case(p.STATUS):
                        d.start_response(p.STATUS | p.RESPONSE, 4 * len(p.STATUS_FIELDS))
                        m.next = "HDR"
                    access.dispatch()
                    params.dispatch()
                    samples.dispatch(w)
                    if store:
                        store.dispatch(w)
                    with m.Default():
                        m.d.sync += [d.r_err.eq(p.E_UNKNOWN_CMD), counters["unknown_cmds"].eq(
                            counters["unknown_cmds"] + 1)]
                        m.next = "ERR"

            with m.State("ERR"):
                d.start_response(p.ERROR, 2, d.r_err)
                m.next = "HDR"
            access.states()
            params.states()
            samples.states()
            with m.State("REPLAY"):
                one = Mux((cmd == p.TRAIN) | (cmd == p.INFER), 1, 0)
                # a DS_TRAIN's predictions are still in the answer memory
                d.start_response(cmd | p.RESPONSE, Mux(cmd == p.DS_TRAIN, (length - 8) >> 2,
                                                       one) if store else one)
                m.next = "HDR"
            response.states(d, info, status_bytes(counters), access, core.host.resp,
                            samples.pred, store)
            if store:
                store.states()
            response.sent_state()

        if store:
            store.collect(core.result)
        m.d.comb += self.status_led.eq(Cat(core.busy, counters["crc_errors"] != 0,
                                           counters["seq_gaps"] != 0))
        return m
