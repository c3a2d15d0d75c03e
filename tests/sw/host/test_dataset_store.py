"""The dataset store (protocol DS_*, docs/protocol.md) on the golden board model: the
image's layout, every command's checks, training from the store bit-exact with the
golden model, an upload that survives CRC faults and a cut link and resumes, and a board
reset or power cycle mid-run that the driver (or a --resume) gets through with every
sample trained once.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from epfpga.data import dataset_image as di
from epfpga.data.datasets import Dataset
from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel, serve_in_thread
from epfpga.host.driver import BoardEngine, BoardError, BoardLost
from epfpga.host.faultproxy import FaultProxy, FaultRates
from epfpga.model.config import EPConfig
from epfpga.model.numerics import quantize_pixels
from epfpga.train.checkpoint import load_checkpoint
from epfpga.train.trainer import TrainOptions, train

CFG = EPConfig(layers=(40, 8, 4), T1=6, T2=4, beta=0.5, lrs=(0.2, 0.1), nudge="random_sign",
               part="none", name="store")


def dataset(n_train: int = 300, n_test: int = 50, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)

    def images(n: int) -> np.ndarray:
        x = rng.integers(0, 256, (n, CFG.layers[0]))
        return (x * (rng.random((n, CFG.layers[0])) < 0.4)).astype(np.uint8)

    return Dataset("synthetic", images(n_train), rng.integers(0, 4, n_train).astype(np.uint8),
                   images(n_test), rng.integers(0, 4, n_test).astype(np.uint8))


def ask(board: BoardModel, cmd: int, payload: bytes = b"", seq: list[int] | None = None
        ) -> p.Frame:
    """One request straight into the model, its one answer back."""
    seq = seq if seq is not None else [0]
    (f,) = p.Parser().feed(board.receive(p.encode(cmd, seq[0], payload)))
    seq[0] += 1
    return f


def test_image_layout_and_records() -> None:
    ds = dataset()
    img = di.build_image(ds, CFG)
    n = len(ds.x_train) + len(ds.x_test)
    offsets = np.frombuffer(img.data, "<u4", n)
    assert offsets[0] == 4 * n and img.test_table == 4 * len(ds.x_train)
    X, Y = np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])
    for k, (x, y) in enumerate(zip(X, Y, strict=True)):
        label, length = struct.unpack_from("<BH", img.data, offsets[k])
        enc = p.encode_sample(quantize_pixels(x, CFG), CFG.act_one)
        assert (label, img.data[offsets[k] + 3:offsets[k] + 3 + length]) == (y, enc)
    for k in (0, 7, 299):  # what a board reads back: the quantized pixels and the label
        got = di.read_record(img.data, img.train_table, img.n_train, k, 40, CFG.act_one, 4)
        assert got is not None and (got[0] == quantize_pixels(ds.x_train[k], CFG)).all()
        assert got[1] == ds.y_train[k]
    assert img.crcs == tuple(zlib.crc32(img.data[o:o + m]) for o, m in img.pieces())


def test_every_store_command_is_checked_before_anything_changes() -> None:
    board, seq = BoardModel(CFG, store_bytes=4096), [0]
    info = p.parse_info(ask(board, p.INFO, seq=seq).payload)
    assert info["capabilities"] & p.CAP_DATASET
    assert struct.unpack("<IH", ask(board, p.DS_INFO, seq=seq).payload) == (4096, 256)

    def error(cmd: int, payload: bytes) -> int:
        f = ask(board, cmd, payload, seq)
        assert f.cmd == p.ERROR and f.payload[0] == cmd, f
        return f.payload[1]

    assert error(p.DS_WRITE, b"\x00\x00\x00") == p.E_BAD_PAYLOAD
    assert error(p.DS_WRITE, struct.pack("<I", 4090) + bytes(7)) == p.E_RANGE
    assert error(p.DS_DIGEST, struct.pack("<II", 0, 4097)) == p.E_RANGE
    assert error(p.DS_DIGEST, struct.pack("<I", 0)) == p.E_BAD_PAYLOAD
    assert board.store == bytearray(4096)
    data = bytes(range(256)) * 3
    assert ask(board, p.DS_WRITE, struct.pack("<I", 100) + data, seq).payload == b""
    got = ask(board, p.DS_DIGEST, struct.pack("<II", 90, 800), seq).payload
    assert struct.unpack("<I", got)[0] == zlib.crc32(bytes(10) + data + bytes(22))

    img = di.build_image(dataset(6, 2), CFG)
    ask(board, p.DS_WRITE, struct.pack("<I", 0) + img.data, seq)
    run = p.ds_run_payload
    assert error(p.DS_TRAIN, run(0, 6, [0, 6])) == p.E_RANGE  # index past the table
    assert error(p.DS_TRAIN, run(4090, 2, [0])) == p.E_RANGE  # table past the store
    assert error(p.DS_TRAIN, run(0, 6, [1 << 25])) == p.E_BAD_PAYLOAD  # unknown flag
    assert error(p.DS_INFER, run(0, 6, [p.DS_NEG])) == p.E_BAD_PAYLOAD  # no nudge there
    assert error(p.DS_TRAIN, run(0, 6, list(range(257)))[:-4] + b"\x00") == p.E_BAD_PAYLOAD
    assert error(p.DS_TRAIN, run(0, 6, [0] * 257)) == p.E_BAD_PAYLOAD  # over DS_RUN_MAX
    assert board.golden.samples_trained == 0

    # a malformed record is answered DS_BAD_SAMPLE and skipped; the others train
    (off,) = struct.unpack_from("<I", img.data, 4)
    board.store[off] = 9  # sample 1's label, past the 4 outputs
    pred = ask(board, p.DS_TRAIN, run(0, 6, [0, 1, 2]), seq).payload
    assert pred[1] == p.DS_BAD_SAMPLE and p.DS_BAD_SAMPLE not in (pred[0], pred[2])
    assert board.golden.samples_trained == 2

    plain = BoardModel(CFG)  # no store: the DS commands do not exist, as in the gateware
    assert not p.parse_info(ask(plain, p.INFO).payload)["capabilities"] & p.CAP_DATASET
    f = ask(plain, p.DS_INFO, seq=[1])
    assert (f.cmd, f.payload[1]) == (p.ERROR, p.E_UNKNOWN_CMD)


def _opts(out, port: int, **kw) -> TrainOptions:
    base = dict(engine="board", epochs=2, train_samples=240, test_samples=40, out=out,
                checkpoint_every=80, port=f"socket://127.0.0.1:{port}", timeout=0.2,
                verify_golden=True, progress=False, plot=False)
    return TrainOptions(**{**base, **kw})


def _golden_run(ds: Dataset, out) -> dict:
    report = train(CFG, ds, TrainOptions(engine="golden", epochs=2, train_samples=240,
                                         test_samples=40, out=out, progress=False,
                                         plot=False))
    return {"report": report, "state": load_checkpoint(out / "checkpoint.npz").state}


def _same_network(a: dict, b: dict) -> None:
    for kind in ("W", "b"):
        for x, y in zip(a[kind], b[kind], strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y))
    assert list(a["lfsr"]) == list(b["lfsr"])


def test_training_from_the_store_is_bit_exact_with_golden(tmp_path) -> None:
    ds = dataset()
    board = BoardModel(CFG, store_bytes=1 << 20)
    port, stop, _ = serve_in_thread(board)
    try:
        report = train(CFG, ds, _opts(tmp_path / "board", port))
    finally:
        stop.set()
    assert report["board_samples_from"] == "store"
    want = _golden_run(ds, tmp_path / "golden")
    assert [h["train_acc"] for h in report["history"]] == [
        h["train_acc"] for h in want["report"]["history"]]
    assert report["final_test_acc"] == want["report"]["final_test_acc"]
    _same_network(load_checkpoint(tmp_path / "board" / "checkpoint.npz").state, want["state"])
    assert board.golden.samples_trained == 480
    assert board.counters["seq_gaps"] == 0


def test_a_short_run_streams_and_says_why(tmp_path, capsys) -> None:
    ds = dataset(3000, 10)
    board = BoardModel(CFG, store_bytes=1 << 20)
    port, stop, _ = serve_in_thread(board)
    try:
        report = train(CFG, ds, _opts(tmp_path / "b", port, epochs=1, train_samples=20,
                                      test_samples=10))
    finally:
        stop.set()
    assert report["board_samples_from"] == "link"
    assert "fewer bytes than the" in capsys.readouterr().out
    assert board.store == bytearray(1 << 20)


def test_upload_survives_crc_faults_and_a_cut_then_resumes(monkeypatch) -> None:
    monkeypatch.setattr(di, "PIECE", 2048)
    ds = dataset(400, 100, seed=3)
    img = di.build_image(ds, CFG)
    assert len(img.pieces()) > 8
    board = BoardModel(CFG, store_bytes=1 << 20)
    port, stop, _ = serve_in_thread(board)
    proxy = FaultProxy(port, FaultRates(flip=3e-4, cut_after=len(img.data) // 2), seed=4)
    try:
        url = f"socket://127.0.0.1:{proxy.start()}"
        eng = BoardEngine(CFG, url, timeout=0.25, retries=40)
        with pytest.raises(BoardError):
            eng.sync_image(img, progress=False)
        eng.close()
        assert proxy.injected["cut"] == 1 and proxy.injected["flip"] > 0
        eng = BoardEngine(CFG, url, timeout=0.25, retries=40)
        left = eng.missing_pieces(img)
        assert 0 < len(left) < len(img.pieces())  # what arrived before the cut stays
        assert eng.sync_image(img, progress=False) == sum(n for _, n in left)
        assert eng.missing_pieces(img) == []
        assert eng.sync_image(img, progress=False) == 0  # held already: nothing sent
        eng.close()
    finally:
        proxy.stop()
        stop.set()
    assert bytes(board.store[:len(img.data)]) == img.data


class FlakyBoard(BoardModel):
    """Resets (or loses power) as the ``at``-th DS_TRAIN frame arrives, before running it."""

    def __init__(self, *a, at: int, power: bool, **kw):
        super().__init__(*a, **kw)
        self.at, self.power, self.trains, self.writes = at, power, 0, 0

    def _frame(self, f: p.Frame) -> bytes:
        if f.cmd == p.DS_WRITE:
            self.writes += 1
        if f.cmd == p.DS_TRAIN and f.seq == self.expected:
            self.trains += 1
            if self.trains == self.at:
                self.store[:] = bytes(len(self.store)) if self.power else self.store
                self._reset()
                return b""
        return super()._frame(f)


@pytest.mark.parametrize("power", [False, True], ids=["reset", "power-cycle"])
def test_board_reset_mid_run_resumes_with_every_sample_once(tmp_path, power: bool) -> None:
    ds = dataset()
    board = FlakyBoard(CFG, store_bytes=1 << 20, at=3, power=power)
    port, stop, _ = serve_in_thread(board)
    try:
        with pytest.raises(BoardError, match="stopped answering"):
            train(CFG, ds, _opts(tmp_path / "b", port, recover=0))
        writes = board.writes
        report = train(CFG, ds, _opts(tmp_path / "b", port, resume=True))
    finally:
        stop.set()
    # a power cycle emptied the store: the resumed run sent the set again; a reset did not
    assert (board.writes > writes) == power
    want = _golden_run(ds, tmp_path / "golden")
    assert report["final_test_acc"] == want["report"]["final_test_acc"]
    _same_network(load_checkpoint(tmp_path / "b" / "checkpoint.npz").state, want["state"])


@pytest.mark.parametrize("power", [False, True], ids=["reset", "power-cycle"])
def test_board_reset_mid_run_is_recovered_by_itself(tmp_path, power: bool) -> None:
    """The driver notices the board is back (INFO answers), reloads the last checkpoint
    (and, after a power cycle, the store) and goes on: one run, every sample once."""
    ds = dataset()
    board = FlakyBoard(CFG, store_bytes=1 << 20, at=3, power=power)
    port, stop, _ = serve_in_thread(board)
    try:
        report = train(CFG, ds, _opts(tmp_path / "b", port))
    finally:
        stop.set()
    assert board.trains > 3  # the reset happened and training went on after it
    want = _golden_run(ds, tmp_path / "golden")
    assert [h["test_acc"] for h in report["history"]] == \
        [h["test_acc"] for h in want["report"]["history"]]
    _same_network(load_checkpoint(tmp_path / "b" / "checkpoint.npz").state, want["state"])


def test_a_board_that_does_not_come_back_stops_the_run(tmp_path) -> None:
    ds = dataset()
    board = FlakyBoard(CFG, store_bytes=1 << 20, at=2, power=False)
    port, stop, _ = serve_in_thread(board)
    real = board._reset

    def dead() -> None:
        real()
        stop.set()  # the server goes away: nothing answers any more

    board._reset = dead
    with pytest.raises(BoardLost):
        train(CFG, ds, _opts(tmp_path / "b", port, recover_wait=1.0))
    ck = load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert (ck.epoch, ck.position) == (0, 80)  # what was checkpointed stays


def test_mnist_from_the_store_is_bit_exact_with_golden(tmp_path, mnist) -> None:
    """Real MNIST (the up5k network, 300 training and 100 test images): trained from the
    golden board's store with --verify-golden, then the same run on the golden engine."""
    from epfpga.model.config import get_config

    cfg = get_config("up5k")
    ds = mnist.subset(300, 100)
    board = BoardModel(cfg, store_bytes=1 << 20)
    port, stop, _ = serve_in_thread(board)
    try:
        report = train(cfg, ds, TrainOptions(
            engine="board", epochs=2, out=tmp_path / "b", checkpoint_every=100,
            port=f"socket://127.0.0.1:{port}", timeout=2.0, verify_golden=True,
            progress=False, plot=False))
    finally:
        stop.set()
    assert report["board_samples_from"] == "store"
    want = train(cfg, ds, TrainOptions(engine="golden", epochs=2, out=tmp_path / "g",
                                       progress=False, plot=False))
    assert [h["train_acc"] for h in report["history"]] == [
        h["train_acc"] for h in want["history"]]
    assert report["final_test_acc"] == want["final_test_acc"]
    _same_network(load_checkpoint(tmp_path / "b" / "checkpoint.npz").state,
                  load_checkpoint(tmp_path / "g" / "checkpoint.npz").state)
    assert board.golden.samples_trained == 600
