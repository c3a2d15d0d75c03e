"""FrameSender alone: random responses (empty payloads, long ones) from a source with
gaps into a stalling sink, against the host's own framing (protocol.encode)."""

from __future__ import annotations

import struct

import numpy as np
from amaranth.sim import Simulator

from epfpga.host import protocol as p
from epfpga.hw.link.sender import FrameSender
from tests.hw.streams import put


def test_sender_frames_as_the_host_does() -> None:
    rng = np.random.default_rng(5)
    frames = [(int(rng.integers(0, 256)), int(rng.integers(0, 1 << 16)),
               bytes(rng.integers(0, 256, int(rng.choice([0, 1, 8, 300])), dtype=np.uint8)))
              for _ in range(12)]
    dut = FrameSender()
    out, dones = bytearray(), []

    async def source(ctx):
        for cmd, seq, payload in frames:
            body = struct.pack("<BHH", cmd, seq, len(payload)) + payload
            for i, b in enumerate(body):
                await put(ctx, dut.body, {"data": b, "last": i == len(body) - 1}, (rng, 0.3))

    async def sink(ctx):
        cycles = 0
        while len(dones) < len(frames) and cycles < 100_000:
            ready = int(rng.random() < 0.7)
            ctx.set(dut.bytes.ready, ready)
            await ctx.delay(1e-7)  # after the source's sets of this cycle
            if ctx.get(dut.done):  # the cycle after the frame's last byte
                dones.append(len(out))
            if ready and ctx.get(dut.bytes.valid):
                out.append(ctx.get(dut.bytes.payload))
            await ctx.tick()
            cycles += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    want = [p.encode(cmd, seq, payload) for cmd, seq, payload in frames]
    assert bytes(out) == b"".join(want)
    assert dones == list(np.cumsum([len(f) for f in want]))
