"""The prediction: the index of the largest output state, first maximum winning, as the
golden model's ``np.argmax``."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def candidate_layout(lanes: int, act_bits: int, row_bits: int) -> data.StructLayout:
    """One word of output states: lane k holds row ``row + k`` if ``ok[k]``."""
    return data.StructLayout({"row": row_bits, "s": data.ArrayLayout(unsigned(act_bits), lanes),
                              "ok": data.ArrayLayout(1, lanes)})


class Argmax(wiring.Component):
    """Takes the output layer's free end states a word at a time, in row order.

    The relaxation writes a word of output states every cycle and cannot wait, so the
    candidates stream is ``always_ready``.  Candidates are registered before they are
    compared (the compares then start from flops, not from the state write's path);
    ``busy`` while a candidate is still to be compared.  ``clear`` (one cycle, before a
    sample's first candidate) resets the running maximum.
    """

    def __init__(self, lanes: int, act_bits: int, row_bits: int, index_bits: int):
        self.lanes, self.act_bits = lanes, act_bits
        super().__init__({
            "clear": In(1),
            "candidates": In(stream.Signature(candidate_layout(lanes, act_bits, row_bits),
                                              always_ready=True)),
            "busy": Out(1),
            "index": Out(index_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cand = Signal.like(self.candidates.payload, name="cand")
        m.d.sync += self.busy.eq(self.candidates.valid)
        with m.If(self.candidates.valid):
            m.d.sync += cand.eq(self.candidates.payload)
        best = Signal(signed(self.act_bits + 1))
        # each lane's running best is a signal: as a nested expression the previous one
        # would appear twice per lane, 2^P copies in the netlist
        b_val, b_idx = best, self.index
        for k in range(self.lanes):
            take = cand.ok[k] & (cand.s[k] > b_val)
            nv, ni = Signal.like(best, name=f"best_v{k}"), Signal.like(self.index,
                                                                      name=f"best_i{k}")
            m.d.comb += [nv.eq(Mux(take, cand.s[k], b_val)), ni.eq(Mux(take, cand.row + k, b_idx))]
            b_val, b_idx = nv, ni
        with m.If(self.busy):
            m.d.sync += [best.eq(b_val), self.index.eq(b_idx)]
        with m.If(self.clear):
            m.d.sync += best.eq(-1)
        return m
