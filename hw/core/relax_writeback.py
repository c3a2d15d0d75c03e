"""A relaxation pipeline's last stage: rho of each finished row's accumulator (with
the nudge on the output layer) and the new state's writes.

A row's nudge term beta (y - s_L) is registered when the row opens (the accumulate
stage sees its first entry), so its multiplier sits between flops rather than in the
state write's path.  After the row's last entry the new state goes to the bank not
being read (``cur`` is the one read: a step is a true Jacobi step), to the free end
states on the free phase's last step and, with the symmetric nudge, to the +beta end
states on the +beta phase's last step; the output layer's free end states also go to
the argmax.  A layer visited by rows writes one state, in its lane of the word; by row
groups, P states, a word (hw/plan.py ``relax_visits``)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.model.config import EPConfig

from ..layout import acc_width, words
from .arith import activation
from .lanes import Lanes
from .mem_ports import WriteSignature
from .relax_issue import entry_layout


def nudge_shape(cfg: EPConfig):
    """beta (y - s_L): a state difference times beta_q's signed fraction."""
    return signed(cfg.act_bits + cfg.beta_frac + 5)


class RelaxWriteback(wiring.Component):
    """``layers``: this pipeline's layers and their visiting order ("rows" or "groups");
    ``depths``: per layer, the state banks' and the end states' depths (the stores');
    ``candidate``: the argmax's candidate layout (used if the output layer is here).

    Per layer ``lay``: writers ``s<lay>`` (the banks), ``sf<lay>`` (free end) and, with
    the symmetric nudge, ``sp<lay>`` (+beta end).  ``accumulate`` and ``write`` are the
    pipeline's stages 3 + ml and 4 + ml; ``own``: the output layer's s_L at the
    accumulate stage, lane 0 for a row, lane k for row k of a group.  ``run``: the
    relaxation phase (the stages hold outside it)."""

    def __init__(self, cfg: EPConfig, layers: dict[int, str],
                 depths: dict[int, tuple[int, int]], candidate: data.StructLayout):
        self.cfg, self.layers = cfg, layers
        self.P, self.L = cfg.lanes, cfg.n_layers
        self.symmetric = cfg.nudge == "symmetric"
        entry = entry_layout(cfg.layers)
        word = unsigned(cfg.act_bits * self.P)
        en = self.P if self.P > 1 else 1
        members = {
            "run": In(1), "accumulate": In(entry), "write": In(entry),
            "acc": In(data.ArrayLayout(signed(acc_width(cfg)), self.P)),
            "own": In(data.ArrayLayout(unsigned(cfg.act_bits), self.P)),
            "label": In(range(max(cfg.layers[-1], 2))),
            "beta": In(signed(cfg.beta_frac + 3)),
            "nudging": In(1), "cur": In(1), "free_end": In(1), "plus_end": In(1),
        }
        for lay in layers:
            bank_depth, end_depth = depths[lay]
            members[f"s{lay}"] = In(WriteSignature(bank_depth, word, en))
            members[f"sf{lay}"] = In(WriteSignature(end_depth, word, en))
            if self.symmetric:
                members[f"sp{lay}"] = In(WriteSignature(end_depth, word, en))
        if self.L in layers:
            members["candidates"] = Out(stream.Signature(candidate, always_ready=True))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg, L, P = self.cfg, self.L, self.P
        lm, ab, aw = Lanes(P), cfg.act_bits, acc_width(cfg)
        acc, pa, pw = self.acc, self.accumulate, self.write
        nudge = [Signal(nudge_shape(cfg), name=f"nudge{k}") for k in range(P)]

        def new_state(out, k: int, name: str) -> Signal:
            """``out``: whether (a Value: when) the row is the output layer's."""
            total = Signal(signed(aw + 2), name=f"total_{name}")
            add = 0 if out is False else Mux(self.nudging & out, nudge[k] << cfg.nudge_shift, 0)
            m.d.comb += total.eq(acc[k] + add)
            s = Signal(unsigned(ab), name=f"s_new_{name}")
            m.d.comb += s.eq(activation(m, total, cfg, aw))
            return s

        def nudge_term(row, s_l):
            return (Mux(self.label == row, cfg.act_one, 0) - s_l) * self.beta

        if L in self.layers:  # the output layer's rows open
            with m.If(self.run & pa.v & pa.first & (pa.lay == L)):
                rows = ([pa.i] if self.layers[L] == "rows"
                        else [pa.i * P + k for k in range(P)])
                m.d.sync += [nudge[k].eq(nudge_term(r, self.own[k]))
                             for k, r in enumerate(rows)]

        by_rows = [lay for lay, order in self.layers.items() if order == "rows"]
        if by_rows:  # one circuit for every layer this pipeline visits by rows
            s_row = new_state(pw.out if L in by_rows else False, 0, "rows")
        for lay, order in self.layers.items():
            if order == "rows":  # one state, in its lane of the word; to the argmax in
                # lane 0 (every bit of the candidate driven: an undriven one is an X)
                word, en = lm.hi(pw.i), lm.onehot(lm.lo(pw.i))
                value, row, states, ok = Cat(*([s_row] * P)), pw.i, s_row, Const(1, 1)
            else:
                rows = [pw.i * P + k for k in range(P)]
                states = Cat(*(new_state(lay == L, k, f"{lay}_{k}") for k in range(P)))
                ok = Cat(*(rows[k] < cfg.layers[lay] if cfg.layers[lay] % P else Const(1, 1)
                           for k in range(P)))
                word, value, row, en = pw.i, states, rows[0], ok
            with m.If(pw.v & pw.last & (pw.lay == lay)):
                self._write(m, lay, word, value, en)
                if lay == L:
                    with m.If(self.free_end):
                        m.d.comb += [self.candidates.valid.eq(1),
                                     self.candidates.payload.row.eq(row),
                                     self.candidates.payload.s.eq(states),
                                     self.candidates.payload.ok.eq(ok)]
        return m

    def _write(self, m: Module, lay: int, word, value, en) -> None:
        nw = words(self.cfg.layers[lay], self.P)
        ends = [(f"s{lay}", None), (f"sf{lay}", self.free_end)]
        if self.symmetric:
            ends.append((f"sp{lay}", self.plus_end))
        for name, when in ends:
            port = getattr(self, name)
            writes = [port.addr.eq(~self.cur * nw + word if when is None else word),
                      port.data.eq(value), port.en.eq(en)]
            if when is None:
                m.d.comb += writes
            else:
                with m.If(when):
                    m.d.comb += writes
