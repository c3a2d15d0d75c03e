"""The EP core: input drive, Jacobi relaxation, nudge port and local weight updates,
generated from one ``EPConfig`` and bit-exact with ``epfpga.golden.GoldenModel``.

Architecture (why it looks like this):

* Every memory (weights, biases, states, input, sparse index list) has exactly one
  synchronous read port and one write port, so the same schedule maps onto simple
  dual-port block RAM on any part.
* One generic loop engine with a two-stage pipeline serves every inner loop: stage 1
  turns the loop index into a memory address (through the sparse list of non-zero
  pixels when the loop is over the input), stage 2 consumes the read data.  Zero pixels
  never enter the input-drive or the W0-update loop.
* In a relaxation row the bottom-up term (W_{l-1} s_{l-1}) and the top-down term
  (W_l^T s_{l+1}) live in different memories, so both MACs run in the same cycle.
* States are double-buffered per layer (bank ``cur`` is read, the other written): a step
  is a true Jacobi step whatever the visiting order.  The free end states are also
  written to their own memories, which the update and the host read.
* Runtime parameters (T1, T2, beta_q and its sign, update_q, rounding mode) are ports,
  so the host changes them between samples without rebuilding.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError
from epfpga.numerics import LFSR_MASK, lfsr_seed

from .spram import SinglePortMemory


def _bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


class AddressMap:
    """Flat host address space: weights, biases, free states, current states, (+beta end
    states with symmetric nudge), LFSRs.

    Computed from the config so driver, testbench and gateware agree on it."""

    def __init__(self, cfg: EPConfig):
        self.regions: list[tuple[str, int, int, int]] = []  # (kind, layer, base, size)
        base = 0
        kinds = ("W", "b", "sf", "s") + (("sp",) if cfg.nudge == "symmetric" else ())
        for kind in kinds:
            for layer in range(cfg.n_layers):
                n_out, n_in = cfg.layers[layer + 1], cfg.layers[layer]
                size = n_out * n_in if kind == "W" else n_out
                self.regions.append((kind, layer, base, size))
                base += size
        for layer in range(cfg.n_layers):
            self.regions.append(("lfsr", layer, base, 1))
            base += 1
        self.size = base

    def base(self, kind: str, layer: int) -> int:
        for k, lay, b, _ in self.regions:
            if k == kind and lay == layer:
                return b
        raise KeyError((kind, layer))


def job_layout(cfg: EPConfig) -> data.StructLayout:
    return data.StructLayout({
        "train": 1,  # 0: inference only (no nudge, no update)
        "neg": 1,  # nudge with -beta (random-sign beta); the update sign follows
        "label": _bits(cfg.layers[-1]),
    })


def update_q_width(cfg: EPConfig) -> int:
    """Bits of the runtime eta/beta register (room for SET_PARAMS up to 2**10)."""
    return cfg.lr_frac + 10


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


class EPCore(wiring.Component):
    """One EP network; ``job`` then ``n0`` pixels in, prediction out."""

    def __init__(self, cfg: EPConfig, spram: bool = False, shared_mul: bool = True):
        """``spram``: build W0 from the iCE40UP5K's SB_SPRAM256KA blocks (part 'up5k'
        only); the single-port schedule is used for that part either way.
        ``shared_mul``: form every product on two shared multipliers (few DSP blocks,
        longer paths) rather than one multiplier per use (fast, for DSP-rich parts);
        both compute the same numbers."""
        if todo := unsupported(cfg):
            raise EpfpgaError(f"config {cfg.name!r}: the EP core does not implement "
                              + "; ".join(todo) + " yet; the golden and float engines do")
        self.cfg = cfg
        self.spram = spram
        self.shared_mul = shared_mul
        self.amap = AddressMap(cfg)
        L = cfg.n_layers
        self.update_q_width = update_q_width(cfg)
        members = {
            "job": In(stream.Signature(job_layout(cfg))),
            "pixels": In(stream.Signature(unsigned(cfg.act_bits))),
            "result": Out(stream.Signature(unsigned(_bits(cfg.layers[-1])))),
            "t1": In(16, init=cfg.T1),
            "t2": In(16, init=cfg.T2),
            "beta_q": In(unsigned(cfg.beta_frac + 1), init=cfg.beta_q),
            "stochastic": In(1, init=int(cfg.rounding == "stochastic")),
            "host_addr": In(_bits(self.amap.size + 1)),
            "host_wdata": In(signed(33)),
            "host_we": In(1),
            "host_re": In(1),
            "host_rdata": Out(signed(33)),
            "busy": Out(1),
            "cycles": Out(32),
            "samples": Out(32),
        }
        for layer in range(L):
            members[f"update_q{layer}"] = In(self.update_q_width, init=cfg.update_q[layer])
        super().__init__(members)

    # ------------------------------------------------------------------ elaboration
    def elaborate(self, platform):  # noqa: ANN001, ANN201, C901
        cfg = self.cfg
        m = Module()
        L = cfg.n_layers
        n = cfg.layers
        af, wf = cfg.act_frac, cfg.weight_frac
        act = unsigned(cfg.act_bits)
        wsh = signed(cfg.weight_bits)
        acc_shape = signed(cfg.acc_bits)
        one = cfg.act_one
        sr_mask = (1 << cfg.sr_bits) - 1
        sh = cfg.update_shift

        # ---------------------------------------------------------------- memories
        def mem(name: str, shape, depth: int, init=None) -> Memory:  # noqa: ANN001
            mm = Memory(shape=shape, depth=max(depth, 1), init=init or [])
            m.submodules[name] = mm
            return mm

        # On the UP5K, W0 (most of the weights) lives in single-port SPRAM: one read or
        # one write per cycle, so its update loop reads and writes on alternate cycles.
        single_w0 = cfg.part == "up5k"
        W = [None if i == 0 and single_w0 else mem(f"w{i}", wsh, n[i + 1] * n[i])
             for i in range(L)]
        B = [mem(f"b{i}", wsh, n[i + 1]) for i in range(L)]
        S = [mem(f"s{i + 1}", act, 2 * n[i + 1]) for i in range(L)]  # two banks
        SF = [mem(f"sf{i + 1}", act, n[i + 1]) for i in range(L)]
        symmetric, cep = cfg.nudge == "symmetric", cfg.algorithm == "cep"
        # symmetric nudge keeps the +beta end states while the -beta phase runs
        SP = [mem(f"sp{i + 1}", act, n[i + 1]) for i in range(L)] if symmetric else []
        X = mem("x", act, n[0])
        NZ = mem("nz", unsigned(_bits(n[0] + 1)), n[0])
        DRV = mem("drive", acc_shape, n[1])
        max_out, max_in = max(n[1:]), max(n[:-1])
        AR = mem("rand_a", unsigned(cfg.sr_bits), max_out)
        CR = mem("rand_c", unsigned(cfg.sr_bits), max_in + 1)

        def rp(mm: Memory):  # noqa: ANN202
            return mm.read_port()

        def wp(mm: Memory):  # noqa: ANN202
            return mm.write_port()

        Wr = [rp(x) if x is not None else None for x in W]
        Ww = [wp(x) if x is not None else None for x in W]
        if single_w0:
            m.submodules.w0 = w0 = SinglePortMemory(cfg.weight_bits, n[1] * n[0],
                                                    spram=self.spram)
            Wr[0] = SimpleNamespace(addr=Signal(range(n[1] * n[0]), name="w0_raddr"),
                                    data=w0.rdata.as_signed())
            Ww[0] = SimpleNamespace(addr=Signal(range(n[1] * n[0]), name="w0_waddr"),
                                    data=Signal(wsh, name="w0_wdata"), en=Signal(name="w0_we"))
            # writes land one cycle late: a write then never meets the read that the
            # alternate-cycle loop issues in the same cycle
            wa, wd, we_ = Signal.like(Ww[0].addr), Signal(wsh), Signal()
            m.d.sync += [wa.eq(Ww[0].addr), wd.eq(Ww[0].data), we_.eq(Ww[0].en)]
            m.d.comb += [w0.addr.eq(Mux(we_, wa, Wr[0].addr)), w0.wdata.eq(wd),
                         w0.we.eq(we_)]
        Br, Bw = [rp(x) for x in B], [wp(x) for x in B]
        Sr, Sw = [rp(x) for x in S], [wp(x) for x in S]
        SFr, SFw = [rp(x) for x in SF], [wp(x) for x in SF]
        SPr, SPw = [rp(x) for x in SP], [wp(x) for x in SP]
        # C-EP contrasts each nudged step with the one before: the other state bank
        Slo = [rp(x) for x in S] if cep else []
        Xr, Xw = rp(X), wp(X)
        NZr, NZw = rp(NZ), wp(NZ)
        Dr, Dw = rp(DRV), wp(DRV)
        ARr, ARw = rp(AR), wp(AR)
        CRr, CRw = rp(CR), wp(CR)
        for port in Ww + Bw + Sw + SFw + SPw + [Xw, NZw, Dw, ARw, CRw]:
            m.d.comb += port.en.eq(0)

        def delayed(v, name: str):  # noqa: ANN001, ANN202
            r = Signal.like(v, name=name)
            m.d.sync += r.eq(v)
            return r

        # Weight memories are large (many block RAMs behind a select mux): their read
        # data is registered once, so the MAC starts from a flop (timing), and the loops
        # consume at stage 3 with the one-cycle operands delayed to match.
        Wq = [delayed(r.data, f"w{i}_q") for i, r in enumerate(Wr)]
        Xd = delayed(Xr.data, "x_d")
        CRd = delayed(CRr.data, "rand_c_d")
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
        nnz = Signal(_bits(n[0] + 1) + 1)
        i = Signal(_bits(max(n) + 1) + 1)
        t = Signal(_bits(max(n) + 2) + 1)
        acc = Signal(acc_shape)
        self_s = Signal(act)  # s_L[i] for the nudge
        best = Signal(signed(cfg.act_bits + 1))
        best_i = Signal(_bits(n[-1]))
        lfsr = [Signal(32, init=lfsr_seed(cfg.seed, layer), name=f"lfsr{layer}")
                for layer in range(L)]
        # two-stage loop pipeline
        v1, v2, v3 = Signal(), Signal(), Signal()
        t1_, j2, j3 = Signal.like(t), Signal.like(t), Signal.like(t)
        # update row constants
        a_i = Signal(unsigned(cfg.sr_bits))
        half = Signal()  # single-port W0 update: read slot (0) / write slot (1)
        cycles = Signal(32)
        samples = Signal(32)
        m.d.comb += [self.cycles.eq(cycles), self.samples.eq(samples)]

        # Two shared multipliers form every product (drive, both relaxation directions,
        # nudge, update): the FSM states that need them are exclusive, and DSP blocks
        # are the scarcest resource on the iCE40UP5K (8).
        kv_width = self.update_q_width + cfg.act_bits + 2
        wa, wb = multiplier_shape(cfg)
        mul_a = [Signal(signed(wa), name=f"mul{q}_a") for q in range(2)]
        mul_b = [Signal(signed(wb), name=f"mul{q}_b") for q in range(2)]
        mul_p = [Signal(signed(wa + wb), name=f"mul{q}_p") for q in range(2)]
        m.d.comb += [mul_p[q].eq(mul_a[q] * mul_b[q]) for q in range(2)]

        def mul(q: int, a, b):  # noqa: ANN001, ANN202
            """a * b on shared multiplier q (drive it from one FSM state at a time)."""
            if not self.shared_mul:
                return a * b
            m.d.comb += [mul_a[q].eq(a), mul_b[q].eq(b)]
            return mul_p[q]

        neg = job.neg
        beta_s = Signal(signed(cfg.beta_frac + 3))
        m.d.comb += beta_s.eq(Mux(neg ^ minus, -self.beta_q, self.beta_q))

        def rho(v):  # noqa: ANN001, ANN202
            r = Signal(signed(cfg.acc_bits + 1))
            m.d.comb += r.eq((v + (1 << (wf - 1))) >> wf)
            return Mux(r < 0, 0, Mux(r > one, one, r))

        def sat(v):  # noqa: ANN001, ANN202
            return Mux(v > cfg.weight_max, cfg.weight_max,
                       Mux(v < cfg.weight_min, cfg.weight_min, v))

        def round_update(prod, r):  # noqa: ANN001, ANN202
            if sh >= cfg.sr_bits:
                stoch = r << (sh - cfg.sr_bits)
            else:
                stoch = r >> (cfg.sr_bits - sh)
            off = Mux(self.stochastic, stoch, 1 << (sh - 1))
            return (prod + off) >> sh

        def loop(n_iter, indirect: bool, gate=1):  # noqa: ANN001, ANN202
            """Advance the two-stage pipeline; returns (j1 = stage-1 index, done).
            ``gate`` low holds issue for a cycle (single-port write slots)."""
            issue = (t < n_iter) & gate
            with m.If(issue):
                m.d.sync += t.eq(t + 1)
            m.d.sync += [v1.eq(issue), t1_.eq(t), v2.eq(v1), v3.eq(v2)]
            j1 = Signal.like(t, name=f"j1_{len(loop_names)}")
            loop_names.append(1)
            m.d.comb += j1.eq(NZr.data if indirect else t1_)
            m.d.sync += [j2.eq(j1), j3.eq(j2)]
            m.d.comb += NZr.addr.eq(t)
            return j1, ~issue & ~v1 & ~v2 & ~v3

        loop_names: list[int] = []

        m.d.comb += self.busy.eq(1)
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)

        host_rsel = Signal(range(len(self.amap.regions) + 1))
        host_lfsr = Signal(32)

        with m.FSM(name="ctrl"):
            # ------------------------------------------------------------ idle, host
            with m.State("IDLE"):
                m.d.comb += [self.busy.eq(0), self.job.ready.eq(1)]
                for r_idx, (kind, layer, base, size) in enumerate(self.amap.regions):
                    hit = (self.host_addr >= base) & (self.host_addr < base + size)
                    off = self.host_addr - base
                    ports = {"W": (Wr, Ww), "b": (Br, Bw), "sf": (SFr, None),
                             "s": (Sr, None), "sp": (SPr, None)}.get(kind)
                    with m.If(hit):
                        # the address follows host_addr while idle, so read data stays
                        # valid for as long as the host holds the address
                        if kind == "s":
                            m.d.comb += Sr[layer].addr.eq(off + cur * n[layer + 1])
                        elif kind != "lfsr":
                            m.d.comb += ports[0][layer].addr.eq(off)
                        with m.If(self.host_re):
                            m.d.sync += host_rsel.eq(r_idx)
                            if kind == "lfsr":
                                m.d.sync += host_lfsr.eq(lfsr[layer])
                        with m.If(self.host_we):
                            if kind == "lfsr":
                                m.d.sync += lfsr[layer].eq(self.host_wdata[:32])
                            elif kind in ("W", "b"):
                                w = ports[1][layer]
                                m.d.comb += [w.addr.eq(off), w.data.eq(self.host_wdata),
                                             w.en.eq(1)]
                with m.If(self.job.valid):
                    m.d.sync += [job.eq(self.job.payload), t.eq(0), nnz.eq(0),
                                 nudging.eq(0), minus.eq(0)]
                    m.next = "LOAD"

            # ------------------------------------------------------------ sample in
            with m.State("LOAD"):
                m.d.comb += self.pixels.ready.eq(1)
                with m.If(self.pixels.valid):
                    m.d.comb += [Xw.addr.eq(t), Xw.data.eq(self.pixels.payload), Xw.en.eq(1)]
                    with m.If(self.pixels.payload != 0):
                        m.d.comb += [NZw.addr.eq(nnz), NZw.data.eq(t), NZw.en.eq(1)]
                        m.d.sync += nnz.eq(nnz + 1)
                    m.d.sync += t.eq(t + 1)
                    with m.If(t == n[0] - 1):
                        m.d.sync += [i.eq(0), t.eq(0)]
                        m.next = "DRIVE_ADDR"

            # ------------------------------------------------------------ W0 x + b0
            with m.State("DRIVE_ADDR"):
                m.d.comb += Br[0].addr.eq(i)
                m.next = "DRIVE_LATCH"
            with m.State("DRIVE_LATCH"):
                m.d.sync += [acc.eq(Br[0].data << af), t.eq(0), v1.eq(0), v2.eq(0), v3.eq(0)]
                m.next = "DRIVE_LOOP"
            with m.State("DRIVE_LOOP"):
                j1, done = loop(nnz, indirect=True)
                m.d.comb += [Wr[0].addr.eq(i * n[0] + j1), Xr.addr.eq(j1)]
                with m.If(v3):
                    m.d.sync += acc.eq(acc + mul(0, Wq[0], Xd))
                with m.If(done):
                    m.d.comb += [Dw.addr.eq(i), Dw.data.eq(acc), Dw.en.eq(1)]
                    m.d.sync += i.eq(i + 1)
                    with m.If(i == n[1] - 1):
                        m.d.sync += [i.eq(0)]
                        # C-EP: W0 changed, so the drive is recomputed between steps
                        m.next = "R1_ADDR" if cep else "ZERO"
                        if cep:
                            with m.If(~nudging):
                                m.next = "ZERO"
                    with m.Else():
                        m.next = "DRIVE_ADDR"

            # ------------------------------------------------------------ s = 0
            with m.State("ZERO"):
                for layer in range(L):
                    with m.If(i < n[layer + 1]):
                        m.d.comb += [Sw[layer].addr.eq(cur * n[layer + 1] + i),
                                     Sw[layer].data.eq(0), Sw[layer].en.eq(1)]
                m.d.sync += i.eq(i + 1)
                with m.If(i == max(n[1:]) - 1):
                    m.d.sync += [i.eq(0), step.eq(0), nudging.eq(0), best.eq(-1)]
                    m.next = "R1_ADDR"

            # ------------------------------------------------------------ relaxation
            last_free = ~nudging & (step == self.t1 - 1)
            last_plus = nudging & ~minus & (step == self.t2 - 1)
            for lay in range(1, L + 1):
                nl = n[lay]
                n_fwd = n[lay - 1] if lay >= 2 else 0
                n_bwd = n[lay + 1] if lay < L else 0
                with m.State(f"R{lay}_ADDR"):
                    if lay == 1:
                        m.d.comb += Dr.addr.eq(i)
                    else:
                        m.d.comb += Br[lay - 1].addr.eq(i)
                    if lay == L:
                        m.d.comb += Sr[L - 1].addr.eq(cur * nl + i)
                    m.next = f"R{lay}_LATCH"
                with m.State(f"R{lay}_LATCH"):
                    const = Dr.data if lay == 1 else (Br[lay - 1].data << af)
                    m.d.sync += [acc.eq(const), t.eq(0), v1.eq(0), v2.eq(0), v3.eq(0)]
                    if lay == L:
                        m.d.sync += self_s.eq(Sr[L - 1].data)
                    m.next = f"R{lay}_LOOP"
                with m.State(f"R{lay}_LOOP"):
                    j1, done = loop(max(n_fwd, n_bwd), indirect=False)
                    terms = []
                    if n_fwd:
                        m.d.comb += [Wr[lay - 1].addr.eq(i * n[lay - 1] + j1),
                                     Sr[lay - 2].addr.eq(cur * n[lay - 1] + j1)]
                        terms.append(Mux(j3 < n_fwd, mul(0, Wq[lay - 1], Sd[lay - 2]), 0))
                    if n_bwd:
                        m.d.comb += [Wr[lay].addr.eq(j1 * nl + i),
                                     Sr[lay].addr.eq(cur * n[lay + 1] + j1)]
                        terms.append(Mux(j3 < n_bwd, mul(1, Wq[lay], Sd[lay]), 0))
                    if terms:
                        with m.If(v3):
                            m.d.sync += acc.eq(acc + sum(terms))
                    with m.If(done):
                        m.next = f"R{lay}_WRITE"
                with m.State(f"R{lay}_WRITE"):
                    total = Signal(signed(cfg.acc_bits + 2), name=f"total{lay}")
                    if lay == L:
                        target = Mux(job.label == i, one, 0)
                        nudge = mul(0, target - self_s, beta_s) << cfg.nudge_shift
                        m.d.comb += total.eq(acc + Mux(nudging, nudge, 0))
                    else:
                        m.d.comb += total.eq(acc)
                    s_new = Signal(act, name=f"s_new{lay}")
                    m.d.comb += s_new.eq(rho(total))
                    m.d.comb += [Sw[lay - 1].addr.eq(~cur * nl + i), Sw[lay - 1].data.eq(s_new),
                                 Sw[lay - 1].en.eq(1)]
                    with m.If(last_free):
                        m.d.comb += [SFw[lay - 1].addr.eq(i), SFw[lay - 1].data.eq(s_new),
                                     SFw[lay - 1].en.eq(1)]
                        if lay == L:
                            with m.If(s_new > best):
                                m.d.sync += [best.eq(s_new), best_i.eq(i)]
                    if symmetric:  # (+beta end = free end when T2 = 0)
                        with m.If(last_plus | (last_free & (self.t2 == 0))):
                            m.d.comb += [SPw[lay - 1].addr.eq(i),
                                         SPw[lay - 1].data.eq(s_new), SPw[lay - 1].en.eq(1)]
                    m.d.sync += i.eq(i + 1)
                    with m.If(i == nl - 1):
                        m.d.sync += i.eq(0)
                        if lay < L:
                            m.next = f"R{lay + 1}_ADDR"
                        else:
                            m.next = "STEP_END"
                    with m.Else():
                        m.next = f"R{lay}_ADDR"

            with m.State("STEP_END"):
                m.d.sync += [cur.eq(~cur), step.eq(step + 1)]
                with m.If(~nudging & (step == self.t1 - 1)):
                    m.d.sync += step.eq(0)
                    with m.If(job.train & (self.t2 != 0)):
                        m.d.sync += nudging.eq(1)
                        m.next = "R1_ADDR"
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
                with m.Else():
                    m.next = "R1_ADDR"

            # symmetric nudge: the -beta phase starts again from the free states
            with m.State("COPY_ADDR"):
                for layer in range(L):
                    m.d.comb += SFr[layer].addr.eq(i)
                m.next = "COPY_WRITE"
            with m.State("COPY_WRITE"):
                for layer in range(L):
                    with m.If(i < n[layer + 1]):
                        m.d.comb += [Sw[layer].addr.eq(cur * n[layer + 1] + i),
                                     Sw[layer].data.eq(SFr[layer].data), Sw[layer].en.eq(1)]
                m.d.sync += i.eq(i + 1)
                m.next = "COPY_ADDR"
                with m.If(i == max(n[1:]) - 1):
                    m.d.sync += [i.eq(0), minus.eq(1)]
                    m.next = "R1_ADDR"

            # ------------------------------------------------------------ updates
            with m.State("UPD_START"):
                m.d.sync += [t.eq(0), i.eq(0)]
                m.next = "U0_RAND"
            # the two phases each update contrasts (hi - lo), per variant:
            #   EP: nudged (bank cur) vs free (SF); symmetric: +beta (SP) vs -beta (bank
            #   cur); C-EP: this nudged step (bank cur) vs the previous one (other bank)
            def hi_lo(layer: int):  # noqa: ANN202
                """(read port, address offset, delayed data) of the hi and lo states."""
                bank = (Sr[layer], cur * n[layer + 1], Sd[layer])
                if symmetric:
                    return (SPr[layer], 0, SPd[layer]), bank
                if cep:
                    return bank, (Slo[layer], ~cur * n[layer + 1], Slod[layer])
                return bank, (SFr[layer], 0, SFd[layer])

            for lay in range(L):
                n_out, n_in = n[lay + 1], n[lay]
                nxt = f"U{lay + 1}_RAND" if lay + 1 < L else "UPD_END"
                k = Signal(signed(self.update_q_width + 1), name=f"k{lay}")
                m.d.comb += k.eq(Mux(neg, -getattr(self, f"update_q{lay}"),
                                     getattr(self, f"update_q{lay}")))
                with m.State(f"U{lay}_RAND"):
                    # row values a_0..a_{n_out-1}, then column values c_0..c_{n_in}
                    with m.If(~self.stochastic):
                        m.d.sync += [t.eq(0), i.eq(0)]
                        m.next = f"U{lay}_ADDR"
                    with m.Else():
                        stepped = Signal(32, name=f"lfsr_next{lay}")
                        m.d.comb += stepped.eq((lfsr[lay] >> 1) ^ Mux(lfsr[lay][0], LFSR_MASK, 0))
                        m.d.sync += [lfsr[lay].eq(stepped), t.eq(t + 1)]
                        with m.If(t < n_out):
                            m.d.comb += [ARw.addr.eq(t), ARw.data.eq(stepped & sr_mask),
                                         ARw.en.eq(1)]
                        with m.Else():
                            m.d.comb += [CRw.addr.eq(t - n_out), CRw.data.eq(stepped & sr_mask),
                                         CRw.en.eq(1)]
                        with m.If(t == n_out + n_in):
                            m.d.sync += [t.eq(0), i.eq(0)]
                            m.next = f"U{lay}_ADDR"
                (post_r, post_o, _), (postf_r, postf_o, _) = hi_lo(lay)
                with m.State(f"U{lay}_ADDR"):
                    m.d.comb += [post_r.addr.eq(post_o + i), postf_r.addr.eq(postf_o + i),
                                 ARr.addr.eq(i)]
                    m.next = f"U{lay}_LATCH"
                kvb = Signal(signed(kv_width), name=f"kvb{lay}")
                kvf = Signal(signed(kv_width), name=f"kvf{lay}")
                with m.State(f"U{lay}_LATCH"):
                    # k * v once per row: the per-weight path then has one multiplier level
                    m.d.sync += [kvb.eq(mul(0, k, post_r.data)), kvf.eq(mul(1, k, postf_r.data)),
                                 a_i.eq(ARr.data), t.eq(0), v1.eq(0), v2.eq(0), v3.eq(0),
                                 half.eq(0)]
                    m.next = f"U{lay}_LOOP"
                with m.State(f"U{lay}_LOOP"):
                    alternate = lay == 0 and single_w0
                    if alternate:
                        m.d.sync += half.eq(~half)
                    j1, done = loop(nnz if lay == 0 else n_in, indirect=(lay == 0),
                                    gate=~half if alternate else 1)
                    m.d.comb += [Wr[lay].addr.eq(i * n_in + j1), CRr.addr.eq(j1)]
                    if lay == 0:
                        m.d.comb += Xr.addr.eq(j1)
                        ub, uf = Xd, Xd
                    else:
                        (pre_r, pre_o, ub), (pref_r, pref_o, uf) = hi_lo(lay - 1)
                        m.d.comb += [pre_r.addr.eq(pre_o + j1), pref_r.addr.eq(pref_o + j1)]
                    prod = Signal(signed(self.update_q_width + 2 * cfg.act_bits + 4),
                                  name=f"prod{lay}")
                    m.d.comb += prod.eq(mul(0, kvb, ub) - mul(1, kvf, uf))  # k (vb ub - vf uf)
                    dw = Signal(signed(prod.shape().width), name=f"dw{lay}")
                    m.d.comb += dw.eq(round_update(prod, a_i ^ CRd))
                    new_w = Signal(signed(prod.shape().width + 1), name=f"new_w{lay}")
                    m.d.comb += new_w.eq(Wq[lay] + dw)
                    with m.If(v3):
                        m.d.comb += [Ww[lay].addr.eq(i * n_in + j3), Ww[lay].data.eq(sat(new_w)),
                                     Ww[lay].en.eq(1)]
                    with m.If(done):
                        m.next = f"U{lay}_BADDR"
                with m.State(f"U{lay}_BADDR"):
                    m.d.comb += [Br[lay].addr.eq(i), CRr.addr.eq(n_in)]
                    m.next = f"U{lay}_BIAS"
                with m.State(f"U{lay}_BIAS"):
                    bprod = Signal(signed(self.update_q_width + 2 * cfg.act_bits + 4),
                                   name=f"bprod{lay}")
                    m.d.comb += bprod.eq((kvb - kvf) << af)  # k (vb - vf) * 1.0
                    bnew = Signal(signed(bprod.shape().width + 1), name=f"bnew{lay}")
                    m.d.comb += bnew.eq(Br[lay].data + round_update(bprod, a_i ^ CRr.data))
                    m.d.comb += [Bw[lay].addr.eq(i), Bw[lay].data.eq(sat(bnew)),
                                 Bw[lay].en.eq(1)]
                    m.d.sync += i.eq(i + 1)
                    with m.If(i == n_out - 1):
                        m.d.sync += [i.eq(0), t.eq(0)]
                        m.next = nxt
                    with m.Else():
                        m.next = f"U{lay}_ADDR"

            with m.State("UPD_END"):
                m.next = "RESULT"
                if cep:  # more nudged steps: recompute the drive with the new W0
                    with m.If(step != self.t2):
                        m.d.sync += [i.eq(0), t.eq(0)]
                        m.next = "DRIVE_ADDR"

            # ------------------------------------------------------------ result out
            with m.State("RESULT"):
                m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(best_i)]
                with m.If(self.result.ready):
                    m.d.sync += samples.eq(samples + job.train)
                    m.next = "IDLE"

        # host read data: one cycle after host_re, from the region latched then
        rd = Signal(signed(33))
        with m.Switch(host_rsel):
            for r_idx, (kind, layer, _, _) in enumerate(self.amap.regions):
                with m.Case(r_idx):
                    src = {"W": Wr, "b": Br, "sf": SFr, "s": Sr, "sp": SPr}.get(kind)
                    if kind == "lfsr":
                        m.d.comb += rd.eq(Cat(host_lfsr, Const(0, 1)))
                    elif kind == "W":
                        m.d.comb += rd.eq(Wq[layer])
                    else:
                        m.d.comb += rd.eq(src[layer].data)
        m.d.comb += self.host_rdata.eq(rd)
        return m
