"""The SoC built with a dataset store (hw/store/, a block-RAM word port answering a few
cycles late as an SDRAM controller does) answers the DS_* commands byte for byte as the
board model with a store of the same size: upload, digests, training and inference from
the store, every refusal, malformed records, and retries answered from the stored
outcome."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from epfpga.data import dataset_image as di
from epfpga.data.datasets import Dataset
from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.hw.store.commands import StoreGeometry
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from tests.hw.test_soc import run_soc

CFG = EPConfig(layers=(10, 5, 3), T1=5, T2=3, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
               nudge="random_sign", part="none", name="soc")  # (test_link_soc's)
GEO = StoreGeometry(words=2048)  # 4 KiB


def _dataset(rng: np.random.Generator) -> Dataset:
    def images(n: int) -> np.ndarray:
        return (rng.integers(0, 256, (n, 10)) * (rng.random((n, 10)) < 0.5)).astype(np.uint8)

    return Dataset("tiny", images(12), rng.integers(0, 3, 12).astype(np.uint8), images(4),
                   rng.integers(0, 3, 4).astype(np.uint8))


@pytest.mark.parametrize("shared_mul", [True, False], ids=["shared", "fast"])
def test_store_commands_match_the_board_model(shared_mul: bool) -> None:
    """Both multiplier plans: the fast one's core takes the next sample while it
    computes, so a run keeps two samples in it."""
    rng = np.random.default_rng(5)
    img = di.build_image(_dataset(rng), CFG)
    g = GoldenModel(CFG)
    reqs: list[tuple[int, bytes]] = [(p.INFO, b""), (p.DS_INFO, b"")]
    for layer in range(CFG.n_layers):  # the SoC starts from the golden model's network
        reqs += [(p.WRITE, p.access_payload(p.REGION_W, layer, 0, g.W[layer].ravel())),
                 (p.WRITE, p.access_payload(p.REGION_B, layer, 0, g.b[layer]))]
    half = len(img.data) // 2 + 1  # an odd split: the second half starts mid-word
    reqs += [(p.DS_WRITE, struct.pack("<I", 0) + img.data[:half]),
             (p.DS_WRITE, struct.pack("<I", half) + img.data[half:]),
             (p.DS_DIGEST, struct.pack("<II", 0, len(img.data))),
             (p.DS_DIGEST, struct.pack("<II", 3, 101)), (p.DS_DIGEST, struct.pack("<II", 7, 0))]
    entries = [3, 0, 11 | p.DS_NEG, 5, 5]
    reqs += [(p.DS_TRAIN, p.ds_run_payload(img.train_table, img.n_train, entries)),
             (p.DS_INFER, p.ds_run_payload(img.test_table, img.n_test, [0, 1, 2, 3, 1])),
             (p.READ, p.access_payload(p.REGION_W, 1, 0, 15))]
    # refusals, in the model's order of checks
    run = p.ds_run_payload
    reqs += [(p.DS_WRITE, b"\x00\x00\x00"),
             (p.DS_WRITE, struct.pack("<I", GEO.capacity - 2) + b"abc"),
             (p.DS_WRITE, struct.pack("<I", GEO.capacity - 3) + b"abc"),  # the last bytes
             (p.DS_DIGEST, struct.pack("<II", 1, GEO.capacity)), (p.DS_DIGEST, b"\x00" * 7),
             (p.DS_TRAIN, run(0, 12, [12])), (p.DS_TRAIN, run(0, 12, [1 << 25])),
             (p.DS_TRAIN, run(0, 12, [1 << 25, 99])), (p.DS_INFER, run(0, 12, [p.DS_NEG])),
             (p.DS_TRAIN, run(GEO.capacity - 4, 2, [0])), (p.DS_TRAIN, run(0, 12, []) + b"\x01"),
             (p.DS_TRAIN, run(0, 12, [0] * 257)), (p.DS_TRAIN, b"\x00" * 7),
             (p.DS_TRAIN, run(0, 12, []))]
    # malformed records: a label past the outputs, runs past the last pixel, a length
    # past the store, a table entry pointing past the store
    (o1,) = struct.unpack_from("<I", img.data, 4)
    (o2,) = struct.unpack_from("<I", img.data, 8)
    reqs += [(p.DS_WRITE, struct.pack("<IB", o1, 7)),
             (p.DS_WRITE, struct.pack("<I", o2 + 1) + struct.pack("<H", 4) + b"\x09\x02\x05\x05"),
             (p.DS_WRITE, struct.pack("<I", 4 * 3) + struct.pack("<I", GEO.capacity - 2)),
             (p.DS_WRITE, struct.pack("<I", 4 * 4) + struct.pack("<I", GEO.capacity - 5)),
             (p.DS_WRITE, struct.pack("<I", GEO.capacity - 5) + b"\x01\xff\x00"),
             (p.DS_TRAIN, run(0, 12, [0, 1, 2, 3, 4, 6])),
             (p.DS_INFER, run(0, 12, [1, 2, 0]))]
    frames = [p.encode(c, s, pay) for s, (c, pay) in enumerate(reqs)]
    # retries: a DS_TRAIN answered again from its stored predictions, not run again; a
    # DS_INFER and a DS_DIGEST run again; then the network read back
    n = len(frames)
    last_train = max(i for i, (c, _) in enumerate(reqs) if c == p.DS_TRAIN)
    frames += [frames[last_train], frames[n - 1], p.encode(p.DS_DIGEST, n, struct.pack(
        "<II", 0, 64)), p.encode(p.DS_DIGEST, n, struct.pack("<II", 0, 64)),
        p.encode(p.READ, n + 1, p.access_payload(p.REGION_W, 0, 0, 50)),
        p.encode(p.STATUS, n + 2)]
    board = BoardModel(CFG, store_bytes=GEO.capacity)
    want = [board.receive(f) for f in frames]
    got = run_soc(CFG, frames, store=GEO, shared_mul=shared_mul)
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"request {k}: soc {a.hex()} != model {b.hex()}"
    answers = [p.Parser().feed(r)[0] for r in want]
    # the model's answers are what the checks say (so the comparison covers them all)
    assert p.parse_info(answers[0].payload)["capabilities"] & p.CAP_DATASET
    trained = [a for a in answers if a.cmd == p.DS_TRAIN | p.RESPONSE]
    assert len(trained[0].payload) == 5 and p.DS_BAD_SAMPLE not in trained[0].payload
    assert list(trained[-2].payload).count(p.DS_BAD_SAMPLE) == 4
    assert trained[-1].payload == trained[-2].payload  # the retry
    errors = [a.payload[1] for a in answers if a.cmd == p.ERROR]
    assert errors.count(p.E_RANGE) >= 4 and errors.count(p.E_BAD_PAYLOAD) >= 6
    assert board.golden.samples_trained == 5 + 2
