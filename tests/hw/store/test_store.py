"""The store's byte units on a block-RAM word port: bytes written one at a time at
random addresses, then random runs read back (odd starts, empty and one-byte runs),
through a port that answers several cycles late and a sink that stalls at random,
against a bytearray."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from epfpga.hw.store.byte_access import ByteReader, ByteWriter
from epfpga.hw.store.word_port import MemoryWordPort, WordPortSelect
from tests.hw.simulate import run_clocked
from tests.hw.streams import put

WORDS = 256


@pytest.mark.parametrize("latency", [1, 4])
def test_bytes_written_then_read_back(latency: int) -> None:
    rng = np.random.default_rng(latency)
    m = Module()
    m.submodules.mem = mem = MemoryWordPort(WORDS, latency=latency)
    m.submodules.w = w = ByteWriter(mem.addr_width)
    m.submodules.r = r = ByteReader(mem.addr_width, depth=4)
    m.submodules.sel = sel = WordPortSelect(mem.addr_width)
    wiring.connect(m, w.port, sel.a)
    wiring.connect(m, r.port, sel.b)
    wiring.connect(m, sel.port, mem.port)
    want = bytearray(2 * WORDS)
    writes = [(int(a), int(v)) for a, v in zip(rng.integers(0, 2 * WORDS, 700),
                                                rng.integers(0, 256, 700), strict=True)]
    for a, v in writes:
        want[a] = v
    runs = [(int(rng.integers(0, 2 * WORDS)), 0) for _ in range(40)]
    runs = [(a, int(rng.integers(0, 2 * WORDS - a + 1)) if k % 4 else k % 2)
            for k, (a, _) in enumerate(runs)]
    got: list[bytes] = []

    async def tb(ctx):
        for a, v in writes:
            await put(ctx, w.bytes, {"addr": a, "data": v}, (rng, 0.2))
        ctx.set(sel.select, 1)
        for a, n in runs:
            await put(ctx, r.req, {"addr": a, "count": n})
            out = bytearray()
            while ctx.get(r.busy) or ctx.get(r.bytes.valid):
                ready = int(rng.random() < 0.6)
                ctx.set(r.bytes.ready, ready)
                if ready and ctx.get(r.bytes.valid):
                    out.append(ctx.get(r.bytes.payload.data))
                    assert ctx.get(r.bytes.payload.last) == (len(out) == n)
                await ctx.tick()
            got.append(bytes(out))

    run_clocked(m, tb)
    assert got == [bytes(want[a:a + n]) for a, n in runs]
