"""The SoC (link + dispatcher + core) in the Amaranth simulator answers a request byte
stream exactly like the golden-backed board model, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.hw.soc import EPSoC
from epfpga.hw.store.commands import StoreGeometry
from epfpga.hw.store.word_port import MemoryWordPort
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel

CFG = EPConfig(layers=(10, 5, 3), T1=5, T2=3, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
               nudge="random_sign", part="none", name="soc")


def run_soc(cfg: EPConfig, chunks: list[bytes], idle: int = 3000,
            store: StoreGeometry | None = None, shared_mul: bool | None = None
            ) -> list[bytes]:
    """Feed each chunk, then collect the SoC's bytes until one whole response frame has
    arrived or it has been quiet for ``idle`` cycles (a dropped frame gets no answer).
    ``store``: the SoC built with a dataset store, on block RAM that answers reads three
    cycles late (as an SDRAM controller does, some cycles after the command).
    ``shared_mul``: the core's multiplier plan (None: the config part's)."""
    dut = EPSoC(cfg, store=store, shared_mul=shared_mul)
    top = Module()
    top.submodules.soc = dut
    if store is not None:
        top.submodules.mem = mem = MemoryWordPort(store.words, latency=3)
        wiring.connect(top, dut.store, mem.port)
    replies = []

    async def tb(ctx):
        ctx.set(dut.tx_bytes.ready, 1)
        for chunk in chunks:
            out = bytearray()
            for byte in chunk:
                ctx.set(dut.rx_bytes.payload, byte)
                ctx.set(dut.rx_bytes.valid, 1)
                while True:
                    if ctx.get(dut.tx_bytes.valid):
                        out.append(ctx.get(dut.tx_bytes.payload))
                    ready = ctx.get(dut.rx_bytes.ready)
                    await ctx.tick()
                    if ready:
                        break
            ctx.set(dut.rx_bytes.valid, 0)
            quiet = 0
            parser = p.Parser()
            done = bool(parser.feed(bytes(out)))
            while quiet < idle and not done:
                if ctx.get(dut.tx_bytes.valid):
                    byte = ctx.get(dut.tx_bytes.payload)
                    out.append(byte)
                    done = bool(parser.feed(bytes([byte])))
                    quiet = 0
                else:
                    quiet += 1
                await ctx.tick()
            replies.append(bytes(out))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return replies


def _session(rng: np.random.Generator) -> list[bytes]:
    n0 = CFG.layers[0]
    frames, seq = [], 0

    def add(cmd: int, payload: bytes = b"") -> None:
        nonlocal seq
        frames.append(p.encode(cmd, seq, payload))
        seq = (seq + 1) & 0xFF

    add(p.INFO)
    g = GoldenModel(CFG)  # the board model starts here; the SoC gets it written
    for layer in range(CFG.n_layers):
        add(p.WRITE, p.access_payload(p.REGION_W, layer, 0, g.W[layer].ravel()))
        add(p.WRITE, p.access_payload(p.REGION_B, layer, 0, g.b[layer]))
        add(p.WRITE, p.access_payload(p.REGION_LFSR, layer, 0, [g.lfsr[layer]]))
    add(p.READ, p.access_payload(p.REGION_W, 0, 0, 50))
    add(p.WRITE, p.access_payload(p.REGION_B, 1, 1, [123, -77]))
    add(p.SET_PARAMS, np.array([3000, 1500], dtype="<i8").tobytes())
    for k in range(4):
        x = rng.integers(0, CFG.act_one + 1, n0) * (rng.random(n0) < 0.5)
        add(p.TRAIN, p.train_payload(x, int(rng.integers(0, 3)), bool(k % 2), CFG.act_one))
    add(p.INFER, p.encode_sample(x, CFG.act_one))
    add(p.READ, p.access_payload(p.REGION_W, 1, 0, 15))
    add(p.READ, p.access_payload(p.REGION_LFSR, 0, 0, 1))
    add(p.STATUS)
    return frames


def test_soc_matches_board_model() -> None:
    frames = _session(np.random.default_rng(0))
    board = BoardModel(CFG)
    want = [board.receive(f) for f in frames]
    got = run_soc(CFG, frames)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"frame {k}: soc {g.hex()} != model {w.hex()}"


def test_soc_errors_and_replays_match() -> None:
    frames = _session(np.random.default_rng(1))[:7]  # INFO + the weight writes
    seq0 = 7
    one = CFG.act_one
    frames += [
        p.encode(0x33, seq0 + 0),  # unknown command
        p.encode(p.TRAIN, seq0 + 1, bytes([7, 0]) + p.encode_sample(np.zeros(10), one)),  # label
        p.encode(p.READ, seq0 + 2, p.access_payload(p.REGION_W, 5, 0, 1)),  # no such layer
        p.encode(p.WRITE, seq0 + 3, p.access_payload(p.REGION_W, 0, 0, [1 << 20])),  # overflow
        p.encode(p.INFER, seq0 + 4, bytes([3, 2, 0, 1, 5, 2, 0, 1])),  # past pixel 10
        p.encode(p.TRAIN, seq0 + 5, p.train_payload(np.full(10, 7), 1, False, one)),
        p.encode(p.TRAIN, seq0 + 5, p.train_payload(np.full(10, 7), 1, False, one)),  # replayed
        p.encode(p.TRAIN, seq0 + 9, p.train_payload(np.full(10, 7), 1, False, one)),  # gap: dropped
        # eta registers hold update_q_bits (17 here): one bit more, or negative, is refused
        p.encode(p.SET_PARAMS, seq0 + 6, np.array([1 << 17, 5], dtype="<i8").tobytes()),
        p.encode(p.SET_PARAMS, seq0 + 7, np.array([5, -1], dtype="<i8").tobytes()),
        p.encode(p.SET_PARAMS, seq0 + 8, np.array([(1 << 17) - 1, 5], dtype="<i8").tobytes()),
        p.encode(p.STATUS, seq0 + 9),
    ]
    # weight range edges (one bit past a rail, far past) and offsets past every region:
    # answered after the STATUS, so its counters above stay as checked
    wmin, wmax = CFG.weight_min, CFG.weight_max
    for s_, vals in enumerate([[wmax, wmin], [wmax + 1], [wmin - 1], [-(1 << 40)], [1 << 62]]):
        frames.append(p.encode(p.WRITE, seq0 + 10 + s_, p.access_payload(p.REGION_B, 0, 0,
                                                                         vals)))
    frames.append(p.encode(p.READ, seq0 + 15, p.access_payload(p.REGION_W, 0, 1 << 31, 1)))
    frames.append(p.encode(p.READ, seq0 + 16, p.access_payload(p.REGION_B, 0, 0, 2)))
    board = BoardModel(CFG)
    want = [board.receive(f) for f in frames]
    got = run_soc(CFG, frames)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        if k != len(frames) - 8:  # STATUS: frame counts differ by design (checked below)
            assert g == w, f"frame {k}: soc {g.hex()} != model {w.hex()}"
    edges = [p.Parser().feed(r)[0] for r in got[-7:]]
    assert [f.cmd for f in edges] == [p.WRITE | p.RESPONSE] + [p.ERROR] * 5 + [
        p.READ | p.RESPONSE]
    assert np.frombuffer(edges[-1].payload, "<i8").tolist() == [wmax, wmin]
    got = got[:-7]
    ranged = [p.Parser().feed(r)[0] for r in got[-4:-1]]
    assert [(f.cmd, f.payload[1:]) for f in ranged[:2]] == [(p.ERROR, bytes([p.E_RANGE]))] * 2
    assert ranged[2].cmd == p.SET_PARAMS | p.RESPONSE
    status = p.Parser().feed(got[-1])[0].payload
    fields = dict(zip(p.STATUS_FIELDS, np.frombuffer(status, "<u4").tolist(), strict=True))
    assert fields["samples"] == 1 and fields["replays"] == 1 and fields["seq_gaps"] == 1
    assert fields["unknown_cmds"] == 1


@pytest.mark.parametrize("seed", range(3))
def test_soc_garbage_never_locks_up(seed: int) -> None:
    rng = np.random.default_rng(seed)
    junk = rng.integers(0, 256, 200).astype(np.uint8).tobytes()
    info = p.encode(p.INFO, 0)
    got = run_soc(CFG, [junk, info])
    frames = p.Parser().feed(got[-1])
    assert frames and frames[-1].cmd == p.INFO | p.RESPONSE


def _edge_requests(seq0: int) -> list[bytes]:
    """Requests at the edges of the spec (issue: model and gateware disagreed on
    several), each with its own sequence number."""
    w8 = p.access_payload
    reqs = [
        (p.WRITE, w8(p.REGION_LFSR, 0, 0, [])),  # no values: an ack, nothing changes
        (p.WRITE, w8(p.REGION_W, 1, 0, [])),
        (p.TRAIN, b""), (p.TRAIN, b"\x01"), (p.TRAIN, b"\x01\x00"), (p.INFER, b""),
        # runs: a header cut in two, zeros to the last pixel and one past, a run cut
        # short, the last two pixels, zero-only runs, a run past the end
        (p.INFER, b"\x00"), (p.INFER, b"\x0a\x00"), (p.INFER, b"\x0b\x00"),
        (p.INFER, b"\x09\x02\x05"), (p.TRAIN, b"\x01\x00\x08\x02\x05\xff"),
        (p.INFER, b"\x05\x00\x05\x00"), (p.INFER, b"\x05\x00\x06\x00"),
        (p.INFER, b"\x00\x0b" + bytes(11)), (p.INFER, b"\x00\x0a" + bytes(10) + b"\x00"),
        (p.READ, w8(p.REGION_LFSR, 0, 0, 0)), (p.READ, w8(p.REGION_W, 0, 0, 0)),
        (p.READ, w8(p.REGION_LFSR, 1, 0, 1)), (p.READ, w8(p.REGION_LFSR, 0, 0, 2)),
        (p.READ, w8(p.REGION_LFSR, 0, 1, 0)),
        (p.WRITE, w8(p.REGION_LFSR, 0, 0, [0])),  # a zero LFSR sticks: refused
        (p.WRITE, w8(p.REGION_LFSR, 0, 0, [1 << 32])), (p.WRITE, w8(p.REGION_LFSR, 0, 0, [-1])),
        (p.WRITE, w8(p.REGION_LFSR, 1, 0, [(1 << 32) - 1])),
        (p.READ, w8(p.REGION_LFSR, 1, 0, 1)),
        (p.READ, w8(p.REGION_W, 0, 0, 1) + b"\x00"), (p.READ, w8(p.REGION_W, 0, 0, 1)[:7]),
        (p.WRITE, w8(p.REGION_B, 0, 0, [5])[:5]), (p.WRITE, w8(p.REGION_B, 0, 0, [5])[:13]),
        (p.WRITE, b""), (p.READ, b""),
        (p.READ, w8(3, 0, 0, 1)), (p.READ, w8(255, 7, 0, 1)), (p.WRITE, w8(3, 9, 0, [1])),
        (p.READ, w8(p.REGION_B, 2, 0, 1)), (p.READ, w8(p.REGION_B, 0, 0xFFFFFFFF, 1)),
        (p.READ, w8(p.REGION_B, 0, 0, p.CHUNK + 1)),
        (p.SET_PARAMS, bytes(15)), (p.SET_PARAMS, bytes(17)), (p.SET_PARAMS, b""),
        (p.INFO, b"xyz"), (0, b""), (0x80, b""), (0xFF, b"\x01"),
    ]
    return [p.encode(cmd, seq0 + k, pay) for k, (cmd, pay) in enumerate(reqs)]


def test_edge_case_requests_match_the_model() -> None:
    """Every edge request answered byte for byte as the board model answers it, and a
    retried WRITE after a later TRAIN is answered from its stored outcome, not run
    again (it would undo the TRAIN's update)."""
    frames = _session(np.random.default_rng(2))[:7]  # INFO + the initial network
    frames += _edge_requests(7)
    seq = 7 + len(frames) - 7
    x = np.full(CFG.layers[0], 9)
    one = CFG.act_one
    frames += [
        p.encode(p.WRITE, seq, p.access_payload(p.REGION_B, 1, 0, [100, -100, 7])),
        p.encode(p.TRAIN, seq + 1, p.train_payload(x, 2, False, one)),
        p.encode(p.INFER, seq + 2, p.encode_sample(x, one)),
        p.encode(p.WRITE, seq, p.access_payload(p.REGION_B, 1, 0, [100, -100, 7])),  # retry
        p.encode(p.INFER, seq + 2, p.encode_sample(x, one)),  # retry: the stored answer
        p.encode(p.TRAIN, seq + 1, p.train_payload(x, 2, False, one)),  # retry: not retrained
        p.encode(p.READ, seq + 3, p.access_payload(p.REGION_B, 1, 0, 3)),
        p.encode(p.STATUS, seq + 4),
    ]
    board = BoardModel(CFG)
    want = [board.receive(f) for f in frames]
    got = run_soc(CFG, frames)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"frame {k} ({frames[k].hex()}): soc {g.hex()} != model {w.hex()}"
    # the TRAIN's bias update survived the WRITE's retry; before it, the two edge TRAINs
    # that are well formed (an empty sample is all zeros) trained
    g = GoldenModel(CFG)
    g.train_sample(np.zeros(CFG.layers[0], dtype=np.int64), 1, beta_sign=1)
    g.train_sample(np.array([0] * 8 + [6, 256]), 1, beta_sign=1)
    g.lfsr[1] = (1 << 32) - 1  # the one edge WRITE that is in range
    g.b[1][:] = [100, -100, 7]
    g.train_sample(x, 2, beta_sign=1)
    read_back = p.Parser().feed(got[-2])[0].payload
    assert np.frombuffer(read_back, "<i8").tolist() == g.b[1].tolist()
    status = dict(zip(p.STATUS_FIELDS, np.frombuffer(p.Parser().feed(got[-1])[0].payload,
                                                     "<u4").tolist(), strict=True))
    assert status["replays"] == 3 and status["samples"] == 3
