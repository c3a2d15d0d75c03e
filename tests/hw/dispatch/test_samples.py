"""Samples as runs (protocol v4): hand-worked encodings, the worst-case bound, and the
SoC's run decoder against the board model on random and malformed samples, for value
widths of one byte (with and without a range check) and two bytes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from tests.hw.test_soc import run_soc


def test_hand_worked_encodings() -> None:
    x = np.zeros(12, dtype=np.int64)
    x[[2, 3, 7]] = [1, 256, 40]
    # skip 2, two values (less one), skip 3, one value; pixels 8.. are zero
    assert p.encode_sample(x, 256) == bytes([2, 2, 0, 255, 3, 1, 39])
    assert p.encode_sample(x, 1024) == bytes([2, 2, 0, 0, 255, 0, 3, 1, 39, 0])
    assert p.encode_sample(np.zeros(12), 256) == b""
    # 600 zeros then a value: two zero-only runs; 300 values in a row: split at 255
    far = np.zeros(700, dtype=np.int64)
    far[600] = 5
    assert p.encode_sample(far, 256) == bytes([255, 0, 255, 0, 90, 1, 4])
    full = np.full(300, 3)
    assert p.encode_sample(full, 256) == bytes([0, 255]) + bytes([2] * 255) + bytes(
        [0, 45]) + bytes([2] * 45)
    for data, n in [(bytes([2, 2, 0, 255, 3, 1, 39]), 12), (bytes([0, 255]) + bytes(255) +
                                                            bytes([0, 45]) + bytes(45), 300)]:
        assert p.encode_sample(p.decode_sample(data, n, 256), 256) == data


@pytest.mark.parametrize("act_one", [32, 256, 1024])
def test_worst_case_bound_is_exact_below_255_pixels(act_one: int) -> None:
    """Over every zero/non-zero pattern of up to 12 pixels the longest encoding is
    ``max_sample_bytes``, and no pattern exceeds it."""
    for n in range(1, 13):
        longest = max(len(p.encode_sample(np.array(bits) * act_one, act_one))
                      for bits in itertools.product((0, 1), repeat=n))
        assert longest == p.max_sample_bytes(n, act_one)


def test_malformed_samples_are_refused() -> None:
    for bad in [b"\x00", b"\x0b\x00", b"\x09\x02\x05", b"\x00\x0b" + bytes(11),
                b"\x05\x00\x06\x00"]:
        with pytest.raises(ValueError):
            p.decode_sample(bad, 10, 256)
    with pytest.raises(ValueError, match="out of range"):
        p.decode_sample(b"\x00\x01\x20", 10, 32)  # 33 > act_one
    with pytest.raises(ValueError, match="out of range"):
        p.decode_sample(b"\x00\x01\x00\x04", 10, 1024)  # 1025


def _random_sample(rng: np.random.Generator, n: int, one: int) -> np.ndarray:
    """MNIST-like strokes, long gaps, long full runs and single pixels, values over the
    whole range 1..one."""
    x = np.zeros(n, dtype=np.int64)
    for _ in range(rng.integers(0, 6)):
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.choice([1, 3, 20, 280])))
        x[a:b] = rng.integers(1, one + 1, b - a)
    x[rng.random(n) < 0.05] = one
    return x


@pytest.mark.parametrize("act_frac", [5, 8, 10])
def test_soc_decodes_runs_like_the_model(act_frac: int) -> None:
    """The gateware's run decoder, bit-exact with the golden model through the board
    model: random samples with gaps and runs beyond 255 pixels, and malformed runs."""
    cfg = EPConfig(layers=(300, 4, 3), T1=4, T2=2, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
                   act_frac=act_frac, part="none", name=f"runs{act_frac}")
    one, n = cfg.act_one, cfg.layers[0]
    rng = np.random.default_rng(act_frac)
    g = GoldenModel(cfg)
    frames = [p.encode(p.INFO, 0)]
    for layer in range(cfg.n_layers):  # the board starts from the golden model's network
        for k in range(0, g.W[layer].size, p.CHUNK):
            frames.append(p.encode(p.WRITE, len(frames), p.access_payload(
                p.REGION_W, layer, k, g.W[layer].ravel()[k:k + p.CHUNK])))
        frames.append(p.encode(p.WRITE, len(frames), p.access_payload(
            p.REGION_B, layer, 0, g.b[layer])))
        frames.append(p.encode(p.WRITE, len(frames), p.access_payload(
            p.REGION_LFSR, layer, 0, [g.lfsr[layer]])))
    samples = [_random_sample(rng, n, one) for _ in range(5)] + [np.full(n, one)]
    for x in samples:
        frames.append(p.encode(p.TRAIN, len(frames), p.train_payload(x, 1, False, one)))
        frames.append(p.encode(p.INFER, len(frames), p.encode_sample(x, one)))
    w = p.value_bytes(one)
    top = (one - 1).to_bytes(w, "little")  # the largest value, less one
    fits = one < 256 ** w  # else (act_one 256) no value byte is out of range
    over = one.to_bytes(w, "little") if fits else top  # one past it
    for bad in [bytes([0, 2]) + top + over, bytes([255, 0, 255, 0]),
                bytes([255, 0, 44, 1]) + top, bytes([255, 0, 44, 1]), bytes([0, 1])]:
        frames.append(p.encode(p.INFER, len(frames), bad))
    frames.append(p.encode(p.STATUS, len(frames)))
    board = BoardModel(cfg)
    want = [board.receive(f) for f in frames]
    got = run_soc(cfg, frames, idle=20_000)  # a full WRITE is checked, then run
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"frame {k}: soc {a.hex()} != model {b.hex()}"
    answers = [p.Parser().feed(r)[0] for r in got[-6:-1]]
    # a value past act_one, runs past pixel 300, the last pixel at the top value, a run
    # cut short, a run header without its value
    ok, bad = p.INFER | p.RESPONSE, p.ERROR
    assert [f.cmd for f in answers] == [bad if fits else ok, bad, ok, bad, bad]
