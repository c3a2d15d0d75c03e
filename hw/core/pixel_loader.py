"""The fast plan's pixel loader: the next sample loads while this one runs."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from epfpga.model.config import EPConfig

from .job import job_layout, nnz_bits


def bank_layout(cfg: EPConfig) -> data.StructLayout:
    return data.StructLayout({"full": 1, "job": job_layout(cfg), "nnz": nnz_bits(cfg)})


class PixelLoader(wiring.Component):
    """A job and its n0 pixels go into the free one of two banks of X (the pixels) and
    NZ (the columns of the non-zero ones, in order), whatever the core is doing.

    The core reads bank ``bank`` (``cur``: full, its job and non-zero count) and pulses
    ``release`` when it no longer needs it; ``next`` is the other bank, which the
    predrive reads ahead.  Bank k is rows k*n0.. of X and NZ.
    """

    def __init__(self, cfg: EPConfig):
        self.cfg = cfg
        n0 = cfg.layers[0]
        addr = ceil_log2(2 * n0)
        super().__init__({
            "job": In(stream.Signature(job_layout(cfg))),
            "pixels": In(stream.Signature(unsigned(cfg.act_bits))),
            "x_write": In(WritePort.Signature(addr_width=addr, shape=unsigned(cfg.act_bits))),
            "nz_write": In(WritePort.Signature(addr_width=addr,
                                               shape=unsigned(max(1, n0.bit_length())))),
            "bank": Out(1),
            "cur": Out(bank_layout(cfg)),
            "next": Out(bank_layout(cfg)),
            "release": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        n0 = self.cfg.layers[0]
        banks = [Signal(bank_layout(self.cfg), name=f"bank{k}") for k in range(2)]
        fb = self.bank
        lb = Signal(name="load_bank")
        m.d.comb += [self.cur.eq(Mux(fb, banks[1], banks[0])),
                     self.next.eq(Mux(fb, banks[0], banks[1]))]
        loading, col = Signal(name="loading"), Signal(range(n0 + 1), name="load_col")
        count = Signal(nnz_bits(self.cfg), name="load_nnz")
        base = Mux(lb, n0, 0)
        with m.If(~loading):
            free = ~Mux(lb, banks[1].full, banks[0].full)
            m.d.comb += self.job.ready.eq(free)
            with m.If(self.job.valid & free):
                m.d.sync += [loading.eq(1), col.eq(0), count.eq(0)]
                for k in range(2):
                    with m.If(lb == k):
                        m.d.sync += banks[k].job.eq(self.job.payload)
        with m.Else():
            m.d.comb += self.pixels.ready.eq(1)
            with m.If(self.pixels.valid):
                nonzero = self.pixels.payload != 0
                m.d.comb += [self.x_write.addr.eq(base + col),
                             self.x_write.data.eq(self.pixels.payload), self.x_write.en.eq(1)]
                with m.If(nonzero):
                    m.d.comb += [self.nz_write.addr.eq(base + count),
                                 self.nz_write.data.eq(col), self.nz_write.en.eq(1)]
                m.d.sync += [count.eq(count + nonzero), col.eq(col + 1)]
                with m.If(col == n0 - 1):
                    m.d.sync += [loading.eq(0), lb.eq(~lb)]
                    for k in range(2):
                        with m.If(lb == k):
                            m.d.sync += [banks[k].full.eq(1), banks[k].nnz.eq(count + nonzero)]
        with m.If(self.release):
            m.d.sync += fb.eq(~fb)
            for k in range(2):
                with m.If(fb == k):
                    m.d.sync += banks[k].full.eq(0)
        return m
