"""cocotb testbench: random byte streams into the SoC's link on Verilator.

Each chunk of the job is sent one byte per cycle with random valid gaps, while the
response stream sees random ready backpressure; after a chunk the bench collects until
the SoC has been quiet for a while.  The pytest side feeds the same bytes to the
golden-backed board model and compares every response byte, so the frame, error and
gap counters (read back by STATUS frames in the streams) are checked exactly.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

QUIET = 3000  # cycles without output that end a chunk (well below the parser timeout)


@cocotb.test()
async def link_fuzz(dut: Any) -> None:
    job = json.load(open(os.environ["EPFPGA_JOB"]))
    rng = random.Random(job["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.rx_bytes__valid.value = 0
    dut.tx_bytes__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    replies = []
    for chunk in map(bytes.fromhex, job["chunks"]):
        todo, out, quiet = bytearray(chunk), bytearray(), 0
        while todo or quiet < QUIET:
            offer = bool(todo) and rng.random() > job["gap"]
            dut.rx_bytes__valid.value = int(offer)
            if offer:
                dut.rx_bytes__payload.value = todo[0]
            dut.tx_bytes__ready.value = int(rng.random() > job["stall"])
            await ReadOnly()  # sample this cycle's handshakes before the edge
            took = offer and bool(int(dut.rx_bytes__ready.value))
            sent = bool(int(dut.tx_bytes__valid.value)) and \
                bool(int(dut.tx_bytes__ready.value))
            byte = int(dut.tx_bytes__payload.value) if sent else 0
            await RisingEdge(dut.clk)
            if took:
                del todo[0]
            if sent:
                out.append(byte)
            quiet = 0 if (sent or todo or int(dut.status_led.value) & 1) else quiet + 1
        replies.append(bytes(out).hex())
    with open(os.environ["EPFPGA_RESULT"], "w") as f:
        json.dump({"replies": replies}, f)
