"""The EP core: input drive, Jacobi relaxation, nudge port and local weight updates,
generated from one ``EPConfig`` and bit-exact with ``epfpga.golden.GoldenModel``.

Architecture (why it looks like this):

* P = ``cfg.lanes`` MAC lanes.  Each weight matrix sits in P skewed banks (hw/layout.py)
  so one cycle fetches P weights along a row, down a column, or down a group of rows at
  any one column; vectors are packed P to a word.  Lanes change speed and size, never a
  bit of the result.
* Every memory has one synchronous read port and one write port (plus byte-lane-style
  write enables on packed vectors), so the schedule maps onto simple dual-port block RAM
  on any part; W0 can also be single-port (the iCE40UP5K's SPRAM).
* Relaxation is one flat pipeline over (row, word): rows follow each other without
  bubbles, the row constant (drive or bias) joins at the first word and rho, the nudge
  and the state write happen a stage after the last.  Per cycle it does P bottom-up
  MACs (W_{l-1} row i) and P top-down MACs (W_l column i): two memories, both at once.
  The first and the output layer have one direction only; on the fast plan their idle
  P multipliers take the second half of the entries (hw/layout.py, ``relax_halves``).
* The input drive and the updates visit P rows at a time, one column per cycle, the
  column taken from the sparse list of non-zero pixels for W0: zero pixels never enter.
* States are double-buffered per layer (bank ``cur`` is read, the other written): a step
  is a true Jacobi step whatever the visiting order.  The free end states are also
  written to their own memories, which the update and the host read.
* Runtime parameters (T1, T2, beta_q and its sign, update_q, rounding mode) are ports,
  so the host changes them between samples without rebuilding.
* Two multiplier plans, the same numbers.  Shared (the iCE40UP5K's 8 DSPs): 2P
  multipliers serve every phase, one relaxation pipeline.  Fast (the ECP5's 156): a
  multiplier per use with its product registered, the odd and even layers relaxing in
  two pipelines side by side (a Jacobi step reads only the other layers' previous
  states), the next sample's pixels loading into a second bank while this one runs,
  and the next sample's input drive computed while this one relaxes, then corrected
  exactly by this sample's W0 update (the "predrive": W0's ports idle during the
  relaxation, so streamed samples pay only relaxation and update).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError

from ..bitslice import BitSlicedMemory
from ..layout import acc_width, exact_divider, rand_offsets, weight_layouts, words
from ..plan import HardwarePlan, default_shared_mul, make_plan
from ..spram import SinglePortMemory
from .argmax import Argmax
from .arith import activation, saturate
from .arith import round_update as arith_round_update
from .host_port import HostPortSignature
from .job import index_bits, job_layout, nnz_bits
from .lanes import Lanes
from .pixel_loader import PixelLoader
from .predrive import Predrive
from .random_fill import RandomFill

__all__ = ["EPCore", "default_shared_mul"]  # default_shared_mul: moved to hw/plan.py


class AddressMap:
    """The host port's regions: weights, biases, free states, current states, (+beta end
    states with symmetric nudge), LFSRs; the host names a region by its index here and
    an element by its offset in the region (row-major for weights).

    Computed from the config so driver, testbench and gateware agree on it."""

    def __init__(self, cfg: EPConfig):
        self.regions: list[tuple[str, int, int]] = []  # (kind, layer, size)
        kinds = ("W", "b", "sf", "s") + (("sp",) if cfg.nudge == "symmetric" else ())
        for kind in kinds:
            for layer in range(cfg.n_layers):
                n_out, n_in = cfg.layers[layer + 1], cfg.layers[layer]
                self.regions.append((kind, layer, n_out * n_in if kind == "W" else n_out))
        self.regions += [("lfsr", layer, 1) for layer in range(cfg.n_layers)]
        self.max_size = max(size for _, _, size in self.regions)

    def index(self, kind: str, layer: int) -> int:
        for r, (k, lay, _) in enumerate(self.regions):
            if k == kind and lay == layer:
                return r
        raise KeyError((kind, layer))

    def size(self, kind: str, layer: int) -> int:
        return self.regions[self.index(kind, layer)][2]


def update_q_width(cfg: EPConfig) -> int:
    """Bits of the runtime eta/beta register (``cfg.update_q_bits``)."""
    return cfg.update_q_bits


def multiplier_shape(cfg: EPConfig) -> tuple[int, int]:
    """Signed operand widths (a, b) of the core's two shared multipliers: a takes a
    weight, k, k*v or (y - s); b a state, a pixel or beta."""
    kv = update_q_width(cfg) + cfg.act_bits + 2
    return (max(kv, cfg.weight_bits, update_q_width(cfg) + 1, cfg.act_bits + 2),
            max(cfg.act_bits + 1, cfg.beta_frac + 3))


def unsupported(cfg: EPConfig) -> list[str]:
    """Config variants the golden model runs but this core does not build yet."""
    todo = []
    if cfg.feedback != "tied":
        todo.append("separate feedback weights (use feedback='tied')")
    if cfg.noise or cfg.sample_steps:
        todo.append("noisy relaxation (use noise=0, sample_steps=0)")
    return todo


@dataclass
class HalfReaders:
    """A layer's second half of entries (hw/layout.py ``relax_halves``): its own weight
    and state readers and their registered data."""

    wr: list
    wq: list
    sr: Any
    sd: Any


@dataclass
class RelaxPipe:
    """One relaxation pipeline's registers (the fast plan has two, odd and even layers
    side by side): its stage registers ``st[1..5]``, issue counters, accumulators and
    the row sum's operands, and the weight readers it uses."""

    q: int  # 0: the first (or only) pipeline
    layers: list[int]
    st: list
    rl: Any  # the layer issuing
    hold: Any  # the step has issued its last entry
    i: Any
    t: Any
    acc: Any
    accs: list
    r_first: Any
    r_const: Any
    r_fwd: Any
    r_bwd: Any
    acc_next: Any
    nudge_r: list
    wr: Any  # weight readers, per layer and bank
    wq: Any  # their registered data
    half: dict[int, HalfReaders] = field(default_factory=dict)
    pa: Any = None  # the accumulate stage
    pw: Any = None  # the write stage
    s_rows: Any = None  # the row order's new state


class EPCore(wiring.Component):
    """One EP network; ``job`` then ``n0`` pixels in, prediction out."""

    def __init__(self, cfg: EPConfig, spram: bool = False, shared_mul: bool | None = None,
                 plan: HardwarePlan | None = None):
        """``spram``: build W0 from the iCE40UP5K's SB_SPRAM256KA blocks (part 'up5k'
        only); the single-port schedule is used for that part either way.
        ``shared_mul``: form every product on two shared multipliers (few DSP blocks,
        longer paths) rather than one multiplier per use, each product registered, with
        the odd and even layers relaxing side by side (fast, for DSP-rich parts); both
        compute the same numbers, the second in fewer cycles.  None: by the config's
        part (``default_shared_mul``).  ``plan``: all of these at once (hw/plan.py);
        it overrides the other two."""
        plan = plan or make_plan(cfg, shared_mul, spram)
        if todo := unsupported(cfg):
            raise EpfpgaError(f"config {cfg.name!r}: the EP core does not implement "
                              + "; ".join(todo) + " yet; the golden and float engines do")
        self.cfg = cfg
        self.plan = plan
        self.spram, self.shared_mul = plan.spram, plan.shared_mul
        self.amap = AddressMap(cfg)
        self.relax_order: dict[int, str] = {}  # per layer, set at elaboration
        L = cfg.n_layers
        self.update_q_width = update_q_width(cfg)
        members = {
            "job": In(stream.Signature(job_layout(cfg))),
            "pixels": In(stream.Signature(unsigned(cfg.act_bits))),
            "result": Out(stream.Signature(unsigned(index_bits(cfg.layers[-1])))),
            "t1": In(16, init=cfg.T1),
            "t2": In(16, init=cfg.T2),
            "beta_q": In(unsigned(cfg.beta_frac + 1), init=cfg.beta_q),
            "stochastic": In(1, init=int(cfg.rounding == "stochastic")),
            "host": Out(HostPortSignature(len(self.amap.regions), self.amap.max_size)),
            "busy": Out(1),
            "cycles": Out(32),
            "samples": Out(32),
        }
        # per layer, the update's eta/beta (docs/numerics.md): the host lowers it per epoch
        members["update_q"] = In(data.ArrayLayout(unsigned(self.update_q_width), L),
                                 init=list(cfg.update_q))
        super().__init__(members)

    # ------------------------------------------------------------------ elaboration
    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        L = cfg.n_layers
        n = cfg.layers
        P = cfg.lanes
        lg = P.bit_length() - 1
        af = cfg.act_frac
        ab, wb_ = cfg.act_bits, cfg.weight_bits
        act = unsigned(ab)
        wsh = signed(wb_)
        aw = acc_width(cfg)
        acc_shape = signed(aw)
        one = cfg.act_one
        geo = weight_layouts(cfg)
        nw = [words(k, P) for k in n]  # packed words of each layer's state vector

        lm = Lanes(P)
        lo, hi, rot, lane, onehot = lm.lo, lm.hi, lm.rot, lm.lane, lm.onehot

        def spread(v, bits: int):
            """v in every lane (a one-lane write enables just one of them)."""
            s = Signal(bits)
            m.d.comb += s.eq(v)
            return Cat(*([s] * P))

        hp = self.plan
        ml = hp.mul_latency
        self.mul_latency = ml
        # The fast plan also double-buffers the pixels (X and the non-zero list NZ): the
        # next sample loads while this one runs, and a bank is free again at its result.
        overlap = hp.double_buffered
        # and computes the next sample's input drive while this one relaxes (W0 is idle
        # then); this sample's W0 update corrects it (hw/layout.py, ``has_predrive``)
        predrive = hp.predrive

        # ---------------------------------------------------------------- memories
        plan = {name: (depth, width) for name, depth, width in hp.memories()}

        def mem(name: str, shape=None, attrs=None) -> Memory:
            depth, width = plan[name]
            mm = Memory(shape=shape if shape is not None else unsigned(width),
                        depth=max(depth, 1), init=[], attrs=attrs)
            m.submodules[name] = mm
            return mm

        def wport(mm: Memory, lane_bits: int | None = None):
            return mm.write_port(granularity=lane_bits if P > 1 else None)

        # On the UP5K, W0 (most of the weights) lives in single-port SPRAM: one read or
        # one write per cycle, so its update loop reads and writes on alternate cycles.
        single_w0 = hp.single_port_w0
        Wr: list[list] = []
        Ww: list[list] = []
        w_mems: dict[tuple[int, int], Memory] = {}  # (layer, bank), block RAM ones
        for li, g in enumerate(geo):
            rs, ws = [], []
            for b in range(P):
                name = f"w{li}_{b}" if P > 1 else f"w{li}"
                if li == 0 and single_w0:
                    m.submodules[name] = sp = SinglePortMemory(wb_, g.depth, spram=self.spram)
                    r = SimpleNamespace(addr=Signal(range(max(g.depth, 2)), name=f"{name}_ra"),
                                        data=sp.rdata.as_signed())
                    w = SimpleNamespace(addr=Signal(range(max(g.depth, 2)), name=f"{name}_wa"),
                                        data=Signal(wsh, name=f"{name}_wd"),
                                        en=Signal(name=f"{name}_we"))
                    # the update loop issues a read every other cycle; its writes come
                    # five stages later and land one cycle late, in the cycles between
                    wa, wd, we_ = Signal.like(w.addr), Signal(wsh), Signal()
                    m.d.sync += [wa.eq(w.addr), wd.eq(w.data), we_.eq(w.en)]
                    m.d.comb += [sp.addr.eq(Mux(we_, wa, r.addr)), sp.wdata.eq(wd),
                                 sp.we.eq(we_)]
                elif li == 0 and hp.w0_bit_sliced:
                    m.submodules[name] = bs = BitSlicedMemory(wb_, g.depth)
                    r = SimpleNamespace(addr=bs.raddr, data=bs.rdata.as_signed())
                    w = SimpleNamespace(addr=bs.waddr, data=bs.wdata, en=bs.we)
                else:
                    mm = mem(name, wsh)
                    r, w = mm.read_port(), mm.write_port()
                    w_mems[li, b] = mm
                rs.append(r)
                ws.append(w)
            Wr.append(rs)
            Ww.append(ws)
        B = [mem(f"b{i}") for i in range(L)]
        S = [mem(f"s{i + 1}") for i in range(L)]  # two banks: cur and ~cur
        SF = [mem(f"sf{i + 1}") for i in range(L)]
        symmetric, cep = cfg.nudge == "symmetric", cfg.algorithm == "cep"
        # symmetric nudge keeps the +beta end states while the -beta phase runs
        SP = [mem(f"sp{i + 1}") for i in range(L)] if symmetric else []
        X = mem("x", act)
        # The non-zero list's read data is a column number that W0's address is added
        # from, combinationally: on the fast plan's part (the ECP5) it sits in LUT RAM,
        # whose registered output comes 5 ns sooner than block RAM's (the 4-lane build's
        # critical path started there).
        NZ = mem("nz", unsigned(index_bits(n[0] + 1)),
                 attrs={"ram_style": "distributed"} if overlap else None)
        DRV = mem("drive")
        AR = mem("rand_a")
        CR = mem("rand_c", unsigned(cfg.sr_bits))

        Br, Bw = [x.read_port() for x in B], [wport(x, wb_) for x in B]
        Sr, Sw = [x.read_port() for x in S], [wport(x, ab) for x in S]
        SFr, SFw = [x.read_port() for x in SF], [wport(x, ab) for x in SF]
        SPr, SPw = [x.read_port() for x in SP], [wport(x, ab) for x in SP]
        # C-EP contrasts each nudged step with the one before: the other state bank
        Slo = [x.read_port() for x in S] if cep else []
        Xr, Xw = X.read_port(), X.write_port()
        X2r = X.read_port() if predrive else None  # the next sample's pixels, for the update
        NZr, NZw = NZ.read_port(), NZ.write_port()
        Dr, Dw = DRV.read_port(), DRV.write_port()
        ARr, ARw = AR.read_port(), wport(AR, cfg.sr_bits)
        CRr, CRw = CR.read_port(), CR.write_port()
        for port in sum(Ww, []) + Bw + Sw + SFw + SPw + [Dw] + ([] if overlap else [Xw, NZw]):
            m.d.comb += port.en.eq(0)

        def delayed(v, name: str):
            r = Signal.like(v, name=name)
            m.d.sync += r.eq(v)
            return r

        # Weight memories are large (many block RAMs behind a select mux): their read
        # data is registered once, so the MAC starts from a flop (timing), and the loops
        # consume at stage 3 with the one-cycle operands delayed to match.
        Wq = [[delayed(r.data, f"w{i}_{b}_q") for b, r in enumerate(rs)]
              for i, rs in enumerate(Wr)]
        Xd = delayed(Xr.data, "x_d")
        CRd = delayed(CRr.data, "rand_c_d")
        CRd4 = delayed(CRd, "rand_c_d4")
        Dd = delayed(Dr.data, "drive_d")
        Bd = [delayed(r.data, f"b{i}_d") for i, r in enumerate(Br)]
        Sd = [delayed(r.data, f"s{i + 1}_d") for i, r in enumerate(Sr)]
        SFd = [delayed(r.data, f"sf{i + 1}_d") for i, r in enumerate(SFr)]
        SPd = [delayed(r.data, f"sp{i + 1}_d") for i, r in enumerate(SPr)]
        Slod = [delayed(r.data, f"slo{i + 1}_d") for i, r in enumerate(Slo)]

        # ---------------------------------------------------------------- registers
        job = Signal(job_layout(cfg))
        cur = Signal()  # state bank holding the previous step
        step = Signal(16)
        nudging = Signal()
        minus = Signal()  # symmetric nudge: the -beta phase
        nnz = Signal(nnz_bits(cfg))
        nnz_p1 = Signal.like(nnz, name="nnz_p1")  # (steady long before the update reads it)
        m.d.sync += nnz_p1.eq(nnz + 1)
        i = Signal(index_bits(max(n) + 1) + 1)
        t = Signal(index_bits(max(n) + 2) + 1)
        accs = [Signal(acc_shape, name=f"acc_{k}") for k in range(P)]  # per lane of a group
        acc = accs[0]  # the one accumulator of the row order (never live with a group's)
        # Lane 0's sum is one adder for the drive and every layer's relaxation, in both
        # visiting orders: the states steer its operands (first entry of a row: the row
        # constant instead of the accumulator, then up to two products).
        r_first = Signal(name="r_first")
        r_const, r_fwd, r_bwd = (Signal(acc_shape, name=f"r_{x}")
                                 for x in ("const", "fwd", "bwd"))
        acc_next = Signal(acc_shape, name="acc_next")
        m.d.comb += acc_next.eq(Mux(r_first, r_const, acc) + r_fwd + r_bwd)
        # beta (y - s_L) per output row, formed when its row opens (the multiplier then
        # sits between flops, not in the state write's path)
        nudge_shape = signed(ab + cfg.beta_frac + 5)
        nudge_r = [Signal(nudge_shape, name=f"nudge{k}") for k in range(P)]
        # the argmax takes the output layer's free end states as they are written
        m.submodules.argmax = argmax = Argmax(P, ab, index_bits(max(n) + 1) + lg + 1,
                                              index_bits(n[-1]))
        cand = argmax.candidates
        # row-group loops (drive, updates): a two-stage pipeline
        t1_, j2, j3, j4, j5 = (Signal.like(t, name=f"j{k}") for k in range(1, 6))
        # relaxation: one flat pipeline over (row, word), so rows follow back to back
        entry = data.StructLayout({"v": 1, "i": range(max(max(n[1:]), 2)), "t": range(max(n)),
                                   "first": 1, "last": 1, "lay": range(L + 1),
                                   "out": 1})  # out: the output layer
        rl = Signal(range(1, L + 2), init=1, name="relax_layer")  # the layer issuing
        hold = Signal(name="relax_hold")  # the step has issued its last entry
        p1, p2, p3, p4, p5 = (Signal(entry, name=f"relax_p{k}") for k in range(1, 6))
        # update: one flat pipeline over (row group, entry); the row-group constants
        # (drive: first = the bias, last = the last column; update: first = the k*v
        # entry, last = the bias)
        n_groups = max(lay.groups for lay in geo)
        upd = data.StructLayout({"v": 1, "first": 1, "last": 1, "g": range(n_groups),
                                 "gb": range(max(lay.depth for lay in geo) + 1)})
        gw = Signal(range(n_groups + 1), name="group_w")  # the group the last stage writes
        gwb = Signal(range(max(lay.depth for lay in geo) + 1),
                     name="group_w_base")  # and its first weight's address
        u1, u2, u3, u4, u5, u6 = (Signal(upd, name=f"upd_p{k}") for k in range(1, 7))
        u_fin = Signal()  # the layer's last entry has issued
        a_k = [Signal(unsigned(cfg.sr_bits), name=f"a_{k}") for k in range(P)]
        half = Signal()  # single-port W0 update: read slot (0) / write slot (1)
        cycles = Signal(32)
        samples = Signal(32)
        m.d.comb += [self.cycles.eq(cycles), self.samples.eq(samples)]

        # 2P shared multipliers form every product but the nudge (drive, both relaxation
        # directions, update): the FSM states that need them are exclusive, and DSP
        # blocks are the scarcest resource on the iCE40UP5K (8).
        kv_width = self.update_q_width + ab + 2
        wa, wb = multiplier_shape(cfg)
        mul_a = [Signal(signed(wa), name=f"mul{q}_a") for q in range(2 * P)]
        mul_b = [Signal(signed(wb), name=f"mul{q}_b") for q in range(2 * P)]
        mul_p = [Signal(signed(wa + wb), name=f"mul{q}_p") for q in range(2 * P)]
        m.d.comb += [mul_p[q].eq(mul_a[q] * mul_b[q]) for q in range(2 * P)]

        # Without sharing, the update's k*v and kv*u still share a pool of 2P (they are
        # never formed in the same cycle): the update needs half the multipliers.
        upd_pool = ([Signal(signed(wa), name=f"upd_{q}_a") for q in range(2 * P)],
                    [Signal(signed(wb), name=f"upd_{q}_b") for q in range(2 * P)],
                    [Signal(signed(wa + wb), name=f"upd_{q}_p") for q in range(2 * P)])
        if not self.shared_mul:
            m.d.comb += [p_.eq(a_ * b_) for a_, b_, p_ in zip(*upd_pool, strict=True)]

        def mul(q: int, a, b, pool: bool = False):
            """a * b on shared multiplier q (drive it from one FSM state at a time);
            ``pool``: on the update's pool when multipliers are not shared."""
            if not self.shared_mul and not pool:
                return a * b
            ma, mb, mp = (mul_a, mul_b, mul_p) if self.shared_mul else upd_pool
            m.d.comb += [ma[q].eq(a), mb[q].eq(b)]
            return mp[q]

        # On DSP-rich parts every product is registered before it is summed (the adder
        # trees of many lanes then start from flops): the accumulate and write stages of
        # the drive and the relaxation come ``ml`` cycles later.
        def staged(v, name: str):
            """v (formed at the product stage) at the accumulate stage."""
            if not ml:
                return v
            r = Signal(Value.cast(v).shape(), name=name)
            m.d.sync += r.eq(v)
            return r

        neg = job.neg
        beta_s = Signal(signed(cfg.beta_frac + 3))  # (steady for a sample: registered)
        m.d.sync += beta_s.eq(Mux(neg ^ minus, -self.beta_q, self.beta_q))

        def rho(v):
            return activation(m, v, cfg, aw)

        def sat(v):
            return saturate(v, cfg)

        def round_update(prod, r):
            return arith_round_update(prod, r, cfg, self.stochastic)

        def group_issue(last_t, layer: int, indirect: bool, gate=1):
            """Issue the next entry (group i, entry t) of a pass over row groups (drive,
            updates): t = 0 opens a group, t = 1.. are its columns (the non-zero pixels
            through NZ when ``indirect``), t = ``last_t`` closes it; ``gate`` low holds
            issue for a cycle.  Returns j1, the column at stage 1, and the drained flag.
            Each entry carries its group's first weight address, so the stage-1 address
            is one addition of registers and the column (timing)."""
            n_groups, row_words = geo[layer].groups, P * geo[layer].words
            issue = ~u_fin & gate
            with m.If(issue):
                with m.If(t != last_t):
                    m.d.sync += t.eq(t + 1)
                with m.Elif(i != n_groups - 1):
                    m.d.sync += [i.eq(i + 1), t.eq(0)]
                with m.Else():
                    m.d.sync += u_fin.eq(1)
            m.d.sync += [u1.v.eq(issue), u1.first.eq(t == 0), u1.last.eq(t == last_t),
                         u1.g.eq(i), u1.gb.eq(i * row_words), t1_.eq(t - 1),
                         u2.eq(u1), u3.eq(u2), u4.eq(u3), u5.eq(u4), u6.eq(u5)]
            if indirect or not predrive:  # (the predrive may be reading NZ meanwhile)
                m.d.comb += NZr.addr.eq(x_base + t - 1)
            j1 = j1_nz if indirect else t1_  # (one signal for every pass: no mux)
            m.d.sync += [j2.eq(j1), j3.eq(j2), j4.eq(j3), j5.eq(j4)]
            drained = u_fin & ~u1.v & ~u2.v & ~u3.v & ~u4.v & ~u5.v & ~(u6.v & predrive)
            with m.If(drained):
                m.d.sync += [i.eq(0), t.eq(0), u_fin.eq(0), gw.eq(0), gwb.eq(0)]
            return j1, drained

        j1_nz = Signal.like(t, name="j1_nz")  # the column from the sparse pixel list
        m.d.comb += j1_nz.eq(NZr.data)

        def group_addr(layer: int, b: int, base, c):
            return lm.group_addr(geo[layer].words, b, base, c)

        rotate = lm.rotate

        def by_lane(layer: int, c, regs=None):
            """Registered weights reordered so entry k is lane k's (bank (k + c) mod P)."""
            return rotate(Wq[layer] if regs is None else regs, c)

        m.d.comb += self.busy.eq(1)
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)

        # host port: inputs registered (the weight address is split into row and column
        # by a reciprocal multiply), so reads answer READ_LATENCY cycles later
        req = self.host.req.payload
        taken = self.host.req.valid & self.host.req.ready
        m.d.comb += self.host.req.ready.eq(~self.busy)
        # the request's address is kept until the next one: a read answers from it
        h_region, h_offset = Signal.like(req.region), Signal.like(req.offset)
        with m.If(taken):
            m.d.sync += [h_region.eq(req.region), h_offset.eq(req.offset)]
        h_we = delayed(taken & req.write, "h_we")
        h_re = delayed(taken & ~req.write, "h_re")
        h_wdata = delayed(req.data, "h_wdata")
        m.d.comb += self.host.resp.valid.eq(
            delayed(delayed(h_re, "h_re_2"), "h_re_3"))  # READ_LATENCY
        host_rsel = Signal(range(len(self.amap.regions) + 1))
        host_lane = Signal(max(lg, 1))

        # stochastic rounding's random values, drawn while the sample loads and relaxes
        m.submodules.random_fill = fill = RandomFill(hp)
        wiring.connect(m, fill.a_write, ARw)
        wiring.connect(m, fill.c_write, CRw)
        m.d.comb += fill.seed.data.eq(h_wdata)  # (ungated: only ``en`` is decoded)
        fill_on = fill.busy
        a_off, c_off = rand_offsets(cfg)

        # With lanes, a host weight offset is split into row and column by a reciprocal
        # multiply (two multipliers in series): that takes a stage of its own, outside
        # the FSM (so synthesis cannot share the multipliers with the datapath's), and the
        # read answers from the memory port instead of the weight register: same latency.
        h_split = {}
        if P > 1:
            h_region2 = delayed(h_region, "h_region2")
            h_we2, h_re2 = delayed(h_we, "h_we2"), delayed(h_re, "h_re2")
            h_wdata2 = delayed(h_wdata, "h_wdata2")
            for layer, g in enumerate(geo):
                mul_r, shift = exact_divider(g.n_in, g.n_out * g.n_in)
                off = Signal(range(g.n_out * g.n_in), name=f"h_woff{layer}")
                row = Signal(range(g.n_out), name=f"h_row{layer}")
                row_r = Signal.like(row, name=f"h_row{layer}_r")
                col_r = Signal(range(g.n_in), name=f"h_col{layer}_r")
                m.d.comb += [off.eq(h_offset), row.eq((off * mul_r) >> shift)]
                m.d.sync += [row_r.eq(row), col_r.eq(off - row * g.n_in)]
                # bank address row * words + col // P: off // P when P divides a row,
                # with no multiplier (Yosys would share one with the datapath's, the FSM
                # state then steering W0's read address through it)
                if g.n_in % P == 0:
                    off_r = delayed(off, f"h_woff{layer}_r")
                    h_split[layer] = (hi(off_r), lo(row_r + col_r))
                else:
                    h_split[layer] = (row_r * g.words + hi(col_r), lo(row_r + col_r))

        # the fast plan's pixels load into one bank while the FSM reads the other
        if overlap:
            m.submodules.pixel_loader = loader = PixelLoader(cfg)
            wiring.connect(m, wiring.flipped(self.job), loader.job)
            wiring.connect(m, wiring.flipped(self.pixels), loader.pixels)
            wiring.connect(m, loader.x_write, Xw)
            wiring.connect(m, loader.nz_write, NZw)
            fb = loader.bank  # the bank the FSM reads
            x_base = Mux(fb, n[0], 0)
        else:
            x_base = 0

        # The predrive: while the FSM relaxes (or zeroes or copies states: states that
        # leave W0, X, NZ, b0 and the drive's write port alone), the next sample's drive
        # b0 + W0 x' goes into the other drive bank, by the drive loop's schedule on
        # registers of its own.  UPD_START and RESULT wait for it to finish; the next
        # sample then starts without a drive.  Host writes (weights, biases) void it.
        db = Signal(name="drive_bank")  # the bank the relaxation reads
        db_off = Mux(db, nw[1], 0) if predrive else 0
        pre_db_off = Mux(db, 0, nw[1])  # the other bank: the predrive's
        pre_may = Signal(name="pre_may")  # set by the FSM states it may run in
        pre_run = Signal(name="pre_run")
        pre_done = Signal(name="pre_done")  # valid for X bank pre_bank
        pre_bank = Signal(name="pre_bank")
        pre_wait = Signal(name="pre_wait")  # (constant 0 without the predrive)
        if predrive:
            m.submodules.predrive = pre = Predrive(hp)
            m.d.comb += [pre_wait.eq(pre.run), pre_run.eq(pre.run), pre_done.eq(pre.done),
                         pre_bank.eq(pre.bank), pre.may.eq(pre_may),
                         pre.next_full.eq(loader.next.full), pre.next_nnz.eq(loader.next.nnz),
                         pre.fsm_bank.eq(fb), pre.void.eq(h_we),
                         pre.nz_data.eq(NZr.data), pre.x_data.eq(Xd), pre.b_data.eq(Br[0].data),
                         pre.w_data.eq(Cat(*Wq[0]))]
            with m.If(pre.run):  # W0, X, NZ and b0 are the predrive's
                m.d.comb += [NZr.addr.eq(pre.nz_addr), Xr.addr.eq(pre.x_addr),
                             Br[0].addr.eq(pre.b_addr)]
                m.d.comb += [Wr[0][b].addr.eq(pre.w_addr[b]) for b in range(P)]
            with m.If(pre.d_write):
                m.d.comb += [Dw.addr.eq(pre_db_off + pre.d_group), Dw.data.eq(pre.d_data),
                             Dw.en.eq(1)]

        with m.FSM(name="ctrl"):
            # ------------------------------------------------------------ idle, host
            with m.State("IDLE"):
                m.d.comb += self.busy.eq(0)
                if not overlap:
                    m.d.comb += self.job.ready.eq(1)
                for r_idx, (kind, layer, size) in enumerate(self.amap.regions):
                    hit = h_region == r_idx
                    off = Signal(range(max(size, 2)), name=f"h_off{r_idx}")
                    m.d.comb += off.eq(h_offset)
                    with m.If(hit):
                        with m.If(h_re):
                            m.d.sync += host_rsel.eq(r_idx)
                        if kind == "lfsr":  # read straight from the register (idle)
                            m.d.comb += [fill.seed.layer.eq(layer), fill.seed.en.eq(h_we)]
                        elif kind == "W":  # (with lanes: below, a cycle later)
                            if P == 1:
                                m.d.comb += Wr[layer][0].addr.eq(off)
                                with m.If(h_we):
                                    m.d.comb += [Ww[layer][0].addr.eq(off),
                                                 Ww[layer][0].data.eq(h_wdata),
                                                 Ww[layer][0].en.eq(1)]
                        else:
                            word = hi(off) + (cur * nw[layer + 1] if kind == "s" else 0)
                            src = {"b": Br, "sf": SFr, "s": Sr, "sp": SPr}[kind][layer]
                            m.d.comb += src.addr.eq(word)
                            with m.If(h_re):
                                m.d.sync += host_lane.eq(lo(off))
                            if kind == "b":
                                with m.If(h_we):
                                    m.d.comb += [Bw[layer].addr.eq(word),
                                                 Bw[layer].data.eq(spread(h_wdata, wb_)),
                                                 Bw[layer].en.eq(onehot(lo(off)))]
                for layer, (addr, bank) in h_split.items():
                    hit2 = h_region2 == self.amap.index("W", layer)
                    for b in range(P):
                        m.d.comb += Wr[layer][b].addr.eq(addr)
                        with m.If(hit2 & h_we2 & (bank == b)):
                            m.d.comb += [Ww[layer][b].addr.eq(addr),
                                         Ww[layer][b].data.eq(h_wdata2),
                                         Ww[layer][b].en.eq(1)]
                    with m.If(hit2 & h_re2):
                        m.d.sync += host_lane.eq(bank)
                if overlap:  # a loaded sample starts at once
                    start, new_job = loader.cur.full, loader.cur.job
                else:
                    start, new_job = self.job.valid, self.job.payload
                with m.If(start):
                    m.d.sync += [job.eq(new_job), t.eq(0), nnz.eq(0),
                                 nudging.eq(0), minus.eq(0), step.eq(0)]
                    m.d.comb += argmax.clear.eq(1)
                    # (C-EP without nudged steps never updates, so draws nothing)
                    m.d.comb += fill.start.eq(new_job.train & self.stochastic
                                              & ((self.t2 != 0) if cep else 1))
                    m.next = "DRIVE_LOOP" if overlap else "LOAD"
                    if overlap:
                        m.d.sync += [nnz.eq(loader.cur.nnz), i.eq(0)]
                    if predrive:  # its drive is ready: straight to the relaxation
                        with m.If(pre_done & (pre_bank == fb) & ~h_we):
                            m.d.sync += db.eq(~db)
                            m.d.comb += pre.take.eq(1)
                            m.next = "ZERO"

            # ------------------------------------------------------------ sample in
            # the states start at 0: cleared while the pixels load when there are enough
            # pixels for it, in a state of their own otherwise
            zero_in_load = n[0] >= max(nw[1:]) and not overlap
            if not overlap:  # (else the loader below takes the pixels)
                with m.State("LOAD"):
                    m.d.comb += self.pixels.ready.eq(1)
                    with m.If(self.pixels.valid):
                        m.d.comb += [Xw.addr.eq(t), Xw.data.eq(self.pixels.payload), Xw.en.eq(1)]
                        with m.If(self.pixels.payload != 0):
                            m.d.comb += [NZw.addr.eq(nnz), NZw.data.eq(t), NZw.en.eq(1)]
                            m.d.sync += nnz.eq(nnz + 1)
                        m.d.sync += t.eq(t + 1)
                        if zero_in_load:  # s = 0 in bank cur, a word per pixel
                            for layer in range(L):
                                with m.If(t < nw[layer + 1]):
                                    m.d.comb += [Sw[layer].addr.eq(cur * nw[layer + 1] + t),
                                                 Sw[layer].data.eq(0), Sw[layer].en.eq(-1)]
                        with m.If(t == n[0] - 1):
                            m.d.sync += [i.eq(0), t.eq(0)]
                            m.next = "DRIVE_LOOP"

            # ------------------------------------------------------------ W0 x + b0
            # P rows at a time, over the non-zero pixels only
            with m.State("DRIVE_LOOP"):
                j1, done = group_issue(nnz, 0, indirect=True)
                m.d.comb += [Wr[0][b].addr.eq(group_addr(0, b, u1.gb, j1)) for b in range(P)]
                m.d.comb += [Xr.addr.eq(x_base + j1), Br[0].addr.eq(u2.g)]  # bias: stage 3
                # stage 3: the products; 3 + ml: a group starts from its bias, then adds a
                # column per cycle
                w_lane = by_lane(0, lo(j3))
                x_op = Signal(act, name="drive_x")
                m.d.comb += x_op.eq(Mux(u3.first, 0, Xd))
                prods = [staged(mul(k, w_lane[k], x_op), f"drive_p{k}") for k in range(P)]
                bias = [staged(lane(Br[0].data, k, wb_, True) << af, f"drive_b{k}")
                        for k in range(P)]
                ua, uw = (u3, u4) if not ml else (u4, u5)
                m.d.comb += [r_first.eq(ua.first), r_const.eq(bias[0]), r_fwd.eq(prods[0])]
                with m.If(ua.v):
                    m.d.sync += acc.eq(acc_next)
                    m.d.sync += [accs[k].eq(Mux(ua.first, bias[k], accs[k]) + prods[k])
                                 for k in range(1, P)]
                with m.If(uw.v & uw.last):
                    m.d.comb += [Dw.addr.eq(db_off + gw), Dw.data.eq(Cat(*accs)), Dw.en.eq(1)]
                    m.d.sync += gw.eq(gw + 1)
                with m.If(done):
                    # C-EP: W0 changed, so the drive is recomputed between steps
                    first = "RELAX" if zero_in_load else "ZERO"
                    m.next = "RELAX" if cep else first
                    if cep:
                        with m.If(~nudging):
                            m.next = first

            # ------------------------------------------------------------ s = 0
            with m.State("ZERO"):
                m.d.comb += pre_may.eq(1)
                for layer in range(L):
                    with m.If(i < nw[layer + 1]):
                        m.d.comb += [Sw[layer].addr.eq(cur * nw[layer + 1] + i),
                                     Sw[layer].data.eq(0), Sw[layer].en.eq(-1)]
                m.d.sync += i.eq(i + 1)
                with m.If(i == max(nw[1:]) - 1):
                    m.d.sync += [i.eq(0), t.eq(0), step.eq(0), nudging.eq(0)]
                    m.d.comb += argmax.clear.eq(1)
                    m.next = "RELAX"

            # ------------------------------------------------------------ relaxation
            # One flat pipeline over (row or row group, entry): stage 1 addresses,
            # stage 3 accumulates, stage 4 (after a row's last entry) applies the nudge
            # and rho and writes.  Per layer the cheaper of two visiting orders:
            #   rows:   one neuron at a time, word t of both MAC directions per cycle
            #           (P bottom-up products along W_{lay-1} row i, P top-down ones down
            #           W_lay column i), one accumulator;
            #   groups: P neurons at a time, one input per cycle in each direction,
            #           P accumulators (wins when a direction is shorter than P).
            last_free = ~nudging & (step == self.t1 - 1)
            last_plus = nudging & ~minus & (step == self.t2 - 1)

            def write_states(lay: int, word, value, en) -> None:
                m.d.comb += [Sw[lay - 1].addr.eq(~cur * nw[lay] + word),
                             Sw[lay - 1].data.eq(value), Sw[lay - 1].en.eq(en)]
                with m.If(last_free):
                    m.d.comb += [SFw[lay - 1].addr.eq(word), SFw[lay - 1].data.eq(value),
                                 SFw[lay - 1].en.eq(en)]
                if symmetric:  # (+beta end = free end when T2 = 0)
                    with m.If(last_plus | (last_free & (self.t2 == 0))):
                        m.d.comb += [SPw[lay - 1].addr.eq(word), SPw[lay - 1].data.eq(value),
                                     SPw[lay - 1].en.eq(en)]

            def nudge_term(row, s_l):
                """beta (y - s_L) for output neuron ``row`` in state s_L."""
                return (Mux(job.label == row, one, 0) - s_l) * beta_s

            def new_state(out, acc_, nudge, name: str):
                """rho(acc (+ the registered ``nudge_term`` while ``out``: the output
                layer))."""
                total = Signal(signed(aw + 2), name=f"total_{name}")
                if out is False:
                    m.d.comb += total.eq(acc_)
                else:
                    m.d.comb += total.eq(acc_ + Mux(nudging & out, nudge << cfg.nudge_shift, 0))
                s_new = Signal(act, name=f"s_new_{name}")
                m.d.comb += s_new.eq(rho(total))
                return s_new

            # visiting order per layer: the cheaper in cycles (see above), with its
            # entries in ``halves[lay]`` parts side by side (hw/layout.py)
            halves = hp.relax_halves
            shape, iters = {}, {}
            for lay in range(1, L + 1):
                nf = n[lay - 1] if lay >= 2 else 0  # bottom-up inputs
                nb = n[lay + 1] if lay < L else 0  # top-down inputs
                cf, cb = words(nf, P), words(nb, P)
                per_group = -(-max(nf, nb, 1) // halves[lay])
                per_row = -(-max(cf, cb, 1) // halves[lay])
                groups = nw[lay] * per_group < n[lay] * per_row
                self.relax_order[lay] = "groups" if groups else "rows"
                shape[lay] = (nf, nb, cf, cb)
                iters[lay] = (nw[lay], per_group) if groups else (n[lay], per_row)
            # The relaxation pipelines.  One runs every layer in turn; on DSP-rich parts
            # two run side by side, the odd layers in one and the even ones in the other:
            # a layer reads only its neighbours' states, which the other pipeline writes,
            # so neither waits for the other within a step.  The second one has its own
            # read port on each W_l it shares (l >= 1; W0 is not read here) and on the
            # output layer's own states (the nudge's s_L).
            odd_even = hp.odd_even
            groups_of = ([[lay for lay in range(1, L + 1) if lay % 2 == q] for q in (1, 0)]
                         if odd_even else [list(range(1, L + 1))])

            def inputs_of(lay: int, fwd: bool) -> tuple[int, int]:
                """(weight layer, state memory) a MAC direction of layer ``lay`` reads."""
                return (lay - 1, lay - 2) if fwd else (lay, lay)

            pipes = []
            for q, lays in enumerate(groups_of):
                if q == 0:
                    pp = RelaxPipe(q=q, layers=lays, st=[None, p1, p2, p3, p4, p5], rl=rl,
                                   hold=hold, i=i, t=t, acc=acc, accs=accs, r_first=r_first,
                                   r_const=r_const, r_fwd=r_fwd, r_bwd=r_bwd,
                                   acc_next=acc_next, nudge_r=nudge_r, wr=Wr, wq=Wq)
                else:
                    accs_q = [Signal(acc_shape, name=f"acc{q}_{k}") for k in range(P)]
                    ports = {li: [w_mems[li, b].read_port() for b in range(P)]
                             for li in range(1, L)}
                    pp = RelaxPipe(
                        q=q, layers=lays,
                        st=[None] + [Signal(entry, name=f"relax{q}_p{k}") for k in range(1, 6)],
                        rl=Signal(range(1, L + 2), init=lays[0], name=f"relax{q}_layer"),
                        hold=Signal(name=f"relax{q}_hold"),
                        i=Signal.like(i, name=f"relax{q}_i"), t=Signal.like(t, name=f"relax{q}_t"),
                        acc=accs_q[0], accs=accs_q, r_first=Signal(name=f"r{q}_first"),
                        r_const=Signal(acc_shape, name=f"r{q}_const"),
                        r_fwd=Signal(acc_shape, name=f"r{q}_fwd"),
                        r_bwd=Signal(acc_shape, name=f"r{q}_bwd"),
                        acc_next=Signal(acc_shape, name=f"acc{q}_next"),
                        nudge_r=[Signal(nudge_shape, name=f"nudge{q}_{k}") for k in range(P)],
                        wr=ports,
                        wq=[[delayed(r.data, f"w{li}_{b}_q{q}") for b, r in enumerate(ports[li])]
                            if li in ports else None for li in range(L)])
                    m.d.comb += pp.acc_next.eq(Mux(pp.r_first, pp.r_const, pp.acc)
                                               + pp.r_fwd + pp.r_bwd)
                for lay in lays:
                    if halves[lay] == 2:
                        # (its one direction: top-down for layer 1, bottom-up for L)
                        li, sk = inputs_of(lay, fwd=lay != 1)
                        wr2 = [w_mems[li, b].read_port() for b in range(P)]
                        sr2 = S[sk].read_port()
                        pp.half[lay] = HalfReaders(
                            wr=wr2, sr=sr2, sd=delayed(sr2.data, f"s{sk + 1}_d_half{lay}"),
                            wq=[delayed(r.data, f"w{li}_{b}_q_half{lay}")
                                for b, r in enumerate(wr2)])
                # stage 3 forms the products, 3 + ml accumulates, 4 + ml writes
                pp.pa, pp.pw = pp.st[3 + ml], pp.st[4 + ml]
                pipes.append(pp)
            if odd_even:  # the nudge's own states, read by the output layer's pipeline
                own_r = S[L - 1].read_port()
                own_d = delayed(own_r.data, f"s{L}_own_d")
            else:
                own_r, own_d = Sr[L - 1], Sd[L - 1]
            pipe_of = {lay: pp for pp in pipes for lay in pp.layers}

            # the row order's new state is one circuit per pipeline for its layers
            # visited by rows
            for pp in pipes:
                out = (pp.pw.out if L in pp.layers and self.relax_order[L] == "rows"
                       else False)
                pp.s_rows = new_state(out, pp.acc, pp.nudge_r[0], f"rows{pp.q}")

            def halves_of(lay: int, fwd: bool) -> list:
                """Per half of a MAC direction's entries: (weight read ports, their
                registered data, input-state read port, its registered data)."""
                pp = pipe_of[lay]
                li, sk = inputs_of(lay, fwd)
                out = [(pp.wr[li], pp.wq[li], Sr[sk], Sd[sk])]
                if lay in pp.half:
                    h = pp.half[lay]
                    out.append((h.wr, h.wq, h.sr, h.sd))
                return out

            def entry_of(t_, h: int, nt: int):
                """Entry t_ of half h: the halves take consecutive runs of nt entries."""
                return t_ if h == 0 else t_ + h * nt

            def const_of(lay: int, k):
                """The row constant at stage 3: the drive (layer 1) or the bias."""
                if lay == 1:
                    return lane(Dd, k, aw, True)
                return lane(Bd[lay - 1], k, wb_, True) << af

            def relax_rows(lay: int, cf: int, cb: int, nt: int) -> None:
                pp = pipe_of[lay]
                p1_, p3_, pa, pw = pp.st[1], pp.st[3], pp.pa, pp.pw
                with m.If(p1_.lay == lay):  # stage 1
                    if lay == 1:
                        m.d.comb += Dr.addr.eq(db_off + hi(p1_.i))
                    else:
                        m.d.comb += Br[lay - 1].addr.eq(hi(p1_.i))
                    if lay == L:
                        m.d.comb += own_r.addr.eq(cur * nw[L] + hi(p1_.i))
                    for h, (wr, _, sr, _) in enumerate(halves_of(lay, True) if cf else []):
                        tt = entry_of(p1_.t, h, nt)
                        m.d.comb += [wr[b].addr.eq(p1_.i * geo[lay - 1].words + tt)
                                     for b in range(P)]
                        m.d.comb += sr.addr.eq(cur * cf + tt)
                    for h, (wr, _, sr, _) in enumerate(halves_of(lay, False) if cb else []):
                        tt = entry_of(p1_.t, h, nt)
                        m.d.comb += [wr[b].addr.eq(
                            tt * (P * geo[lay].words) + lm.skew_rows(geo[lay].words, b, lo(p1_.i))
                            + hi(p1_.i)) for b in range(P)]
                        m.d.comb += sr.addr.eq(cur * cb + tt)
                with m.If(p3_.lay == lay):  # stage 3
                    const = staged(const_of(lay, lo(p3_.i)), f"r{lay}_const")
                    own = staged(lane(own_d, lo(p3_.i), ab), f"r{lay}_own") if lay == L else 0
                    def bank_states(sd):
                        """Entry b: the state that meets bank b's weight, lane (b - i) mod P."""
                        return rotate([lane(sd, k, ab) for k in range(P)], lo(p3_.i), back=True)
                    sums = []  # (P products, entries of their half), at most two
                    for fwd, c in ((True, cf), (False, cb)):
                        for h, (_, wq, _, sd) in enumerate(halves_of(lay, fwd) if c else []):
                            if c - h * nt <= 0:
                                continue
                            tag = ("f" if fwd else "b") + (f"h{h}" if h else "")
                            sums.append(([staged(mul(b + (0 if fwd else P), wq[b], sv),
                                                 f"r{lay}_{tag}{b}")
                                          for b, sv in enumerate(bank_states(sd))], c - h * nt))
                with m.If(pa.lay == lay):  # stage 3 + ml
                    m.d.comb += [pp.r_first.eq(pa.first), pp.r_const.eq(const)]
                    for r, (prods, left) in zip((pp.r_fwd, pp.r_bwd), sums, strict=False):
                        m.d.comb += r.eq(Mux(pa.t < left, sum(prods), 0) if left < nt
                                         else sum(prods))
                    with m.If(pa.v):
                        m.d.sync += pp.acc.eq(pp.acc_next)
                        if lay == L:
                            with m.If(pa.first):
                                m.d.sync += pp.nudge_r[0].eq(nudge_term(pa.i, own))
                with m.If(pw.lay == lay):  # stage 4 + ml
                    s_new = pp.s_rows
                    with m.If(pw.v & pw.last):
                        write_states(lay, hi(pw.i), spread(s_new, ab), onehot(lo(pw.i)))
                        if lay == L:
                            with m.If(last_free):
                                # one row, in lane 0 (every bit of the word driven: a
                                # part left undriven is an X in the Verilog)
                                m.d.comb += [cand.valid.eq(1), cand.payload.s.eq(s_new),
                                             cand.payload.ok.eq(1), cand.payload.row.eq(pw.i)]

            def relax_groups(lay: int, nf: int, nb: int, nt: int) -> None:
                pp = pipe_of[lay]
                p1_, p3_, pa, pw = pp.st[1], pp.st[3], pp.pa, pp.pw
                with m.If(p1_.lay == lay):  # stage 1
                    if lay == 1:
                        m.d.comb += Dr.addr.eq(db_off + p1_.i)
                    else:
                        m.d.comb += Br[lay - 1].addr.eq(p1_.i)
                    if lay == L:
                        m.d.comb += own_r.addr.eq(cur * nw[L] + p1_.i)
                    # W_{lay-1}[group row, t]
                    for h, (wr, _, sr, _) in enumerate(halves_of(lay, True) if nf else []):
                        tt = entry_of(p1_.t, h, nt)
                        base = p1_.i * (P * geo[lay - 1].words)
                        m.d.comb += [wr[b].addr.eq(group_addr(lay - 1, b, base, tt))
                                     for b in range(P)]
                        m.d.comb += sr.addr.eq(cur * nw[lay - 1] + hi(tt))
                    # W_lay[t, group row]: one address in every bank
                    for h, (wr, _, sr, _) in enumerate(halves_of(lay, False) if nb else []):
                        tt = entry_of(p1_.t, h, nt)
                        m.d.comb += [wr[b].addr.eq(tt * geo[lay].words + p1_.i)
                                     for b in range(P)]
                        m.d.comb += sr.addr.eq(cur * nw[lay + 1] + hi(tt))
                prods: list[list] = [[] for _ in range(P)]
                with m.If(p3_.lay == lay):  # stage 3
                    const = [staged(const_of(lay, k), f"g{lay}_const{k}") for k in range(P)]
                    own = ([staged(lane(own_d, k, ab), f"g{lay}_own{k}") for k in range(P)]
                           if lay == L else [])
                    for fwd, c in ((True, nf), (False, nb)):
                        li = lay - 1 if fwd else lay
                        for h, (_, wq, _, sd) in enumerate(halves_of(lay, fwd) if c else []):
                            if c - h * nt <= 0:
                                continue
                            tt = entry_of(p3_.t, h, nt)
                            ws = by_lane(li, lo(tt), wq)
                            tag = ("f" if fwd else "b") + (f"h{h}" if h else "")
                            for k in range(P):
                                prods[k].append((staged(
                                    mul(k + (0 if fwd else P), ws[k], lane(sd, lo(tt), ab)),
                                    f"g{lay}_{tag}{k}"), c - h * nt))
                with m.If(pa.lay == lay):  # stage 3 + ml
                    m.d.comb += pp.r_first.eq(pa.first)
                    for k in range(P):
                        terms = [Mux(pa.t < n_, v, 0) if n_ < nt else v for v, n_ in prods[k]]
                        if k == 0:  # lane 0 on the pipeline's shared adder
                            m.d.comb += [pp.r_const.eq(const[0])] + [
                                r.eq(v) for r, v in zip((pp.r_fwd, pp.r_bwd), terms,
                                                        strict=False)]
                        with m.If(pa.v):
                            m.d.sync += pp.accs[k].eq(
                                pp.acc_next if k == 0 else
                                Mux(pa.first, const[k], pp.accs[k]) + sum(terms))
                            if lay == L:
                                with m.If(pa.first):
                                    m.d.sync += pp.nudge_r[k].eq(nudge_term(pa.i * P + k, own[k]))
                with m.If(pw.lay == lay):  # stage 4 + ml
                    rows = [pw.i * P + k for k in range(P)]
                    s_new = [new_state(lay == L, pp.accs[k], pp.nudge_r[k], f"{lay}_{k}")
                             for k in range(P)]
                    ok = [rows[k] < n[lay] if n[lay] % P else Const(1, 1) for k in range(P)]
                    with m.If(pw.v & pw.last):
                        write_states(lay, pw.i, Cat(*s_new), Cat(*ok))
                        if lay == L:  # argmax candidates, compared a cycle later
                            with m.If(last_free):
                                m.d.comb += [cand.valid.eq(1), cand.payload.row.eq(rows[0]),
                                             cand.payload.s.eq(Cat(*s_new)),
                                             cand.payload.ok.eq(Cat(*ok))]

            # The layers of one step follow each other through their pipeline without a
            # drain (a step reads only bank cur and writes only ~cur); only the step's
            # end waits, until its last state write has landed, as the next step reads it.
            # the step's end leaves the relaxation (registered: step and phase hold still
            # while the step drains)
            leave = Signal(name="relax_leave")
            leave_r = Signal(name="relax_leave_r")
            m.d.comb += leave.eq((~nudging & (step == self.t1 - 1) & ~(job.train & (self.t2 != 0)))
                                 | (nudging & cep) | (nudging & (step == self.t2 - 1)))
            m.d.sync += leave_r.eq(leave)
            drain_end = Signal(name="relax_drain_end")
            busy_stages = [pp.st[k].v for pp in pipes for k in range(1, 4 + ml)]
            m.d.comb += drain_end.eq(Cat(*(pp.hold for pp in pipes)).all()
                                     & ~Cat(*busy_stages).any())
            with m.State("RELAX"):
                m.d.comb += pre_may.eq(1)
                for pp in pipes:
                    st = pp.st
                    m.d.sync += [st[1].v.eq(0), st[2].eq(st[1]), st[3].eq(st[2]), st[4].eq(st[3]),
                                 st[5].eq(st[4])]
                # the step's last entry writes this cycle; the next step reads after it,
                # its first entry issuing in this cycle (the decision is registered)
                with m.If(drain_end):
                    m.d.sync += [cur.eq(~cur), step.eq(step + 1)]
                    m.d.sync += [x for pp in pipes for x in (pp.hold.eq(0),
                                                             pp.rl.eq(pp.layers[0]))]
                    with m.If(~nudging & (step == self.t1 - 1)):
                        m.d.sync += step.eq(0)
                        with m.If(job.train & (self.t2 != 0)):
                            m.d.sync += nudging.eq(1)
                        with m.Elif(job.train):  # T2 = 0: C-EP has no nudged step to learn on
                            m.next = "RESULT" if cep else "UPD_START"
                        with m.Else():
                            m.next = "RESULT"
                    with m.Elif(nudging & cep):
                        m.next = "UPD_START"  # C-EP: every nudged step updates
                    with m.Elif(nudging & (step == self.t2 - 1)):
                        m.d.sync += step.eq(0)
                        m.next = "COPY_ADDR" if symmetric else "UPD_START"
                        if symmetric:
                            with m.If(minus):
                                m.next = "UPD_START"
                for pp in pipes:
                    p1_, i_, t_ = pp.st[1], pp.i, pp.t
                    with m.Switch(pp.rl):
                        for idx, lay in enumerate(pp.layers):
                            n_iter, nt = iters[lay]
                            with m.Case(lay):
                                go = (~pp.hold | (drain_end & ~leave_r)) if idx == 0 else ~pp.hold
                                with m.If(go):
                                    m.d.sync += [p1_.v.eq(1), p1_.i.eq(i_), p1_.t.eq(t_),
                                                 p1_.first.eq(t_ == 0), p1_.last.eq(t_ == nt - 1),
                                                 p1_.lay.eq(lay), p1_.out.eq(lay == L)]
                                    with m.If(t_ != nt - 1):
                                        m.d.sync += t_.eq(t_ + 1)
                                    with m.Elif(i_ != n_iter - 1):
                                        m.d.sync += [i_.eq(i_ + 1), t_.eq(0)]
                                    with m.Else():
                                        m.d.sync += [i_.eq(0), t_.eq(0)]
                                        if idx == len(pp.layers) - 1:
                                            m.d.sync += [pp.hold.eq(1), pp.rl.eq(pp.layers[0])]
                                        else:
                                            m.d.sync += pp.rl.eq(pp.layers[idx + 1])
                for lay in range(1, L + 1):
                    nf, nb, cf, cb = shape[lay]
                    if self.relax_order[lay] == "groups":
                        relax_groups(lay, nf, nb, iters[lay][1])
                    else:
                        relax_rows(lay, cf, cb, iters[lay][1])

            # symmetric nudge: the -beta phase starts again from the free states
            with m.State("COPY_ADDR"):
                m.d.comb += pre_may.eq(1)
                for layer in range(L):
                    m.d.comb += SFr[layer].addr.eq(i)
                m.next = "COPY_WRITE"
            with m.State("COPY_WRITE"):
                m.d.comb += pre_may.eq(1)
                for layer in range(L):
                    with m.If(i < nw[layer + 1]):
                        m.d.comb += [Sw[layer].addr.eq(cur * nw[layer + 1] + i),
                                     Sw[layer].data.eq(SFr[layer].data), Sw[layer].en.eq(-1)]
                m.d.sync += i.eq(i + 1)
                m.next = "COPY_ADDR"
                with m.If(i == max(nw[1:]) - 1):
                    m.d.sync += [i.eq(0), t.eq(0), minus.eq(1)]
                    m.next = "RELAX"

            # ------------------------------------------------------------ updates
            # P rows (a group) at a time, one column per cycle, all groups of a layer in
            # one flat pipeline: each group is a k*v entry (latches k v_hi, k v_lo and
            # the row random values for its rows), one entry per column, and a bias
            # entry (the bias is column n_in with u = 1.0: the same arithmetic).
            # The layers update one after another, W0 last with the predrive: the
            # other layers' updates need none of its ports, so they run while it ends.
            order = list(range(1, L)) + [0] if predrive else list(range(L))

            def upd_next(after: int | None) -> str:
                """The state after layer ``after``'s update (None: UPD_START)."""
                k = 0 if after is None else order.index(after) + 1
                if k == L:
                    return "UPD_END"
                return "U0_WAIT" if order[k] == 0 and predrive else f"U{order[k]}_LOOP"

            with m.State("UPD_START"):
                m.d.sync += [t.eq(0), i.eq(0), u_fin.eq(0)]
                # (W0 first: the predrive, if any, must have read it)
                with m.If(~fill_on & ~pre_wait if order[0] == 0 else ~fill_on):
                    m.next = upd_next(None)
            if predrive:
                with m.State("U0_WAIT"):  # the predrive reads the old W0
                    with m.If(~pre_wait):
                        m.next = "U0_LOOP"
            # the two phases each update contrasts (hi - lo), per variant:
            #   EP: nudged (bank cur) vs free (SF); symmetric: +beta (SP) vs -beta (bank
            #   cur); C-EP: this nudged step (bank cur) vs the previous one (other bank)
            def hi_lo(layer: int):
                """(read port, word offset, delayed data) of the hi and lo states."""
                bank = (Sr[layer], cur * nw[layer + 1], Sd[layer])
                if symmetric:
                    return (SPr[layer], 0, SPd[layer]), bank
                if cep:
                    return bank, (Slo[layer], ~cur * nw[layer + 1], Slod[layer])
                return bank, (SFr[layer], 0, SFd[layer])

            # One update datapath serves every layer (the layers update one after the
            # other): the per-row k*v registers, the stage-3 operands, the products and
            # the rounding and saturation exist once, each layer's states only steer
            # their inputs.  Stage 3 forms the two products, stage 4 their difference,
            # the rounding and the saturation, stage 5 writes back: one cycle could not
            # do all of it at speed.
            pw = self.update_q_width + 2 * ab + 4
            kvb = [Signal(signed(kv_width), name=f"kvb_{k}") for k in range(P)]
            kvf = [Signal(signed(kv_width), name=f"kvf_{k}") for k in range(P)]
            u_hi, u_lo = Signal(act, name="u_hi"), Signal(act, name="u_lo")  # stage 3
            w_in = [Signal(wsh, name=f"w_in_{k}") for k in range(P)]  # stage 3
            prod_hi: list = [None] * P  # shared-multiplier outputs, set by the states
            prod_lo: list = [None] * P
            new_w = [Signal(wsh, name=f"new_w_{k}") for k in range(P)]  # stage 5
            in_u0 = Signal(name="in_u0")  # the FSM updates W0 (and b0)
            corr = [Signal(acc_shape, name=f"corr_{k}") for k in range(P)]  # stage 6
            corr_term = [Signal(acc_shape, name=f"corr_term_{k}") for k in range(P)]

            for lay in range(L):
                g = geo[lay]
                n_out, n_in = n[lay + 1], n[lay]
                # the bias entry: t = columns + 1 (nnz + 1 from a register: timing)
                last_t = nnz_p1 if lay == 0 else n_in + 1
                k_ = Signal(signed(self.update_q_width + 1), name=f"k{lay}")
                m.d.comb += k_.eq(Mux(neg, -self.update_q[lay], self.update_q[lay]))

                def row_ok(k: int, grp, n_out=n_out):
                    """Lane k holds a real row (the last group may be partial)."""
                    return grp * P + k < n_out if n_out % P else Const(1, 1)

                (post_r, post_o, _), (postf_r, postf_o, _) = hi_lo(lay)
                with m.State(f"U{lay}_LOOP"):
                    alternate = lay == 0 and single_w0
                    if alternate:
                        m.d.sync += half.eq(~half)
                    # single-port W0: its columns issue on alternate cycles (the writes
                    # land between); the k*v and bias entries do not touch W0
                    col = (t != 0) & (t != last_t)
                    j1, done = group_issue(last_t, lay, indirect=lay == 0,
                                           gate=~(half & col) if alternate else 1)
                    # stage 1: the columns' weights and random values, the bias
                    m.d.comb += [Wr[lay][b].addr.eq(group_addr(lay, b, u1.gb, j1))
                                 for b in range(P)]
                    m.d.comb += CRr.addr.eq(c_off[lay] + Mux(u1.last, n_in, j1))
                    # stage 2: the k*v entry's states and row values, the bias (read at
                    # stage 3 straight from the ports)
                    m.d.comb += [post_r.addr.eq(post_o + u2.g), postf_r.addr.eq(postf_o + u2.g),
                                 Br[lay].addr.eq(u2.g),
                                 ARr.addr.eq(a_off[lay] + u2.g)]
                    if lay == 0:
                        m.d.comb += [Xr.addr.eq(x_base + j1), u_hi.eq(Mux(u3.last, one, Xd)),
                                     u_lo.eq(Mux(u3.last, one, Xd)), in_u0.eq(1)]
                    else:
                        (pre_r, pre_o, pre_d), (pref_r, pref_o, pref_d) = hi_lo(lay - 1)
                        m.d.comb += [pre_r.addr.eq(pre_o + hi(j1)),
                                     pref_r.addr.eq(pref_o + hi(j1)),
                                     u_hi.eq(Mux(u3.last, one, lane(pre_d, lo(j3), ab))),
                                     u_lo.eq(Mux(u3.last, one, lane(pref_d, lo(j3), ab)))]
                    # stage 3: k*v once per group (one multiplier level per weight after)
                    # or k (v_hi u_hi - v_lo u_lo) for a column or the bias
                    w_lane = by_lane(lay, lo(j3))
                    for k in range(P):
                        m.d.comb += w_in[k].eq(Mux(u3.last, lane(Br[lay].data, k, wb_, True),
                                                   w_lane[k]))
                        with m.If(u3.first):
                            kb_ = mul(k, k_, lane(post_r.data, k, ab), pool=True)
                            kf_ = mul(P + k, k_, lane(postf_r.data, k, ab), pool=True)
                            with m.If(u3.v):
                                m.d.sync += [kvb[k].eq(kb_), kvf[k].eq(kf_),
                                             a_k[k].eq(lane(ARr.data, k, cfg.sr_bits))]
                        with m.Else():
                            prod_hi[k] = mul(k, kvb[k], u_hi, pool=True)
                            prod_lo[k] = mul(P + k, kvf[k], u_lo, pool=True)
                    # stage 5: write back
                    new_banked = rotate(new_w, lo(j5), back=True)  # entry b: bank b's
                    with m.If(u5.v & u5.last):
                        m.d.comb += [Bw[lay].addr.eq(gw), Bw[lay].data.eq(Cat(*new_w)),
                                     Bw[lay].en.eq(Cat(*(row_ok(k, gw) for k in range(P))))]
                        m.d.sync += [gw.eq(gw + 1), gwb.eq(gwb + P * g.words)]
                    with m.Elif(u5.v & ~u5.first):
                        for b in range(P):
                            kb = rot(b, lo(j5))
                            with m.If(row_ok(kb, gw)):  # padding rows of a last group: no
                                m.d.comb += [
                                    Ww[lay][b].addr.eq(group_addr(lay, b, gwb, j5)),
                                    Ww[lay][b].data.eq(new_banked[b]),
                                    Ww[lay][b].en.eq(1)]
                    with m.If(done):
                        m.d.sync += half.eq(0)
                        m.next = upd_next(lay)

            # the shared update datapath; its registers run every cycle, the entries'
            # valid bits say when a result is real
            for k in range(P):
                pb = Signal(signed(pw), name=f"pb_{k}")
                pf = Signal(signed(pw), name=f"pf_{k}")
                w_4 = Signal(wsh, name=f"w4_{k}")
                m.d.sync += [pb.eq(prod_hi[k]), pf.eq(prod_lo[k]), w_4.eq(w_in[k])]
                prod = Signal(signed(pw + 1), name=f"prod_{k}")
                m.d.comb += prod.eq(pb - pf)
                dw = Signal(signed(prod.shape().width), name=f"dw_{k}")
                m.d.comb += dw.eq(round_update(prod, a_k[k] ^ CRd4))
                m.d.sync += new_w[k].eq(sat(w_4 + dw))
                if predrive:
                    w_5 = delayed(w_4, f"w5_{k}")
                    delta = Signal(signed(wb_ + 1), name=f"delta_w{k}")
                    m.d.comb += delta.eq(new_w[k] - w_5)
                    m.d.sync += corr_term[k].eq(Mux(u5.last, delta << af, delta * X2r.data))


            with m.State("UPD_END"):
                m.next = "RESULT"
                if cep:  # more nudged steps: recompute the drive with the new W0
                    with m.If(step != self.t2):
                        m.d.sync += [i.eq(0), t.eq(0)]
                        m.d.comb += fill.start.eq(self.stochastic)
                        m.next = "DRIVE_LOOP"

            # ------------------------------------------------------------ result out
            with m.State("RESULT"):
                # (inference gets here the cycle after its last argmax candidates)
                # (and after the predrive, which may not run in IDLE)
                m.d.comb += [self.result.valid.eq(~argmax.busy & ~pre_wait),
                             self.result.payload.eq(argmax.index)]
                with m.If(self.result.ready & ~argmax.busy & ~pre_wait):
                    m.d.sync += samples.eq(samples + job.train)
                    m.next = "IDLE"
                    if overlap:  # the sample's pixels are no longer needed
                        m.d.comb += loader.release.eq(1)

        # The predrive read W0 and b0 before this update: what the update changes
        # goes into it, (w' - w) x'_j per column and (b' - b) for the bias (stage 6),
        # and the corrected group is written at its last entry.  The pixel x'_j
        # comes from X's second read port (stage 4).
        if predrive:
            with m.If(in_u0 & pre_done):
                m.d.comb += [X2r.addr.eq(Mux(pre_bank, n[0], 0) + j4),
                             Dr.addr.eq(pre_db_off + u5.g)]
                with m.If(u6.v):
                    m.d.sync += [c.eq(Mux(u6.first, 0, c + v))
                                 for c, v in zip(corr, corr_term, strict=True)]
                with m.If(u6.v & u6.last):
                    fixed = [lane(Dr.data, k, aw, True) + corr[k] + corr_term[k]
                             for k in range(P)]
                    m.d.comb += [Dw.addr.eq(pre_db_off + u6.g),
                                 Dw.data.eq(Cat(*(f[:aw] for f in fixed))), Dw.en.eq(1)]

        # host read data: from the region and lane latched at the (registered) read; the
        # mux is as wide as the widest source, the sign extension comes after it
        raw = Signal(max(32, wb_))
        is_signed = Signal()
        with m.Switch(host_rsel):
            for r_idx, (kind, layer, _) in enumerate(self.amap.regions):
                with m.Case(r_idx):
                    if kind == "lfsr":
                        m.d.comb += raw.eq(fill.state[layer])
                    elif kind == "W":
                        m.d.comb += [raw.eq((Array(r.data for r in Wr[layer])[host_lane]
                                             if P > 1 else Wq[layer][0]).as_unsigned()),
                                     is_signed.eq(1)]
                    else:
                        src = {"b": Br, "sf": SFr, "s": Sr, "sp": SPr}[kind][layer]
                        m.d.comb += raw.eq(lane(src.data, host_lane, wb_ if kind == "b" else ab))
                        if kind == "b":
                            m.d.comb += is_signed.eq(1)
        m.d.comb += self.host.resp.payload.eq(Mux(is_signed, raw[:wb_].as_signed(), raw))
        return m
