"""Gateware UART and frame parser in the Amaranth simulator, against the host-side
protocol encoder (sw/epfpga/protocol.py) and random byte streams."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from epfpga import protocol as p
from epfpga.hw.link.framing import FrameParser, UARTRx, UARTTx


def parse_stream(data: bytes, max_payload: int = 64, timeout: int = 50):
    dut = FrameParser(max_payload=max_payload, timeout=timeout)
    got = []

    async def tb(ctx):  # noqa: ANN001
        for byte in data:
            ctx.set(dut.bytes.payload, byte)
            ctx.set(dut.bytes.valid, 1)
            assert ctx.get(dut.bytes.ready)  # only a waiting frame (handled below) stalls
            await ctx.tick()
            ctx.set(dut.bytes.valid, 0)
            if ctx.get(dut.frame_valid):
                length = ctx.get(dut.length)
                payload = []
                for a in range(length):
                    ctx.set(dut.pay_addr, a)
                    await ctx.tick()
                    payload.append(ctx.get(dut.pay_data))
                got.append((ctx.get(dut.cmd), ctx.get(dut.seq), bytes(payload)))
                ctx.set(dut.done, 1)
                await ctx.tick()
                ctx.set(dut.done, 0)
        for _ in range(timeout + 5):
            await ctx.tick()
        got.append(("counters", ctx.get(dut.crc_errors), ctx.get(dut.framing_errors)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return got[:-1], got[-1][1:]


def test_frames_parse_exactly() -> None:
    frames = [p.encode(p.TRAIN, 7, b"\x01\x02\x03"), p.encode(p.INFO, 8),
              p.encode(p.READ, 255, bytes(range(40)))]
    got, (crc_err, fr_err) = parse_stream(b"".join(frames))
    assert got == [(p.TRAIN, 7, b"\x01\x02\x03"), (p.INFO, 8, b""),
                   (p.READ, 255, bytes(range(40)))]
    assert crc_err == fr_err == 0


@pytest.mark.parametrize("seed", range(6))
def test_garbage_and_corruption_resynchronise(seed: int) -> None:
    rng = random.Random(seed)
    good = [p.encode(p.TRAIN, k, rng.randbytes(rng.randrange(0, 30))) for k in range(5)]
    bad = bytearray(p.encode(p.TRAIN, 99, b"abcdef"))
    bad[rng.randrange(1, len(bad))] ^= 1 << rng.randrange(8)  # flipped bit
    trunc = p.encode(p.INFER, 98, b"0123456789")[:rng.randrange(2, 12)]
    over = bytearray(p.encode(p.INFER, 97, b"xyz"))
    over[3] = 200  # length beyond max_payload
    stream = (rng.randbytes(13) + good[0] + bytes(bad) + good[1] + bytes(over) + good[2]
              + rng.randbytes(5) + good[3] + trunc)
    # a truncated frame is only abandoned after the inter-byte timeout, as on a real link
    got, (crc_err, fr_err) = parse_stream(stream)
    want = [(p.TRAIN, k, p.Parser().feed(good[k])[0].payload) for k in range(4)]
    assert [g for g in got if g[1] < 90] == want  # every good frame, in order
    assert not any(g[1] in (97, 98, 99) for g in got)  # no damaged frame leaks through
    assert crc_err + fr_err >= 2


def test_random_bytes_never_lock_up() -> None:
    """After any random prefix, a good frame is still received."""
    rng = random.Random(1)
    for _ in range(3):
        frame = p.encode(p.STATUS, 42, b"ok")
        got, _ = parse_stream(rng.randbytes(300) + frame, timeout=20)
        assert got and got[-1] == (p.STATUS, 42, b"ok")


def test_uart_loopback() -> None:
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor=6)
    m.submodules.rx = rx = UARTRx(divisor=6)
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes([0x00, 0xFF, 0xA5, 0x5A, 0x13])
    got = []

    async def tb(ctx):  # noqa: ANN001
        ctx.set(rx.data.ready, 1)
        for byte in data:
            ctx.set(tx.data.payload, byte)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
            ctx.set(tx.data.valid, 0)
            for _ in range(80):
                await ctx.tick()
                if ctx.get(rx.data.valid):
                    got.append(ctx.get(rx.data.payload))
                    break
        assert ctx.get(rx.errors) == 0

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert bytes(got) == data
