"""The SoC at its pins in the Amaranth simulator: frames sent back to back on ``rx`` at
an exact baud, as a host with several frames in flight sends them (a UART cannot wait),
answered on ``tx`` byte for byte like the board model, with nothing dropped."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.hw.link.uart import baud_timing
from epfpga.hw.soc import EPSoC
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel

CFG = EPConfig(layers=(10, 5, 3), T1=5, T2=3, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
               nudge="random_sign", part="none", name="soc")
TIMING = baud_timing(8_000_000, 1_000_000)  # 8 clocks a bit: quick to simulate


def line_bits(data: bytes, clocks_per_bit: int) -> list[int]:
    """8N1 with no idle between one stop bit and the next start bit."""
    out: list[int] = [1] * clocks_per_bit
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            out += [bit] * clocks_per_bit
    return out


def run_pins(cfg: EPConfig, data: bytes, tail: int = 40_000) -> bytes:
    """Drive ``rx`` with ``data``, decode ``tx`` mid-bit; ``tail`` clocks after."""
    dut = EPSoC(cfg, uart=TIMING)
    cpb = TIMING.period
    out = bytearray()
    line = line_bits(data, cpb) + [1] * tail

    async def tb(ctx):
        level_prev, start, bits = 1, None, []
        for t, level in enumerate(line):
            ctx.set(dut.rx, level)
            await ctx.tick()
            tx = ctx.get(dut.tx)
            if start is None:
                if level_prev == 1 and tx == 0:
                    start, bits = t, []
            elif (t - start) % cpb == cpb // 2 and (t - start) >= cpb:
                bits.append(tx)
                if len(bits) == 9:
                    assert bits[8] == 1, "stop bit"
                    out.append(sum(b << i for i, b in enumerate(bits[:8])))
                    start = None
            level_prev = tx

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return bytes(out)


def test_a_window_of_frames_back_to_back_is_answered_in_full() -> None:
    """INFO, the initial network and TRAIN frames (as many as the driver keeps in flight,
    within the window), sent without a gap: every answer equals the model's, and no
    byte overran."""
    rng = np.random.default_rng(0)
    g = GoldenModel(CFG)
    reqs = [(p.INFO, b"")]
    for layer in range(CFG.n_layers):
        reqs += [(p.WRITE, p.access_payload(p.REGION_W, layer, 0, g.W[layer].ravel())),
                 (p.WRITE, p.access_payload(p.REGION_B, layer, 0, g.b[layer]))]
    budget = p.STORE_BYTES
    while True:
        x = rng.integers(0, CFG.act_one + 1, CFG.layers[0]) * (rng.random(10) < 0.5)
        pay = p.train_payload(x, int(rng.integers(0, 3)), bool(rng.integers(0, 2)), CFG.act_one)
        if len(reqs) > 12 or p.store_cost(len(pay)) > budget:
            break
        budget -= p.store_cost(len(pay))
        reqs.append((p.TRAIN, pay))
    reqs.append((p.STATUS, b""))
    frames = [p.encode(cmd, 0x1234 + k, pay) for k, (cmd, pay) in enumerate(reqs)]
    got = p.Parser().feed(run_pins(CFG, b"".join(frames)))
    model = BoardModel(CFG, clock_hz=TIMING.clock_hz, baud=TIMING.baud)
    want = p.Parser().feed(b"".join(model.receive(f) for f in frames[:-1]))
    assert [(f.cmd, f.seq, f.payload) for f in got[:-1]] == \
        [(f.cmd, f.seq, f.payload) for f in want]
    status = dict(zip(p.STATUS_FIELDS, np.frombuffer(got[-1].payload, "<u4").tolist(),
                      strict=True))
    assert status["overruns"] == 0 and status["crc_errors"] == 0
    assert status["frames_ok"] == len(frames) and status["samples"] == len(reqs) - 6
    info = p.parse_info(got[0].payload)
    assert (info["clock_hz"], info["baud"], info["window"]) == (8_000_000, 1_000_000,
                                                                 p.STORE_BYTES)
