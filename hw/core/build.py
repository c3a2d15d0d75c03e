"""What every unit of the core's elaboration shares: the config's dimensions, the
hardware plan's switches and, as the builders run, the memories' ports and the
registers they create (``CoreBuild``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amaranth.hdl import Cat, Module, Signal, signed, unsigned

from ..layout import acc_width, weight_layouts, words
from .lanes import Lanes

if TYPE_CHECKING:
    from .top import EPCore


class CoreBuild:
    """The elaboration's context: the core's builders (hw/core/memories.py ... update.py)
    run in a fixed order, each reading what the ones before it made and adding its own
    (the order is the netlist's: Yosys and nextpnr see the same design run to run).

    Attributes not made on a plan (the pixel loader without double-buffered pixels, the
    predrive without the fast plan) are None."""

    loader: Any = None
    fb: Any = None
    pre: Any = None
    pre_fix: Any = None
    drive: Any = None

    def __init__(self, core: EPCore, m: Module):
        self.core, self.m = core, m
        cfg = self.cfg = core.cfg
        self.L, self.n, P = cfg.n_layers, cfg.layers, cfg.lanes
        self.P, self.lg = P, P.bit_length() - 1
        self.af, self.ab, self.wb_ = cfg.act_frac, cfg.act_bits, cfg.weight_bits
        self.act, self.wsh = unsigned(self.ab), signed(self.wb_)
        self.aw = acc_width(cfg)
        self.acc_shape = signed(self.aw)
        self.one = cfg.act_one
        self.geo = weight_layouts(cfg)
        self.nw = [words(k, P) for k in self.n]  # packed words of each layer's state vector
        lm = self.lm = Lanes(P)
        self.lo, self.hi, self.rot, self.lane, self.onehot = (lm.lo, lm.hi, lm.rot, lm.lane,
                                                              lm.onehot)
        hp = self.hp = core.plan
        self.ml = hp.mul_latency
        # the fast plan double-buffers the pixels (X and the non-zero list NZ): the next
        # sample loads while this one runs, and a bank is free again at its result
        self.overlap = hp.double_buffered
        # and computes the next sample's input drive while this one relaxes (W0 is idle
        # then); this sample's W0 update corrects it (hw/layout.py, ``has_predrive``)
        self.predrive = hp.predrive

    def spread(self, v, bits: int):
        """v in every lane (a one-lane write enables just one of them)."""
        s = Signal(bits)
        self.m.d.comb += s.eq(v)
        return Cat(*([s] * self.P))

