"""Checkpoint integrity: a SHA-256 over everything, the previous checkpoint kept, and a
damaged file of any kind a one-line error (or, on --resume, the previous checkpoint)."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.cli import main
from epfpga.model.config import get_config
from epfpga.model.golden import GoldenModel
from epfpga.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    previous,
    save_checkpoint,
)

CFG = get_config("tiny")


def _save(path, position: int) -> Checkpoint:
    g = GoldenModel(CFG)
    g.W[0][0, 0] = position  # tells the checkpoints apart
    ck = Checkpoint(CFG, "golden", g.state_dict(), 0, position, [], {"correct": 1})
    save_checkpoint(path, ck)
    return ck


def test_round_trip_and_the_previous_one_is_kept(tmp_path) -> None:
    path = tmp_path / "checkpoint.npz"
    _save(path, 10)
    _save(path, 20)
    assert load_checkpoint(path).position == 20
    assert load_checkpoint(previous(path)).position == 10
    assert load_checkpoint(path).state["W"][0][0, 0] == 20


def _damaged(data: bytes, rng: np.random.Generator) -> list[bytes]:
    """Truncations, flipped bytes across the file, zeros, garbage, an empty file."""
    out = [data[:n] for n in (0, 10, len(data) // 2, len(data) - 1)]
    for _ in range(12):
        b = bytearray(data)
        i = int(rng.integers(0, len(b)))
        b[i] ^= 1 << int(rng.integers(0, 8))
        out.append(bytes(b))
    out += [bytes(len(data)), rng.integers(0, 256, 500).astype(np.uint8).tobytes()]
    return out


def test_every_damage_is_detected_and_resume_falls_back(tmp_path, capsys) -> None:
    path = tmp_path / "checkpoint.npz"
    _save(path, 10)
    _save(path, 20)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    for bad in _damaged(good, rng):
        path.write_bytes(bad)
        try:
            ck = load_checkpoint(path)
        except CheckpointError as e:
            assert "\n" not in str(e) and str(path) in str(e)
            ck = load_checkpoint(path, fallback=True)
            assert ck.position == 10  # the previous one, with a warning
            assert "previous checkpoint" in capsys.readouterr().err
        else:  # a flip the zip layer never reads (e.g. in its comment): contents intact
            assert ck.position == 20 and ck.state["W"][0][0, 0] == 20


def test_both_damaged_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "checkpoint.npz"
    _save(path, 10)
    _save(path, 20)
    path.write_bytes(b"junk")
    previous(path).write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="previous one is damaged too"):
        load_checkpoint(path, fallback=True)


def test_eval_of_a_damaged_checkpoint_is_a_message(tmp_path, capsys) -> None:
    path = tmp_path / "checkpoint.npz"
    _save(path, 10)
    path.write_bytes(path.read_bytes()[:100])
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a readable epfpga checkpoint" in err and "Traceback" not in err
