"""``epfpga selftest``: the first thing to run on a new board (or a simulated one).

Each step prints one PASS/FAIL line; the exit code is 0 only when all pass.

1. link: INFO answers at the host's baud; protocol version, config digest, the board's
   baud (and clock, with --board) against the host's;
2. memory: every weight, bias and LFSR region written with two patterns (the second the
   bitwise complement of the first, so every bit is seen at 0 and 1; values differ by
   address, so an address fault shows) and read back;
3. train: a few samples trained from the golden model's initial network and a few
   inferred, predictions and every weight read back compared with the golden model;
4. status: the board's error counters did not move (no CRC or framing error, no
   overrun, no sequence gap) and the driver resent nothing;
5. restore: what the board held before the test written back and read back equal.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from epfpga.boards.profiles import DEFAULT_BAUD, PROFILES, profile
from epfpga.errors import EpfpgaError
from epfpga.host import protocol as p
from epfpga.model.config import PRESETS, EPConfig, get_config


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--port", required=True,
                    help="serial device (/dev/ttyUSB1, /dev/serial/by-id/...) or "
                         "socket://127.0.0.1:PORT for `epfpga sim-board`")
    ap.add_argument("--config", default=None,
                    help=f"preset ({', '.join(PRESETS)}) or .toml/.json file the board was "
                         "built for (default: the board's build config with --board, "
                         "else up5k)")
    ap.add_argument("--board", choices=sorted(PROFILES), default=None,
                    help="check the board's clock and baud against this board's build")
    ap.add_argument("--baud", type=int, default=None,
                    help=f"serial baud (default: the board's with --board, else "
                         f"{DEFAULT_BAUD})")
    ap.add_argument("--samples", type=int, default=8,
                    help="samples trained and inferred against the golden model")
    ap.add_argument("--timeout", type=float, default=1.0,
                    help="seconds to wait for an answer before resending")


class Report:
    """Prints a line per step; remembers whether all passed."""

    def __init__(self) -> None:
        self.results: list[bool] = []

    def step(self, name: str, fn: Callable[[], str]) -> bool:
        from epfpga.host.driver import BoardError

        try:
            detail, ok = fn(), True
        except _Failed as e:
            detail, ok = str(e), False
        except BoardError as e:
            detail, ok = f"the board did not answer as it should: {e}", False
        print(f"  {name:<8} {'PASS' if ok else 'FAIL'}  {detail}", flush=True)
        self.results.append(ok)
        return ok

    def skip(self, name: str, why: str) -> None:
        print(f"  {name:<8} SKIP  {why}", flush=True)
        self.results.append(False)


class _Failed(Exception):
    pass


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise _Failed(message)


def _link(board: Any, cfg: EPConfig, baud: int, clock_hz: int | None) -> str:
    try:
        info = board.info()
    except EpfpgaError as e:
        raise _Failed(f"no valid answer to INFO at {baud} baud ({e}); check the port, that "
                      f"the board is programmed, and that it was built for {baud} baud "
                      "(epfpga build --baud)") from None
    _check(info["digest"] == cfg.digest,
           f"the board runs config digest {info['digest']} (layers {info['layers']}), the "
           f"host config {cfg.name!r} has {cfg.digest}: pass the board's --config or "
           "program a build of this one")
    if info["baud"]:
        _check(info["baud"] == baud, f"the board is built for {info['baud']} baud, the "
                                     f"host opened the port at {baud}")
        speed = f"{info['clock_hz'] / 1e6:g} MHz, {info['baud']} baud"
    else:
        speed = "byte-stream simulation (no UART)"
    if clock_hz and info["baud"]:
        _check(info["clock_hz"] == clock_hz, f"the board's core clock is "
                                             f"{info['clock_hz'] / 1e6:g} MHz, its build "
                                             f"profile's {clock_hz / 1e6:g} MHz")
    _check(info["window"] >= p.store_cost(p.MAX_PAYLOAD),
           f"the board's receive window of {info['window']} bytes does not hold one "
           "largest frame")
    return (f"protocol {info['version']}, config {cfg.name} digest {info['digest']}, "
            f"{speed}, receive window {info['window']} bytes")


def _regions(cfg: EPConfig) -> list[tuple[str, int, int, int, int, int]]:
    """(name, kind, layer, size, lowest, highest value) of every host-visible region."""
    out = []
    for i in range(cfg.n_layers):
        out += [(f"W{i}", p.REGION_W, i, cfg.layers[i] * cfg.layers[i + 1], cfg.weight_min,
                 cfg.weight_max),
                (f"b{i}", p.REGION_B, i, cfg.layers[i + 1], cfg.weight_min, cfg.weight_max),
                (f"lfsr{i}", p.REGION_LFSR, i, 1, 1, p.LFSR_MAX)]
    return out


def patterns(size: int, lo: int, hi: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two patterns in [lo, hi]: values that differ by address, and their bitwise
    complement within the range's bits (signed: ~v; unsigned LFSR: v ^ all ones)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(lo, hi, size, endpoint=True, dtype=np.int64)
    if lo < 0:
        return a, ~a  # two's complement: [min, max] onto itself
    a[a == hi] = hi - 1  # its complement would be 0, which an LFSR may not hold
    return a, a ^ hi


def _memory(board: Any, cfg: EPConfig) -> str:
    bad = []
    total = 0
    for n, (name, kind, layer, size, lo, hi) in enumerate(_regions(cfg)):
        for k, pat in enumerate(patterns(size, lo, hi, n)):
            board.write(kind, layer, pat)
            got = board.read(kind, layer, size)
            if not np.array_equal(got, pat):
                wrong = np.flatnonzero(got != pat)
                bad.append(f"{name} pattern {k + 1}: {wrong.size} of {size} wrong, first at "
                           f"{wrong[0]} (wrote {pat[wrong[0]]}, read {got[wrong[0]]})")
        total += size
    _check(not bad, "; ".join(bad))
    return f"{total} values in {len(_regions(cfg))} regions, 2 patterns each, read back equal"


def _samples(cfg: EPConfig, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train X, train Y, inference X), quantized: MNIST for 784-input configs."""
    from epfpga.model.numerics import quantize_pixels

    if cfg.layers[0] == 784:
        try:
            from epfpga.data.datasets import load_dataset

            ds = load_dataset("mnist")
            return (quantize_pixels(ds.x_train[:n], cfg), ds.y_train[:n].astype(np.int64),
                    quantize_pixels(ds.x_test[:n], cfg))
        except EpfpgaError:
            pass  # no MNIST cached: random pixels test the board as well
    rng = np.random.default_rng(0)
    shape = (2 * n, cfg.layers[0])
    X = rng.integers(0, cfg.act_one + 1, shape) * (rng.random(shape) < 0.5)
    return X[:n], rng.integers(0, cfg.layers[-1], n), X[n:]


def _train(engine: Any, cfg: EPConfig, n: int) -> str:
    from epfpga.model.golden import GoldenModel

    X, Y, Xi = _samples(cfg, n)
    golden = GoldenModel(cfg)
    golden.set_epoch(0)
    engine.init_weights()
    engine.set_update_q(cfg.update_q_at(0))
    got = np.asarray(engine.train_many(X, Y))
    want = np.array([golden.train_sample(x, int(y)).prediction for x, y in zip(X, Y,
                                                                               strict=True)])
    _check(np.array_equal(got, want), f"training predictions differ from the golden model "
                                      f"at samples {np.flatnonzero(got != want).tolist()}")
    st = engine.state_dict()
    diff = [f"W{i}" for i in range(cfg.n_layers) if not np.array_equal(st["W"][i], golden.W[i])]
    diff += [f"b{i}" for i in range(cfg.n_layers) if not np.array_equal(st["b"][i], golden.b[i])]
    diff += [f"lfsr{i}" for i in range(cfg.n_layers) if st["lfsr"][i] != golden.lfsr[i]]
    _check(not diff, f"weights read back after training differ from the golden model: "
                     f"{', '.join(diff)}")
    inf = np.asarray(engine.infer_batch(Xi))
    _check(np.array_equal(inf, golden.infer_batch(Xi)),
           "inference predictions differ from the golden model")
    return (f"{n} samples trained, predictions and all weights bit-exact with the golden "
            f"model; {len(Xi)} inferences equal")


def _status(board: Any, before: dict[str, int], trained: int, resends: int) -> str:
    after = board.status()
    d = {k: (after[k] - before[k]) % (1 << p.STATUS_BITS[k]) for k in p.STATUS_FIELDS}
    errors = {k: d[k] for k in ("crc_errors", "framing_errors", "overruns", "seq_gaps",
                                "unknown_cmds")}
    text = ", ".join(f"{k} +{v}" for k, v in errors.items())
    _check(not any(errors.values()) and resends == 0,
           f"{text}, {resends} frames resent: the link is not clean (baud error, a loose "
           "cable, another program on the port?)")
    _check(d["samples"] == trained, f"the board counted {d['samples']} samples, the host "
                                    f"trained {trained}")
    return f"{text}; {d['frames_ok']} frames, no resends, samples +{d['samples']}"


def _restore(engine: Any, saved: dict[str, Any]) -> str:
    engine.load_state_dict(saved)
    now = engine.state_dict()
    same = all(np.array_equal(a, b) for a, b in zip(now["W"] + now["b"],
                                                    saved["W"] + saved["b"], strict=True))
    _check(same and list(now["lfsr"]) == list(saved["lfsr"]),
           "the weights written back differ when read")
    return "the weights, biases and LFSRs the board held before the test, read back equal"


def run(args: argparse.Namespace) -> int:
    from epfpga.host.driver import Board, BoardEngine, open_transport

    if args.samples < 1:
        raise EpfpgaError(f"--samples must be at least 1, got {args.samples}")
    clock_hz, board_baud, board_config = _board_defaults(args.board)
    cfg = get_config(args.config or board_config)
    baud = args.baud or board_baud
    print(f"epfpga selftest: {args.port} at {baud} baud, config {cfg.name} "
          f"(digest {cfg.digest})", flush=True)
    transport = open_transport(args.port, baud)
    rep = Report()
    try:
        board = Board(transport, timeout=args.timeout)
        if not rep.step("link", lambda: _link(board, cfg, baud, clock_hz)):
            for name in ("memory", "train", "status", "restore"):
                rep.skip(name, "needs the link")
            return _summary(rep)
        engine = BoardEngine(cfg, transport, timeout=args.timeout)
        before = engine.board.status()
        saved = engine.state_dict()
        rep.step("memory", lambda: _memory(engine.board, cfg))
        trained = args.samples if rep.step("train", lambda: _train(engine, cfg,
                                                                   args.samples)) else -1
        resends = board.resends + engine.board.resends
        if trained < 0:
            rep.skip("status", "training failed")
        else:
            rep.step("status", lambda: _status(engine.board, before, trained, resends))
        rep.step("restore", lambda: _restore(engine, saved))
    finally:
        transport.close()
    return _summary(rep)


def _board_defaults(board: str | None) -> tuple[int | None, int, str]:
    """(clock Hz, baud, config) of a board's build profile; without a board only the
    baud, the one every profile uses."""
    if not board:
        return None, DEFAULT_BAUD, "up5k"
    prof = profile(board)
    return int(prof.clock_hz), prof.baud, prof.config


def _summary(rep: Report) -> int:
    passed = sum(rep.results)
    ok = passed == len(rep.results)
    print(f"selftest {'PASS' if ok else 'FAIL'} ({passed} of {len(rep.results)} steps passed)",
          flush=True)
    return 0 if ok else 1
