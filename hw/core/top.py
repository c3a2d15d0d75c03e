"""The EP core: input drive, Jacobi relaxation, nudge port and local weight updates,
generated from one ``EPConfig`` and bit-exact with ``epfpga.model.golden.GoldenModel``.

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

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig

from ..plan import HardwarePlan, default_shared_mul, make_plan
from . import control, drive, relax, update
from .address_map import AddressMap
from .build import CoreBuild
from .controller import Phase
from .group_pass import group_helpers
from .host_access import HostAccess, hand_over
from .host_port import HostPortSignature
from .job import index_bits, job_layout
from .memories import memories
from .pixel_loader import PixelLoader
from .random_fill import RandomFill
from .registers import registers
from .shapes import multiplier_shape, update_q_width
from .state_clear import StateClear

__all__ = ["AddressMap", "EPCore", "default_shared_mul", "multiplier_shape", "unsupported",
           "update_q_width"]


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
            self._MustUse__silence = True  # (never built: no "created but never used")
            raise EpfpgaError(f"config {cfg.name!r}: the EP core does not implement "
                              + "; ".join(todo) + " yet; the golden and float engines do")
        self.cfg = cfg
        self.plan = plan
        self.spram, self.shared_mul = plan.spram, plan.shared_mul
        self.amap = AddressMap(cfg)
        # per layer, the relaxation's visiting order, "rows" or "groups"
        self.relax_order = {lay: v.order for lay, v in plan.relax_visits.items()}
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

    def elaborate(self, platform):
        """The units (components) and the builders of hw/core/, in the netlist's order:
        memories and registers first, then the controller's phases as the sample goes
        through them."""
        m = Module()
        ctx = CoreBuild(self, m)
        self.mul_latency = ctx.ml
        cfg, hp, n = self.cfg, ctx.hp, ctx.n
        memories(ctx)
        registers(ctx)
        group_helpers(ctx)
        # the states rewritten before a relaxation: to 0, or (symmetric) the free ones
        m.submodules.state_clear = ctx.clear = StateClear(self.plan, len(ctx.t))
        m.d.comb += ctx.clear.cur.eq(ctx.cur)
        m.d.comb += self.busy.eq(1)
        with m.If(self.busy):
            m.d.sync += ctx.cycles.eq(ctx.cycles + 1)
        # the host's reads and writes, between samples
        m.submodules.host_access = host = HostAccess(self.plan, self.amap)
        wiring.connect(m, wiring.flipped(self.host), host.host)
        m.d.comb += [host.busy.eq(self.busy), host.cur.eq(ctx.cur)]
        ctx.h_we = host.wrote
        host_idle, host_data = hand_over(host, *self._host_memories(ctx))

        # stochastic rounding's random values, drawn while the sample loads and relaxes
        m.submodules.random_fill = fill = RandomFill(hp)
        wiring.connect(m, fill.a_write, ctx.ARw)
        wiring.connect(m, fill.c_write, ctx.CRw)
        wiring.connect(m, host.seed, fill.seed)
        m.d.comb += host.lfsr.eq(fill.state)
        ctx.fill, ctx.fill_on = fill, fill.busy

        # the fast plan's pixels load into one bank while the core reads the other
        if ctx.overlap:
            m.submodules.pixel_loader = loader = PixelLoader(cfg)
            wiring.connect(m, wiring.flipped(self.job), loader.job)
            wiring.connect(m, wiring.flipped(self.pixels), loader.pixels)
            wiring.connect(m, loader.x_write, ctx.Xw)
            wiring.connect(m, loader.nz_write, ctx.NZw)
            ctx.loader, ctx.fb = loader, loader.bank  # the bank the core reads
            ctx.x_base = Mux(ctx.fb, n[0], 0)
        else:
            ctx.x_base = 0

        drive.connect_predrive(ctx)
        drive.connect_drive(ctx)
        # the phases, in the order the controller (hw/core/controller.py) runs them:
        # one case each of one switch (exclusive: what several drive is one mux)
        with m.Switch(ctx.ctrl.phase):
            with m.Case(Phase.IDLE):
                m.d.comb += self.busy.eq(0)
                if not ctx.overlap:
                    m.d.comb += self.job.ready.eq(1)
                m.d.comb += host_idle
                control.idle_start(ctx)
            drive.load_state(ctx)
            drive.drive_state(ctx)
            control.zero_state(ctx)
            relax.relax_pipes(ctx)
            relax.relax_state(ctx)
            control.copy_states(ctx)
            update.update_registers(ctx)
            with m.Case(Phase.UPDATE), m.FSM(name="update"):  # a layer at a time
                update.update_sequence(ctx)
                update.update_loops(ctx)
                update.update_end(ctx)
            update.update_datapath(ctx)
            control.result_state(ctx)
        update.predrive_correction(ctx)
        m.d.comb += host_data
        return m

    @staticmethod
    def _host_memories(ctx: CoreBuild) -> tuple[dict, dict]:
        """The memory ports the host reaches, by ``host_ports`` name: (reads, writes)."""
        reads, writes = {}, {}
        for layer, (rs, ws) in enumerate(zip(ctx.Wr, ctx.Ww, strict=True)):
            for b, (r, w) in enumerate(zip(rs, ws, strict=True)):
                reads[f"w{layer}_{b}"], writes[f"w{layer}_{b}"] = r, w
        for layer in range(ctx.L):
            reads[f"b{layer}"], writes[f"b{layer}"] = ctx.Br[layer], ctx.Bw[layer]
            for kind, ports in (("s", ctx.Sr), ("sf", ctx.SFr), ("sp", ctx.SPr)):
                if ports:
                    reads[f"{kind}{layer + 1}"] = ports[layer]
        return reads, writes
