"""READ and WRITE: the host's access to the core's weights, biases and LFSR states
through its host port.  A WRITE is checked whole (every value in range) before its
first value reaches the core, so a refused frame changes nothing."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Const, Mux, Signal, signed

from epfpga.host import protocol as p
from epfpga.model.config import EPConfig

from .shared import Dispatcher


class AccessCommands:
    def __init__(self, d: Dispatcher, cfg: EPConfig, core: Any):
        self.d, self.cfg = d, cfg
        L, amap = cfg.n_layers, core.amap
        self.amap = amap
        # registers keep only what the checks leave meaningful: kind 0..2, layer < L
        # (created as the iCEBreaker's placed netlist names them: tuple-unpacked, the
        # first of each pair stays unnamed)
        kind, kind_bad = Signal(2), Signal()
        layer, layer_bad = Signal(range(max(L, 2))), Signal()
        self.kind, self.kind_bad, self.layer, self.layer_bad = kind, kind_bad, layer, layer_bad
        self.offset = Signal(range(amap.max_size + 1), name="offset")
        # the 32-bit offset field is beyond every region
        self.offset_big = Signal(name="offset_big")
        # of the core's host port
        self.region = Signal(range(len(amap.regions)), name="region")
        self.base = Signal(range(amap.max_size + 1), name="base")  # first offset
        self.size = Signal(range(amap.max_size + 2), name="size")
        self.hostv = Signal(signed(33), name="hostv")
        self.n_vals = Signal(16, name="n_vals")  # values a READ/WRITE moves
        self.end = Signal(range(amap.max_size + 2 ** 16), name="end")
        self.refused = Signal(name="access_refused")  # the checks found r_err's error
        region_r, size_r = Signal.like(self.region), Signal.like(self.size)
        self.region_r, self.size_r = region_r, size_r
        self.host = host = core.host.req
        d.m.d.comb += [host.payload.data.eq(self.hostv), host.payload.region.eq(self.region)]
        self.rb_, self.rs_ = self._region_size(self.kind, self.layer)

    def _region_size(self, kd, ly):
        """(core region index, size) of (kind, layer), a mux over the address map."""
        amap = self.amap
        r_, s_ = Const(0, self.region.shape()), Const(0, self.size.shape())
        for kname, kcode in (("W", p.REGION_W), ("b", p.REGION_B), ("lfsr", p.REGION_LFSR)):
            for li in range(self.cfg.n_layers):
                hit = (kd == kcode) & (ly == li)
                r_ = Mux(hit, amap.index(kname, li), r_)
                s_ = Mux(hit, amap.size(kname, li), s_)
        return r_, s_

    def arguments(self, w) -> list:
        """DISPATCH: the argument bytes (little endian ``w``) into the registers."""
        L = self.cfg.n_layers
        return [self.kind.eq(w[0:8]), self.kind_bad.eq(w[0:8] > p.REGION_LFSR),
                self.layer.eq(w[8:16]), self.layer_bad.eq(w[8:16] >= L),
                self.offset.eq(w[16:48]), self.offset_big.eq(w[16:48] > self.amap.max_size)]

    def dispatch(self) -> None:
        with self.d.m.Case(p.READ, p.WRITE):
            self.d.m.next = "ACCESS_SUM"

    def states(self) -> None:
        m, d, cfg = self.d.m, self.d, self.cfg
        cmd, length, cnt, k, bk, pa, word = d.cmd, d.length, d.cnt, d.k, d.bk, d.pa, d.word
        kind, host = self.kind, self.host
        # the range check's sums are registered first: one long path less
        with m.State("ACCESS_SUM"):
            m.d.sync += [self.n_vals.eq(Mux(cmd == p.READ, cnt, (length - 6) >> 3)),
                         self.region_r.eq(self.rb_), self.size_r.eq(self.rs_)]
            m.next = "ACCESS_END"
        with m.State("ACCESS_END"):
            m.d.sync += self.end.eq(self.offset + self.n_vals)
            m.next = "ACCESS_CHECK"
        with m.State("ACCESS_CHECK"):  # in board_model.BoardModel._access's order
            bad_shape = Mux(cmd == p.READ, length != 8, (length < 6) | (length[:3] != 6))
            m.d.sync += self.refused.eq(1)
            with m.If(bad_shape | self.kind_bad):
                m.d.sync += d.r_err.eq(p.E_BAD_PAYLOAD)
            with m.Elif(self.layer_bad | self.offset_big | (self.end > self.size_r)
                        | ((cmd == p.READ) & (cnt > p.MAX_PAYLOAD // 8))):
                m.d.sync += d.r_err.eq(p.E_RANGE)
            with m.Else():
                m.d.sync += self.refused.eq(0)
            m.next = "ACCESS_GO"
        # the verdict is registered: what follows (the answer's length, the FSM's next
        # state) reads one flop, not the checks' comparators (the iCE40's longest path)
        with m.State("ACCESS_GO"):
            with m.If(self.refused):
                m.next = "ERR"
            with m.Else():
                m.d.sync += [self.region.eq(self.region_r), self.base.eq(self.offset),
                             cnt.eq(self.n_vals), k.eq(0), pa.eq(6)]
                with m.If(cmd == p.READ):
                    d.start_response(p.READ | p.RESPONSE, self.n_vals << 3)
                    m.next = "HDR"
                with m.Else():
                    m.next = "WCHECK"
        # WRITE pass 1: every value in range, before any is written
        with m.State("WCHECK"):
            with m.If(k == cnt):
                m.d.sync += [k.eq(0), bk.eq(0), pa.eq(6)]
                with m.If(d.bad):
                    m.d.sync += d.r_err.eq(p.E_RANGE)
                    m.next = "ERR"
                with m.Else():
                    m.next = "WLOAD"
            with m.Else():
                m.d.sync += [bk.eq(0)]
                m.next = "WCHECK_LOAD"
        with m.State("WCHECK_LOAD"):
            d.shift_in(8, "WCHECK_TEST", primed=False)
        with m.State("WCHECK_TEST"):
            # in [weight_min, weight_max] <=> the top bits are one sign extension;
            # an LFSR state is 32 bits and never zero (a zero LFSR sticks)
            top = word[cfg.weight_bits - 1:]
            lfsr_ok = (word[32:] == 0) & (word[:32] != 0)
            with m.If(Mux(kind == p.REGION_LFSR, ~lfsr_ok, ~(top.all() | ~top.any()))):
                m.d.sync += d.bad.eq(1)
            m.d.sync += k.eq(k + 1)
            m.next = "WCHECK"
        # WRITE pass 2
        with m.State("WLOAD"):
            with m.If(k == cnt):
                d.start_response(p.WRITE | p.RESPONSE, 0)
                m.next = "HDR"
            with m.Else():
                m.d.sync += bk.eq(0)
                m.next = "WLOAD_BYTES"
        with m.State("WLOAD_BYTES"):
            d.shift_in(8, "WSTORE", primed=False)
        with m.State("WSTORE"):
            m.d.comb += [host.payload.offset.eq(self.base + k), host.payload.write.eq(1),
                         host.valid.eq(1),
                         self.hostv.eq(Mux(kind == p.REGION_LFSR, word[:32], word[:33]))]
            with m.If(host.ready):
                m.d.sync += k.eq(k + 1)
                m.next = "WLOAD"
