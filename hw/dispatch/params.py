"""SET_PARAMS: the learning rates (eta/beta per layer, ``update_q``) the host lowers
each epoch.  Checked whole before any register changes."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Cat, Const, Signal
from amaranth.lib import data

from epfpga.host import protocol as p
from epfpga.model.config import EPConfig

from .shared import Dispatcher


class ParamsCommands:
    def __init__(self, d: Dispatcher, cfg: EPConfig, core: Any):
        self.d, self.L, self.width = d, cfg.n_layers, core.update_q_width
        self.update_q = Signal(data.ArrayLayout(core.update_q_width, cfg.n_layers),
                               init=list(cfg.update_q), name="uq")
        d.m.d.comb += core.update_q.eq(self.update_q)

    def dispatch(self) -> None:
        m, d = self.d.m, self.d
        with m.Case(p.SET_PARAMS):
            with m.If(d.length != 8 * self.L):
                m.d.sync += d.r_err.eq(p.E_BAD_PAYLOAD)
                m.next = "ERR"
            with m.Else():
                m.d.sync += [d.pa.eq(0), d.k.eq(0), d.bad.eq(0)]
                m.next = "PARAMS_CHECK"

    def states(self) -> None:
        m, d, L = self.d.m, self.d, self.L
        pa, k, pb, word = d.pa, d.k, d.pb, d.word
        # pass 1: every value fits the eta registers, before any is set
        with m.State("PARAMS_CHECK"):
            m.d.sync += [pa.eq(pa + 1), k.eq(k + 1)]
            keep = Array(Const(((1 << self.width) - 1) >> (8 * b) & 0xFF, 8)
                         for b in range(8))
            with m.If((k >= 1) & ((pb & ~keep[(k - 1)[:3]]) != 0)):
                m.d.sync += d.bad.eq(1)
            with m.If(k == 8 * L):
                m.d.sync += [pa.eq(0), k.eq(0)]
                m.next = "PARAMS"
                with m.If(d.bad | ((pb & ~keep[7]) != 0)):
                    m.d.sync += d.r_err.eq(p.E_RANGE)
                    m.next = "ERR"
        # pass 2
        with m.State("PARAMS"):
            m.d.sync += [pa.eq(pa + 1), k.eq(k + 1)]
            with m.If(k >= 1):
                m.d.sync += word.eq(Cat(word[8:], pb))
            for i in range(L):
                with m.If(k == 8 * i + 8):
                    m.d.sync += self.update_q[i].eq(Cat(word[8:], pb)[:self.width])
            with m.If(k == 8 * L):
                d.start_response(p.SET_PARAMS | p.RESPONSE, 0)
                m.next = "HDR"
