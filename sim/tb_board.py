"""cocotb module: the SoC in Verilator behind a TCP socket on 127.0.0.1 -- a simulated
board for ``epfpga train --engine board --port socket://127.0.0.1:PORT``.

Python touches every clock edge only while bytes move (host -> rx stream, tx stream ->
host); while the core computes, the testbench sleeps on the tx-valid edge or a
timeout, so the clock runs inside the simulator.
"""

from __future__ import annotations

import os
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge, Timer


@cocotb.test()
async def serve(dut) -> None:  # noqa: ANN001
    port = int(os.environ["EPFPGA_BOARD_PORT"])
    sessions = int(os.environ.get("EPFPGA_BOARD_SESSIONS", "0"))  # 0: serve forever
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.rx_bytes__valid.value = 0
    dut.tx_bytes__ready.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.setblocking(False)
    ready_file = os.environ.get("EPFPGA_BOARD_READY")
    if ready_file:
        open(ready_file, "w").write("ready")
    served = 0
    conn = None
    pending = bytearray()
    out = bytearray()
    while True:
        if conn is None:
            try:
                conn, _ = srv.accept()
                conn.setblocking(False)
            except BlockingIOError:
                await ClockCycles(dut.clk, 2000)
                continue
        try:
            data = conn.recv(65536)
            if not data:
                conn.close()
                conn = None
                pending.clear()
                served += 1
                if sessions and served >= sessions:
                    break
                continue
            pending += data
        except BlockingIOError:
            pass
        moved = True
        while moved:  # one clock per iteration while bytes move in either direction
            dut.rx_bytes__valid.value = 1 if pending else 0
            if pending:
                dut.rx_bytes__payload.value = pending[0]
            await ReadOnly()  # sample this cycle's handshakes before the edge
            rx_taken = bool(pending) and bool(int(dut.rx_bytes__ready.value))
            tx_byte = int(dut.tx_bytes__payload.value) if int(dut.tx_bytes__valid.value) \
                else None
            await RisingEdge(dut.clk)
            if rx_taken:
                del pending[0]
            if tx_byte is not None:
                out.append(tx_byte)
            moved = rx_taken or tx_byte is not None
        dut.rx_bytes__valid.value = 0
        if out:
            try:
                conn.sendall(bytes(out))
            except OSError:
                pass
            out.clear()
        # nothing moving: the core runs in C until the parser takes bytes again, an answer
        # starts, or a socket poll is due
        await First(RisingEdge(dut.tx_bytes__valid), RisingEdge(dut.rx_bytes__ready),
                    Timer(200, unit="us"))
        await FallingEdge(dut.clk)  # a timer can land on a clock edge: drive mid-cycle
    srv.close()
