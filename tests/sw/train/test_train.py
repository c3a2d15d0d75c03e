"""Training CLI: checkpoints, resume (bit-exact continuation), errors, real-MNIST floor."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from epfpga.cli import main
from epfpga.train.checkpoint import load_checkpoint
from tests.sw.data.test_datasets import make_idx_dir


@pytest.fixture
def idx(tmp_path):
    d = tmp_path / "data"
    make_idx_dir(d, n_train=300, n_test=50, seed=1)
    return f"idx:{d}"


def _train(*args: str) -> int:
    return main(["train", "--config", "up5k", "--no-progress", "--no-plot", *args])


def _weights(path):
    ck = load_checkpoint(path)
    return ck, [w.tolist() for w in ck.state["W"]] + [v.tolist() for v in ck.state["b"]]


def test_resume_continues_bit_exactly(tmp_path, idx) -> None:
    assert _train("--dataset", idx, "--epochs", "2", "--out", str(tmp_path / "a")) == 0
    assert _train("--dataset", idx, "--epochs", "1", "--out", str(tmp_path / "b")) == 0
    assert _train("--dataset", idx, "--epochs", "2", "--resume", "--out",
                  str(tmp_path / "b")) == 0
    cka, wa = _weights(tmp_path / "a")
    ckb, wb = _weights(tmp_path / "b")
    assert wa == wb and cka.state["lfsr"] == ckb.state["lfsr"] and cka.epoch == 2
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [h["epoch"] for h in rep["history"]] == [1, 2]


@pytest.mark.parametrize("sample", [1, 150, 201, 299])
def test_ctrl_c_mid_chunk_then_resume_trains_each_sample_once(tmp_path, idx, monkeypatch,
                                                              sample: int) -> None:
    """SIGINT while a chunk trains: the chunk runs to its end, the checkpoint holds its
    weights and position, and --resume ends bit-identical to an uninterrupted run."""
    assert _train("--dataset", idx, "--out", str(tmp_path / "ref")) == 0
    from epfpga.train.engines import GoldenEngine

    real = GoldenEngine.train_chunk
    seen = {"n": 0}

    def interrupted(self, X, Y, index=None):
        if seen["n"] <= sample < seen["n"] + len(X):
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C now
        seen["n"] += len(X)
        return real(self, X, Y, index)

    monkeypatch.setattr(GoldenEngine, "train_chunk", interrupted)
    assert _train("--dataset", idx, "--out", str(tmp_path / "int")) == 130
    ck = load_checkpoint(tmp_path / "int")
    assert ck.epoch == 0 and ck.position == seen["n"] > sample  # the chunk's end
    monkeypatch.setattr(GoldenEngine, "train_chunk", real)
    assert _train("--dataset", idx, "--resume", "--out", str(tmp_path / "int")) == 0
    assert _weights(tmp_path / "int")[1] == _weights(tmp_path / "ref")[1]


def test_a_second_ctrl_c_stops_at_once_and_the_last_checkpoint_stands(tmp_path, idx,
                                                                      monkeypatch) -> None:
    assert _train("--dataset", idx, "--out", str(tmp_path / "ref")) == 0
    from epfpga.train.engines import GoldenEngine

    real = GoldenEngine.train_chunk
    seen = {"n": 0}

    def insistent(self, X, Y, index=None):
        seen["n"] += len(X)
        if seen["n"] > 150:  # Ctrl-C twice inside the chunk after the one at 100
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, X, Y, index)

    monkeypatch.setattr(GoldenEngine, "train_chunk", insistent)
    assert _train("--dataset", idx, "--out", str(tmp_path / "int"),
                  "--checkpoint-every", "100") == 130
    assert load_checkpoint(tmp_path / "int").position == 100
    monkeypatch.setattr(GoldenEngine, "train_chunk", real)
    assert _train("--dataset", idx, "--resume", "--out", str(tmp_path / "int")) == 0
    assert _weights(tmp_path / "int")[1] == _weights(tmp_path / "ref")[1]


def test_checkpoints_land_exactly_every_n_samples(tmp_path, idx, monkeypatch) -> None:
    import epfpga.train.trainer as tr

    positions = []
    real = tr.save_checkpoint
    monkeypatch.setattr(tr, "save_checkpoint",
                        lambda path, ck: (positions.append((ck.epoch, ck.position)),
                                          real(path, ck)))
    assert _train("--dataset", idx, "--out", str(tmp_path / "c"), "--checkpoint-every",
                  "70") == 0
    assert positions == [(0, 70), (0, 140), (0, 210), (0, 280), (1, 0)]


def test_user_errors_are_messages_not_tracebacks(tmp_path, idx, capsys, monkeypatch) -> None:
    out = str(tmp_path / "r")
    assert _train("--dataset", idx, "--out", out, "--train-samples", "50") == 0
    assert _train("--dataset", idx, "--out", out) == 2
    assert "already exists: pass --resume" in capsys.readouterr().err
    assert main(["train", "--config", "tiny", "--no-progress", "--dataset", idx, "--out",
                 str(tmp_path / "t")]) == 2
    assert "expects 16" in capsys.readouterr().err
    assert main(["train", "--config", "ecp5", "--no-progress", "--dataset", idx, "--resume",
                 "--out", out]) == 2
    assert "config digest" in capsys.readouterr().err
    assert main(["train", "--config", "laborieux", "--engine", "golden", "--dataset", idx,
                 "--out", str(tmp_path / "l")]) == 2
    assert "trains online" in capsys.readouterr().err
    monkeypatch.setenv("EPFPGA_CACHE", str(tmp_path / "empty"))
    assert _train("--out", str(tmp_path / "m")) == 2
    assert "epfpga data fetch mnist" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--engine", "board", "--dataset", idx, "--out",
                 str(tmp_path / "b")]) == 2
    assert "needs --port" in capsys.readouterr().err


def test_float_engine_minibatch_runs(tmp_path, idx) -> None:
    cfgfile = tmp_path / "c.json"
    from epfpga.model.config import PRESETS

    PRESETS["up5k"].replace(batch_size=10, name="mb").save(cfgfile)
    assert main(["train", "--config", str(cfgfile), "--engine", "float", "--no-progress",
                 "--dataset", idx, "--out", str(tmp_path / "f")]) == 0
    ck = load_checkpoint(tmp_path / "f")
    assert ck.engine == "float" and ck.state["samples_trained"] == 300


def test_short_real_mnist_run_beats_floor(tmp_path, mnist, capsys) -> None:
    """5000 online samples on real MNIST: the fixed-point up5k net must exceed 80% (chance: 10%)."""
    assert _train("--train-samples", "5000", "--test-samples", "2000", "--out",
                  str(tmp_path / "m")) == 0
    rep = json.loads((tmp_path / "m" / "report.json").read_text())
    assert rep["final_test_acc"] > 0.80
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "m"), "--test-samples", "2000", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["test_acc"] == rep["final_test_acc"]  # checkpoint round trip is lossless


@pytest.mark.slow
def test_one_epoch_real_mnist(tmp_path, mnist) -> None:
    assert _train("--test-samples", "10000", "--out", str(tmp_path / "e")) == 0
    rep = json.loads((tmp_path / "e" / "report.json").read_text())
    assert rep["final_test_acc"] > 0.92
    assert np.isfinite(rep["history"][0]["samples_per_s"])


def test_labels_beyond_the_outputs_are_refused(tmp_path, capsys) -> None:
    d = tmp_path / "d"
    make_idx_dir(d, n_train=20, n_test=10)
    lab = d / "train-labels-idx1-ubyte"
    lab.write_bytes(lab.read_bytes()[:8] + bytes([12] * 20))  # 12 >= up5k's 10 outputs
    assert _train("--dataset", f"idx:{d}", "--out", str(tmp_path / "r")) == 2
    assert "has label 12 but config up5k has 10 outputs" in capsys.readouterr().err
