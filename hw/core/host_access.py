"""The host port between samples: a request registered, decoded by region onto the
memories' ports (weights, biases, states) or the LFSRs, and a read's data selected and
sign-extended ``READ_LATENCY`` cycles after its request.

With lanes a weight's offset is split into row and column by a reciprocal multiply in a
stage of its own (so synthesis cannot share its multipliers with the datapath's); its
bank and address follow the skewed layout (hw/layout.py, ``WeightLayout.place``)."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, ShapeLike, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import exact_divider, weight_layouts, words
from ..plan import HardwarePlan
from .address_map import AddressMap
from .host_port import HostPortSignature
from .lanes import Lanes
from .mem_ports import ReadSignature, WriteSignature, write_from
from .random_fill import SeedSignature


def host_ports(plan: HardwarePlan) -> dict[str, tuple[int, ShapeLike, bool]]:
    """The memory ports the host reaches, by name, as (depth, word shape, written):
    ``w<l>_<b>`` (bank b of W_l), ``b<l>`` (W_l's biases, packed), ``s<k>`` (layer k's
    two state banks), ``sf<k>`` (its free end states) and, with the symmetric nudge,
    ``sp<k>`` (its +beta end states)."""
    cfg = plan.cfg
    P, L = cfg.lanes, cfg.n_layers
    ports: dict[str, tuple[int, ShapeLike, bool]] = {}
    for li, geo in enumerate(weight_layouts(cfg)):
        ports.update({f"w{li}_{b}": (geo.depth, signed(cfg.weight_bits), True)
                      for b in range(P)})
    for li in range(L):
        ports[f"b{li}"] = (words(cfg.layers[li + 1], P), unsigned(P * cfg.weight_bits), True)
    ends = ["s", "sf"] + (["sp"] if cfg.nudge == "symmetric" else [])
    for kind in ends:
        for k in range(1, L + 1):
            depth = words(cfg.layers[k], P) * (2 if kind == "s" else 1)
            ports[f"{kind}{k}"] = (depth, unsigned(P * cfg.act_bits), False)
    return ports


class HostAccess(wiring.Component):
    """``host``: the core's host port (requests taken while not ``busy``).  ``reads``
    and ``writes``: the memory ports of ``host_ports``, which the core hands over while
    idle; ``cur``: the state bank a state read sees; ``wrote``: a weight or bias write
    lands this cycle (the predrive's drive is void); ``seed``/``lfsr``: the random
    fill's LFSRs."""

    def __init__(self, plan: HardwarePlan, amap: AddressMap):
        self.plan, self.amap = plan, amap
        self.ports = host_ports(plan)
        L = plan.cfg.n_layers
        super().__init__({
            "host": Out(HostPortSignature(len(amap.regions), amap.max_size)),
            "busy": In(1), "cur": In(1), "wrote": Out(1),
            "seed": Out(SeedSignature(L)), "lfsr": In(data.ArrayLayout(32, L)),
            "reads": Out(wiring.Signature({
                name: In(ReadSignature(depth, shape))
                for name, (depth, shape, _) in self.ports.items()})),
            "writes": Out(wiring.Signature({
                name: In(WriteSignature(depth, shape, plan.cfg.lanes if name[0] == "b" else 1))
                for name, (depth, shape, written) in self.ports.items() if written})),
        })

    def read(self, name: str) -> wiring.PureInterface:
        """The host's side of read port ``name`` (``host_ports``)."""
        return getattr(self.reads, name)

    def write(self, name: str) -> wiring.PureInterface:
        return getattr(self.writes, name)

    def elaborate(self, platform):
        m = Module()
        cfg = self.plan.cfg
        P, lm = cfg.lanes, Lanes(cfg.lanes)

        def delayed(v, name: str):
            r = Signal.like(v, name=name)
            m.d.sync += r.eq(v)
            return r

        # the request; its address is kept until the next one: a read answers from it
        req, host = self.host.req.payload, self.host
        taken = host.req.valid & host.req.ready
        m.d.comb += host.req.ready.eq(~self.busy)
        region, offset = Signal.like(req.region), Signal.like(req.offset)
        with m.If(taken):
            m.d.sync += [region.eq(req.region), offset.eq(req.offset)]
        we = delayed(taken & req.write, "h_we")
        re = delayed(taken & ~req.write, "h_re")
        wdata = delayed(req.data, "h_wdata")
        m.d.comb += [host.resp.valid.eq(delayed(delayed(re, "h_re_2"), "h_re_3")),
                     self.wrote.eq(we), self.seed.data.eq(wdata)]
        rsel = Signal(range(len(self.amap.regions) + 1))  # the region being read
        lane = Signal(max(lm.lg, 1))  # and the lane of its word
        # with lanes, a weight a cycle later: from the split offset
        later = (delayed(region, "h_region2"), delayed(we, "h_we2"), delayed(re, "h_re2"),
                 delayed(wdata, "h_wdata2")) if P > 1 else (region, we, re, wdata)

        weight_lanes = []  # (a weight's lane is latched last: it comes a cycle later)
        for r_idx, (kind, layer, size) in enumerate(self.amap.regions):
            off = Signal(range(max(size, 2)), name=f"h_off{r_idx}")
            m.d.comb += off.eq(offset)
            if kind == "W":
                addr, bank = self._weight_place(m, layer, offset, delayed)
                hit2, we2, re2, wdata2 = later
                hit2 = hit2 == r_idx
                for b in range(P):
                    rd, wr = self.read(f"w{layer}_{b}"), self.write(f"w{layer}_{b}")
                    m.d.comb += [rd.addr.eq(addr), wr.addr.eq(addr), wr.data.eq(wdata2),
                                 wr.en.eq(hit2 & we2 & (bank == b))]
                weight_lanes.append((hit2 & re2, bank))
            with m.If(region == r_idx):
                with m.If(re):
                    m.d.sync += rsel.eq(r_idx)
                if kind == "lfsr":
                    m.d.comb += [self.seed.layer.eq(layer), self.seed.en.eq(we)]
                elif kind != "W":
                    name = f"{kind}{layer}" if kind == "b" else f"{kind}{layer + 1}"
                    base = self.cur * words(cfg.layers[layer + 1], P) if kind == "s" else 0
                    m.d.comb += self.read(name).addr.eq(lm.hi(off) + base)
                    with m.If(re):
                        m.d.sync += lane.eq(lm.lo(off))
                    if kind == "b":
                        wr = self.write(name)
                        m.d.comb += [wr.addr.eq(lm.hi(off)),
                                     wr.data.eq(Cat(*([wdata[:cfg.weight_bits]] * P))),
                                     wr.en.eq(Mux(we, lm.onehot(lm.lo(off)), 0))]
        for read, bank in weight_lanes:
            with m.If(read):
                m.d.sync += lane.eq(bank)
        self._respond(m, rsel, lane, delayed)
        return m

    def _weight_place(self, m: Module, layer: int, offset, delayed) -> tuple:
        """(address, bank) of W_layer's element at ``offset`` (row-major); with lanes a
        cycle after the offset, from a registered row and column."""
        P, lm = self.plan.cfg.lanes, Lanes(self.plan.cfg.lanes)
        g = weight_layouts(self.plan.cfg)[layer]
        off = Signal(range(max(g.n_out * g.n_in, 2)), name=f"h_woff{layer}")
        m.d.comb += off.eq(offset)
        if P == 1:
            return off, Const(0, 1)
        mul_r, shift = exact_divider(g.n_in, g.n_out * g.n_in)
        row = Signal(range(g.n_out), name=f"h_row{layer}")
        row_r = Signal.like(row, name=f"h_row{layer}_r")
        col_r = Signal(range(g.n_in), name=f"h_col{layer}_r")
        m.d.comb += row.eq((off * mul_r) >> shift)
        m.d.sync += [row_r.eq(row), col_r.eq(off - row * g.n_in)]
        bank = lm.lo(row_r + col_r)
        # off // P when P divides a row: no multiplier (Yosys would share one with the
        # datapath's, the FSM state then steering W0's read address through it)
        if g.n_in % P == 0:
            return lm.hi(delayed(off, f"h_woff{layer}_r")), bank
        return row_r * g.words + lm.hi(col_r), bank

    def _respond(self, m: Module, rsel, lane, delayed) -> None:
        """The read data, from the region and lane latched at the read; the mux is as
        wide as the widest source, the sign extension after it."""
        cfg = self.plan.cfg
        P, wb, lm = cfg.lanes, cfg.weight_bits, Lanes(cfg.lanes)
        raw = Signal(max(32, wb))
        is_signed = Signal()
        weights = {}  # (one lane: the bank's data registered, as the lanes' split is)
        for layer in range(cfg.n_layers):
            banks = [self.read(f"w{layer}_{b}").data for b in range(P)]
            weights[layer] = (Array(banks)[lane] if P > 1
                              else delayed(banks[0], f"h_w{layer}_q"))
        with m.Switch(rsel):
            for r_idx, (kind, layer, _) in enumerate(self.amap.regions):
                with m.Case(r_idx):
                    if kind == "lfsr":
                        m.d.comb += raw.eq(self.lfsr[layer])
                    elif kind == "W":
                        m.d.comb += [raw.eq(weights[layer].as_unsigned()), is_signed.eq(1)]
                    else:
                        name = f"{kind}{layer}" if kind == "b" else f"{kind}{layer + 1}"
                        bits = wb if kind == "b" else cfg.act_bits
                        m.d.comb += raw.eq(lm.lane(self.read(name).data, lane, bits))
                        if kind == "b":
                            m.d.comb += is_signed.eq(1)
        m.d.comb += self.host.resp.payload.eq(Mux(is_signed, raw[:wb].as_signed(), raw))


def hand_over(access: HostAccess, reads: dict, writes: dict) -> tuple[list, list]:
    """The assignments that give the memory ports ``reads`` and ``writes`` (by
    ``host_ports`` name) to the host: its addresses and writes (for the core's idle
    phase), and the read data (always: a read answers after the core has moved on
    only if the host asked for it while idle)."""
    idle, always = [], []
    for name, port in reads.items():
        idle.append(port.addr.eq(access.read(name).addr))
        always.append(access.read(name).data.eq(port.data))
    for name, port in writes.items():
        idle += write_from(port, access.write(name))
    return idle, always
