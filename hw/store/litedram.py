"""The dataset store on SDRAM: LiteDRAM's generated controller (boards/sdram.py) as a
black box behind the store's word port, and the sequencer that initialises it.

The controller's user port is LiteDRAM's native port, which ``WordPortSignature``
mirrors signal for signal, so this component only renames.  Until the sequencer has
replayed the init program the controller keeps its user port closed (``cmd.ready``
low), and the SoC's store commands simply wait.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .word_port import WordPortSignature

#: the SDRAM pins, as the generated core names them (``sdram_<name>``)
PINS = ("a", "ba", "cs_n", "ras_n", "cas_n", "we_n", "cke", "dm", "dq")


class ControlBusSignature(wiring.Signature):
    """The controller's Wishbone (classic) control bus, as far as writes need it."""

    def __init__(self):
        super().__init__({"adr": Out(30), "dat_w": Out(32), "cyc": Out(1), "stb": Out(1),
                          "we": Out(1), "ack": In(1)})


class SDRAMInit(wiring.Component):
    """Writes ``program`` ((CSR byte address, value, cycles to wait after), ...) on the
    control bus, one after the other; ``done`` after the last."""

    def __init__(self, program: tuple[tuple[int, int, int], ...]):
        self.program = program
        super().__init__({"bus": Out(ControlBusSignature()), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        prog, bus = self.program, self.bus
        wait_bits = max(w for _, _, w in prog).bit_length() + 1
        rom = Array(Const(a >> 2 | v << 30 | w << 62, 62 + wait_bits) for a, v, w in prog)
        pc = Signal(range(len(prog) + 1))
        wait = Signal(wait_bits)
        entry = rom[pc]
        m.d.comb += [bus.adr.eq(entry[:30]), bus.dat_w.eq(entry[30:62]), bus.we.eq(1)]
        with m.FSM():
            with m.State("WRITE"):
                with m.If(pc == len(prog)):
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += [bus.cyc.eq(1), bus.stb.eq(1)]
                    with m.If(bus.ack):
                        m.d.sync += wait.eq(entry[62:])
                        m.next = "WAIT"
            with m.State("WAIT"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.d.sync += pc.eq(pc + 1)
                    m.next = "WRITE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
        return m


class LiteDRAMStore(wiring.Component):
    """``core``: boards.sdram.LiteDRAMCore; ``pins``: the SDRAM's I/O ports by ``PINS``
    name (the board's raw pins: the core has its own I/O registers and buffers)."""

    def __init__(self, core: Any, pins: dict[str, Any]):
        if set(pins) != set(PINS):
            raise ValueError(f"SDRAM pins {sorted(pins)} are not {sorted(PINS)}")
        self.core, self.pins = core, pins
        super().__init__({"port": In(WordPortSignature(core.addr_width, 16)),
                          "ready": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.init = init = SDRAMInit(self.core.init_program)
        bus, port = init.bus, self.port
        init_done = Signal()
        ack, dat_r, err, user_clk, user_rst, init_error = (
            Signal(), Signal(32), Signal(), Signal(), Signal(), Signal())
        native = "user_port_native_0_"
        m.submodules.litedram = Instance(
            "litedram_core",
            i_clk=ClockSignal(), i_rst=ResetSignal(),
            o_init_done=init_done, o_init_error=init_error,
            o_user_clk=user_clk, o_user_rst=user_rst,
            **{f"o_sdram_{n}": self.pins[n] for n in PINS if n != "dq"},
            io_sdram_dq=self.pins["dq"],
            **{f"i_{native}cmd_valid": port.cmd.valid, f"o_{native}cmd_ready": port.cmd.ready,
               f"i_{native}cmd_we": port.cmd.payload.we,
               f"i_{native}cmd_addr": port.cmd.payload.addr,
               f"i_{native}wdata_valid": port.wdata.valid,
               f"o_{native}wdata_ready": port.wdata.ready,
               f"i_{native}wdata_data": port.wdata.payload.data,
               f"i_{native}wdata_we": port.wdata.payload.we,
               f"o_{native}rdata_valid": port.rdata.valid, f"i_{native}rdata_ready": 1,
               f"o_{native}rdata_data": port.rdata.payload},
            i_wb_ctrl_adr=bus.adr, i_wb_ctrl_dat_w=bus.dat_w, o_wb_ctrl_dat_r=dat_r,
            i_wb_ctrl_sel=0xF, i_wb_ctrl_cyc=bus.cyc, i_wb_ctrl_stb=bus.stb,
            i_wb_ctrl_we=bus.we, o_wb_ctrl_ack=ack, o_wb_ctrl_err=err,
            i_wb_ctrl_cti=0, i_wb_ctrl_bte=0)
        m.d.comb += [bus.ack.eq(ack), self.ready.eq(init_done & init.done)]
        return m
