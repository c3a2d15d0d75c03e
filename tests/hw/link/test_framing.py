"""Gateware UART, receive buffer, frame parser and receive store in the Amaranth
simulator, against the host-side encoder and the board's parser model
(sw/epfpga/host/protocol.py ``StreamParser``), counters included, on random byte streams."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from epfpga.errors import EpfpgaError
from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.hw.link.framing import FrameReceiver
from epfpga.hw.link.rx_buffer import RxBuffer
from epfpga.hw.link.uart import BaudTiming, UARTRx, UARTTx, baud_timing
from epfpga.model.config import get_config
from tests.hw.streams import put

TIMEOUT_BITS = 6
TIMEOUT = 1 << TIMEOUT_BITS


def receive(data: bytes, timeout: int = TIMEOUT, gap_every: int = 0):
    """Feed ``data`` (a pause of ``timeout`` + 5 clocks after every ``gap_every``
    bytes, if set), read every frame the receiver releases; also the counters."""
    dut = FrameReceiver(timeout_bits=TIMEOUT_BITS)
    got: list[tuple[int, int, bytes]] = []
    done = []

    async def feed(ctx):
        for i, byte in enumerate(data):
            await put(ctx, dut.bytes, byte)
            if gap_every and (i + 1) % gap_every == 0:
                await ctx.tick().repeat(timeout + 5)
        await ctx.tick().repeat(timeout + 20)
        done.append((ctx.get(dut.crc_errors), ctx.get(dut.framing_errors)))

    async def read(ctx):
        f = dut.frames
        while not done:
            if not ctx.get(f.valid):
                await ctx.tick()
                continue
            payload = []
            for a in range(ctx.get(f.length)):
                ctx.set(f.addr, a)
                await ctx.tick()
                payload.append(ctx.get(f.data))
            got.append((ctx.get(f.cmd), ctx.get(f.seq), bytes(payload)))
            ctx.set(f.done, 1)
            await ctx.tick()
            ctx.set(f.done, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(read)
    sim.run()
    return got, done[0]


def model(data: bytes, gap_every: int = 0):
    sp = p.StreamParser()
    out = []
    step = gap_every or len(data) or 1
    for i in range(0, len(data), step):
        out += sp.feed(data[i:i + step])
        sp.timeout()
    return [(f.cmd, f.seq, f.payload) for f in out], (sp.crc_errors, sp.framing_errors)


def test_frames_parse_exactly() -> None:
    frames = [p.encode(p.TRAIN, 7, b"\x01\x02\x03"), p.encode(p.INFO, 8),
              p.encode(p.READ, 0xBEEF, bytes(range(40)))]
    got, counters = receive(b"".join(frames))
    assert got == [(p.TRAIN, 7, b"\x01\x02\x03"), (p.INFO, 8, b""),
                   (p.READ, 0xBEEF, bytes(range(40)))]
    assert counters == (0, 0)


def _damaged_stream(rng: random.Random) -> bytes:
    good = [p.encode(p.TRAIN, k, rng.randbytes(rng.randrange(0, 30))) for k in range(5)]
    bad = bytearray(p.encode(p.TRAIN, 99, b"abcdef"))
    bad[rng.randrange(1, len(bad))] ^= 1 << rng.randrange(8)  # flipped bit
    trunc = p.encode(p.INFER, 98, b"0123456789")[:rng.randrange(2, 12)]
    over = bytearray(p.encode(p.INFER, 97, b"xyz"))
    over[5] = 0xFF  # length beyond MAX_PAYLOAD
    false_start = bytes([p.SOF])  # right in front of a good frame
    return (rng.randbytes(13) + good[0] + bytes(bad) + good[1] + bytes(over) + false_start
            + good[2] + rng.randbytes(5) + good[3] + trunc + good[4])


@pytest.mark.parametrize("seed", range(6))
def test_damage_resynchronises_like_the_model(seed: int) -> None:
    """Every good frame comes through (a truncated one is abandoned after the
    inter-byte timeout, as on a real link) and the counters equal the model's."""
    stream = _damaged_stream(random.Random(seed))
    got, counters = receive(stream, gap_every=len(stream) - 8)
    want, want_counters = model(stream, gap_every=len(stream) - 8)
    assert got == want and counters == want_counters
    assert [g[1] for g in got if g[1] < 90] == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_match_the_model(seed: int) -> None:
    """Random bytes with start bytes and real frames sprinkled in: the same frames and
    the same counters as the board's parser model, byte for byte."""
    rng = random.Random(seed)
    parts = []
    for _ in range(12):
        r = rng.random()
        if r < 0.3:
            parts.append(p.encode(rng.randrange(256), rng.randrange(1 << 16),
                                  rng.randbytes(rng.randrange(12))))
        elif r < 0.5:
            parts.append(bytes([p.SOF]) + rng.randbytes(rng.randrange(8)))
        else:
            parts.append(rng.randbytes(rng.randrange(20)))
    stream = b"".join(parts)
    assert receive(stream) == model(stream)


def test_a_stray_byte_never_hides_the_frames_behind_it() -> None:
    """A false start byte in front of identical resends (the trap the board's old hunt
    fell into): every copy after it is received, whatever the byte and the seq."""
    sp_ok = 0
    for stray in range(256):
        for seq in (0, 184, 255, 0xA5A5, 0x01A5):
            frame = p.encode(p.INFO, seq)
            sp = p.StreamParser()
            out = sp.feed(bytes([stray]) + frame * 3)
            assert [f.seq for f in out] == [seq] * 3
            sp_ok += 1
    got, _ = receive(bytes([p.SOF]) + p.encode(p.INFO, 184) * 3)
    assert [g[1] for g in got] == [184] * 3
    assert sp_ok == 256 * 5


def test_store_holds_a_window_of_frames_back_to_back() -> None:
    """Frames that arrive while none is read are all kept, in order: a full window."""
    frames = [p.encode(p.TRAIN, k, bytes([k]) * 500) for k in range(4)]
    assert sum(p.store_cost(500) for _ in frames) <= p.STORE_BYTES
    got, counters = receive(b"".join(frames))
    assert [(g[1], g[2]) for g in got] == [(k, bytes([k]) * 500) for k in range(4)]
    assert counters == (0, 0)


def test_baud_gate() -> None:
    exact = baud_timing(24e6, 3_000_000)
    assert (exact.period, exact.frac, exact.rate_error) == (8, 0, 0)
    assert exact.margin >= 0.35
    frac = baud_timing(40e6, 3_000_000)  # 13.33 clocks a bit
    assert frac.frac and abs(frac.rate_error) < 0.005 and frac.margin >= 0.35
    for clock, baud in ((12e6, 3_000_000), (10e6, 3_000_000), (25e6, 3_000_000)):
        with pytest.raises(EpfpgaError, match="baud"):
            baud_timing(clock, baud)


def _bits(byte: int, clocks_per_bit: float, phase: float) -> list[int]:
    """An ideal 8N1 line at an exact bit time, sampled at the clocks, starting with
    ``phase`` clocks of idle."""
    levels = [0] + [(byte >> i) & 1 for i in range(8)] + [1, 1]
    n = int(phase + len(levels) * clocks_per_bit) + 1
    return [1 if t < phase else levels[min(int((t - phase) / clocks_per_bit), 10)]
            for t in range(n)]


@pytest.mark.parametrize("clock_hz,baud", [(24e6, 3_000_000), (40e6, 3_000_000),
                                           (40e6, 2_900_000)])
def test_uart_receives_an_exact_host_line_and_transmits_in_time(clock_hz: float,
                                                                  baud: int) -> None:
    """The receiver against an exact-rate host line at every start phase; the
    transmitter's bit edges within a clock of the exact times."""
    t = baud_timing(clock_hz, baud)
    cpb = clock_hz / baud
    rng = random.Random(int(clock_hz) ^ baud)
    data = [rng.randrange(256) for _ in range(12)] + [0x00, 0xFF, 0xA5]
    line = []
    for k, byte in enumerate(data):
        line += _bits(byte, cpb, phase=k * 0.37 % 1)
    m = Module()
    m.submodules.rx = rx = UARTRx(t)
    m.submodules.tx = tx = UARTTx(t)
    got, edges = [], []

    async def drive(ctx):
        for level in line:
            ctx.set(rx.rx, level)
            await ctx.tick()
            if ctx.get(rx.data.valid):
                got.append(ctx.get(rx.data.payload))
        await ctx.tick().repeat(3 * int(cpb))

    async def send(ctx):
        await put(ctx, tx.data, 0x55)  # alternating bits: an edge at every bit
        last, clock = 1, 0
        for clock in range(int(11 * cpb) + 2):
            level = ctx.get(tx.tx)
            if level != last:
                edges.append(clock)
            last = level
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(send)
    sim.run()
    assert got == data
    assert len(edges) == 10  # start, 8 data bits alternating from 1, stop
    for k, e in enumerate(edges):
        assert abs(e - edges[0] - k * cpb) <= 1.0


def test_rx_buffer_counts_what_it_must_drop() -> None:
    """The UART side never waits: with the reader stalled, bytes past the depth are
    dropped and counted; the kept ones come out in order."""
    dut = RxBuffer()
    out = []

    async def tb(ctx):
        for b in range(10):
            ctx.set(dut.i.payload, b)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
        ctx.set(dut.i.valid, 0)
        assert ctx.get(dut.overruns) == 9
        ctx.set(dut.o.ready, 1)
        for _ in range(8):
            if ctx.get(dut.o.valid):
                out.append(ctx.get(dut.o.payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert out == [0]


def test_uart_output_refuses_a_consumer_that_can_stall() -> None:
    """``always_ready``: wiring.connect will not join the UART to a stalling sink."""
    from amaranth.lib import wiring

    m, rx, sink = Module(), UARTRx(BaudTiming(8, 1, 8, 0)), FrameReceiver()
    for never_built in (m, rx, sink):  # (no "created but never used" warning)
        never_built._MustUse__silence = True
    with pytest.raises(Exception, match="(?i)signature|compatible|ready"):
        wiring.connect(m, rx.data, sink.bytes)


def test_a_host_past_the_window_is_counted_and_loses_only_the_frame_overrun() -> None:
    """The UART side at a byte every 40 clocks (4 a bit), the dispatcher not reading:
    frames up to the window are kept whole; the bytes that find the buffer full are
    counted and their frame is lost; once the host has timed out (a quiet line: the
    parser drops the partial frame) the next frame comes through."""
    from amaranth.lib import wiring

    m = Module()
    m.submodules.rxb = rxb = RxBuffer()
    m.submodules.recv = recv = FrameReceiver(timeout_bits=10)
    wiring.connect(m, rxb.o, recv.bytes)
    fitting = [p.encode(p.WRITE, k, bytes([k]) * 600) for k in range(3)]  # 3 x 605 bytes
    over = p.encode(p.WRITE, 3, bytes([3]) * 600)  # 605 more: past the 2048-byte store
    late = p.encode(p.INFO, 4)
    got, overruns = [], []

    async def tb(ctx):
        async def send(data: bytes) -> None:
            for byte in data:
                ctx.set(rxb.i.payload, byte)
                ctx.set(rxb.i.valid, 1)
                await ctx.tick()
                ctx.set(rxb.i.valid, 0)
                await ctx.tick().repeat(39)

        async def read_one() -> None:
            f = recv.frames
            await ctx.tick().until(f.valid)
            got.append((ctx.get(f.cmd), ctx.get(f.seq), ctx.get(f.length)))
            ctx.set(f.done, 1)
            await ctx.tick()
            ctx.set(f.done, 0)

        await send(b"".join(fitting) + over)
        overruns.append(ctx.get(rxb.overruns))
        for _ in range(3):
            await read_one()
        await ctx.tick().repeat(2 ** 10 + 10)  # the host's answer timeout
        await send(late)
        await read_one()
        overruns.append(ctx.get(rxb.overruns))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert overruns[0] > 0 and overruns[1] == overruns[0]
    assert got == [(p.WRITE, 0, 600), (p.WRITE, 1, 600), (p.WRITE, 2, 600), (p.INFO, 4, 0)]


def test_status_counts_the_errors_before_it_in_the_same_chunk() -> None:
    """The board reads its counters when it answers, so a STATUS behind a cut-off header
    reports the header's rescan: 1 for the false header, 5 for its bytes hunted again
    (the model once synchronised its counters only between chunks)."""
    cut = bytes([p.SOF, p.STATUS, 0x36, 0, 0, 0])  # hcrc missing: the next SOF takes its place
    assert p.crc16(cut[1:]) & 0xFF != p.SOF
    board = BoardModel(get_config("tiny"))
    (answer,) = p.Parser().feed(board.receive(cut + p.encode(p.STATUS, 0)))
    fields = dict(zip(p.STATUS_FIELDS, np.frombuffer(answer.payload, "<u4").tolist(),
                      strict=True))
    assert fields["framing_errors"] == 6


def test_host_crc_is_the_catalogued_crc16_ccitt_false() -> None:
    """The host's table CRC against amaranth.lib.crc's catalogue entry and the
    algorithm's published check value."""
    from amaranth.lib.crc import catalog

    assert p.crc16(b"123456789") == 0x29B1
    alg = catalog.CRC16_CCITT_FALSE(8)
    rng = random.Random(0)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        assert p.crc16(data) == alg.compute(data)
