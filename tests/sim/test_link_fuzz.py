"""Random byte streams into the gateware link on Verilator (cocotb): valid frames mixed
with garbage, bit flips, truncations, over-long lengths, unknown commands and sequence
gaps.  Every response byte -- including the STATUS counters -- must equal what the
golden-backed board model answers to the same bytes, and the link must still answer
an INFO at the end (it never locks up)."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from epfpga.sim.runner import run_test

pytestmark = pytest.mark.sim

CFG = EPConfig(layers=(10, 5, 3), T1=5, T2=3, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
               nudge="random_sign", part="none", name="fuzz")


def _valid(rng: np.random.Generator, seq: int) -> bytes:
    n0 = CFG.layers[0]
    x = rng.integers(0, CFG.act_one + 1, n0) * (rng.random(n0) < 0.5)
    kind = rng.integers(0, 5)
    if kind == 0:
        return p.encode(p.TRAIN, seq, p.train_payload(x, int(rng.integers(0, 3)),
                                                      bool(rng.integers(0, 2)), CFG.act_one))
    if kind == 1:
        return p.encode(p.INFER, seq, p.encode_sample(x, CFG.act_one))
    if kind == 2:
        return p.encode(p.READ, seq, p.access_payload(p.REGION_W, int(rng.integers(0, 2)),
                                                      0, int(rng.integers(1, 16))))
    if kind == 3:
        return p.encode(p.WRITE, seq, p.access_payload(
            p.REGION_B, 0, 0, rng.integers(-3000, 3000, 5).tolist()))
    return p.encode(p.STATUS, seq)


def fuzz_stream(seed: int, n: int = 120) -> list[bytes]:
    """A session whose chunks are a clean frame or one of the faults the link must
    survive; the sequence number advances only when a frame should be accepted."""
    rng = np.random.default_rng(seed)
    chunks, seq = [p.encode(p.INFO, 0)], 1
    g = GoldenModel(CFG)  # the model board starts from here; the gateware is told
    for layer in range(CFG.n_layers):
        for kind, vals in ((p.REGION_W, g.W[layer].ravel()), (p.REGION_B, g.b[layer]),
                           (p.REGION_LFSR, [g.lfsr[layer]])):
            chunks.append(p.encode(p.WRITE, seq, p.access_payload(kind, layer, 0, vals)))
            seq += 1
    for _ in range(n):
        fault = rng.choice(["ok", "ok", "ok", "garbage", "flip", "truncate", "long",
                            "unknown", "gap", "replay"])
        frame = _valid(rng, seq)
        if fault == "ok":
            chunks.append(frame)
            seq = (seq + 1) & 0xFF
        elif fault == "garbage":
            chunks.append(rng.integers(0, 256, int(rng.integers(1, 60))).astype(np.uint8)
                          .tobytes())
        elif fault == "flip":
            b = bytearray(frame)
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
            chunks.append(bytes(b))
        elif fault == "truncate":
            chunks.append(frame[:int(rng.integers(1, len(frame)))])
        elif fault == "long":  # payload longer than the length field says
            chunks.append(frame[:-2] + b"\x00\x01\x02" + frame[-2:])
        elif fault == "unknown":
            chunks.append(p.encode(0x3C, seq))
            seq = (seq + 1) & 0xFF
        elif fault == "gap":
            chunks.append(p.encode(p.STATUS, (seq + 1 + int(rng.integers(0, 5))) & 0xFF))
        else:  # a retry of the last accepted frame: answered from the replay path
            chunks.append(p.encode(p.STATUS, (seq - 1) & 0xFF))
    # a truncation may have swallowed accepted frames, and may leave the parser inside a
    # frame that the next bytes complete: zeros past the longest frame end any frame (a
    # zero header fails its hcrc), then INFO resynchronises before STATUS
    pad = bytes(p.MAX_PAYLOAD + p.HEADER + p.TRAILER)
    return chunks + [pad, p.encode(p.INFO, 0), p.encode(p.STATUS, 1)]


@pytest.mark.parametrize(("seed", "shared_mul"), [(0, True), (1, True), (2, True),
                                                   (3, True), (4, False)])
def test_link_fuzz_matches_board_model(seed: int, shared_mul: bool) -> None:
    """``shared_mul`` False: the SoC around the ECP5's fast plan (its pixel loader)."""
    chunks = fuzz_stream(seed)
    job = {"chunks": [c.hex() for c in chunks], "seed": seed, "gap": 0.2, "stall": 0.3}
    got = run_test(CFG, "epfpga.sim.tb_link_fuzz", job, design="soc",
                   shared_mul=shared_mul)["replies"]
    model = BoardModel(CFG)
    want = [model.receive(c).hex() for c in chunks]
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"chunk {k} ({chunks[k].hex()}): soc {g} != model {w}"
    assert got[-3] == ""  # the padding: nothing to answer
    info = p.Parser().feed(bytes.fromhex(got[-2]))
    assert info and info[-1].cmd == p.INFO | p.RESPONSE  # still answering
    status = p.Parser().feed(bytes.fromhex(got[-1]))[0].payload
    counters = dict(zip(p.STATUS_FIELDS, np.frombuffer(status, "<u4").tolist(), strict=True))
    assert counters["crc_errors"] + counters["framing_errors"] > 0  # the faults were seen
