"""Host driver: talks to a real or simulated board through ``serial.serial_for_url``
(``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``), or any object with read/write.

Several frames are kept in flight (go-back-N window); on a timeout, CRC error or
sequence gap the unacknowledged frames are resent in order.  The board replays answers
to frames it already executed, so no sample is ever trained twice or skipped.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Protocol

import numpy as np

from . import protocol as p
from .config import EPConfig
from .errors import EpfpgaError
from .numerics import lfsr_seed, lfsr_step


class BoardError(EpfpgaError):
    pass


class Transport(Protocol):
    def write(self, data: bytes) -> Any: ...
    def read(self, n: int) -> bytes: ...


def open_transport(url: str, timeout: float = 0.2) -> Any:
    import serial

    try:
        return serial.serial_for_url(url, baudrate=3_000_000, timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as e:
        raise BoardError(f"cannot open {url}: {e}") from None


class Board:
    def __init__(self, transport: Any, window: int = 8, timeout: float = 1.0,
                 retries: int = 10):
        self.t = transport
        self.window = window
        self.timeout = timeout
        self.retries = retries
        self.seq = 0
        self.parser = p.Parser()
        self.resends = 0
        self.window_bytes = p.STORE_BYTES  # until INFO says otherwise

    # ------------------------------------------------------------ transport core
    def _read_frames(self, deadline: float) -> list[p.Frame]:
        while time.monotonic() < deadline:
            # at least one byte (or the transport's read timeout), then whatever is there
            data = self.t.read(max(1, getattr(self.t, "in_waiting", 0) or 0))
            if data:
                frames = self.parser.feed(data)
                if frames:
                    return frames
        return []

    def transact(self, requests: list[tuple[int, bytes]]) -> list[bytes]:
        """Send (cmd, payload) requests pipelined; return their response payloads in order."""
        frames = []
        for cmd, payload in requests:
            frames.append((cmd, self.seq, p.encode(cmd, self.seq, payload)))
            self.seq = (self.seq + 1) % p.SEQ_MOD
        results: list[bytes] = []
        base, sent, failures = 0, 0, 0
        cost = [p.store_cost(len(f[2]) - p.HEADER - p.TRAILER) for f in frames]
        while base < len(frames):
            # the board's receive store holds `window_bytes`; a UART cannot wait
            while sent < len(frames) and sent - base < self.window and (
                    sent == base or sum(cost[base:sent + 1]) <= self.window_bytes):
                self.t.write(frames[sent][2])
                sent += 1
            got = self._read_frames(time.monotonic() + self.timeout)
            progressed = False
            for f in got:
                cmd, seq, _ = frames[base]
                if f.seq != seq:
                    continue  # stale replay or answer to a frame already consumed
                if f.cmd == p.ERROR:
                    raise BoardError(f"board refused command {f.payload[0]:#x}: error "
                                     f"{f.payload[1] if len(f.payload) > 1 else '?'}")
                if f.cmd != cmd | p.RESPONSE:
                    continue
                results.append(f.payload)
                base += 1
                progressed = True
                if base == len(frames):
                    break
            if not progressed:
                failures += 1
                if failures > self.retries:
                    raise BoardError(
                        f"board stopped answering ({self.retries} retries without progress); "
                        "weights up to the last checkpoint are safe: fix the link and "
                        "--resume")
                self.resends += sent - base
                sent = base  # go back N
            else:
                failures = 0
        return results

    # ------------------------------------------------------------ commands
    def info(self) -> dict[str, Any]:
        (r,) = self.transact([(p.INFO, b"")])
        if r and r[0] != p.VERSION:
            raise BoardError(
                f"the board speaks protocol version {r[0]}, this host {p.VERSION}: rebuild "
                "and program the board from this version of epfpga")
        try:
            info = p.parse_info(r)
        except ValueError as e:
            raise BoardError(str(e)) from None
        self.window_bytes = info["window"]
        return info

    def status(self) -> dict[str, int]:
        (r,) = self.transact([(p.STATUS, b"")])
        return {k: struct.unpack_from("<I", r, 4 * i)[0] for i, k in enumerate(p.STATUS_FIELDS)}

    def read(self, kind: int, layer: int, size: int, chunk: int = p.CHUNK) -> np.ndarray:
        reqs = [(p.READ, p.access_payload(kind, layer, o, min(chunk, size - o)))
                for o in range(0, size, chunk)]
        return np.concatenate([np.frombuffer(r, "<i8") for r in self.transact(reqs)]) \
            .astype(np.int64)

    def write(self, kind: int, layer: int, values: np.ndarray, chunk: int = p.CHUNK) -> None:
        v = np.asarray(values, dtype=np.int64).ravel()
        self.transact([(p.WRITE, p.access_payload(kind, layer, o, v[o:o + chunk]))
                       for o in range(0, v.size, chunk)])

    def set_update_q(self, q: tuple[int, ...]) -> None:
        self.transact([(p.SET_PARAMS, np.asarray(q, dtype="<i8").tobytes())])

    def train(self, X: np.ndarray, Y: np.ndarray, negs: list[bool], act_one: int
              ) -> np.ndarray:
        """``act_one``: the config's 1.0, which sets the sample encoding's value width."""
        reqs = [(p.TRAIN, p.train_payload(x, int(y), neg, act_one))
                for x, y, neg in zip(X, Y, negs, strict=True)]
        return np.array([r[0] for r in self.transact(reqs)], dtype=np.int64)

    def infer(self, X: np.ndarray, act_one: int) -> np.ndarray:
        reqs = [(p.INFER, p.encode_sample(x, act_one)) for x in X]
        return np.array([r[0] for r in self.transact(reqs)], dtype=np.int64)


class BoardEngine:
    """The training engine over a board; keeps the host-side half of the state (the
    random-sign LFSR and the sample count) so a checkpoint holds everything."""

    def __init__(self, cfg: EPConfig, url: str | Any, **kw: Any):
        self.cfg = cfg
        self.board = Board(open_transport(url) if isinstance(url, str) else url, **kw)
        info = self.board.info()
        if info["version"] != p.VERSION:
            raise BoardError(
                f"the board speaks protocol version {info['version']}, this host "
                f"{p.VERSION}: rebuild and program the board from this version of epfpga")
        if info["digest"] != cfg.digest:
            raise BoardError(
                f"the board runs gateware for config digest {info['digest']} "
                f"(layers {info['layers']}), but the host config {cfg.name!r} has digest "
                f"{cfg.digest}: build and program the board for this config, or pass its "
                "config with --config")
        self.sign_lfsr = lfsr_seed(cfg.seed, cfg.n_layers)
        self.samples_trained = 0

    def _signs(self, n: int) -> list[bool]:
        out = []
        for _ in range(n):
            if self.cfg.nudge == "random_sign":
                self.sign_lfsr = lfsr_step(self.sign_lfsr)
                out.append(bool(self.sign_lfsr & 1))
            else:
                out.append(False)
        return out

    def train_many(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        pred = self.board.train(X, Y, self._signs(len(X)), self.cfg.act_one)
        self.samples_trained += len(X)
        return pred

    def infer_batch(self, X: np.ndarray) -> np.ndarray:
        return self.board.infer(X, self.cfg.act_one)

    def set_update_q(self, q: tuple[int, ...]) -> None:
        self.board.set_update_q(q)

    def init_weights(self) -> None:
        """Start from the same seeded initial network as the golden model."""
        from .golden import GoldenModel

        self.load_state_dict(GoldenModel(self.cfg).state_dict())

    def state_dict(self) -> dict[str, Any]:
        cfg, b = self.cfg, self.board
        W = [b.read(p.REGION_W, i, cfg.layers[i] * cfg.layers[i + 1])
             .reshape(cfg.layers[i + 1], cfg.layers[i]) for i in range(cfg.n_layers)]
        bias = [b.read(p.REGION_B, i, cfg.layers[i + 1]) for i in range(cfg.n_layers)]
        lfsr = [int(b.read(p.REGION_LFSR, i, 1)[0]) for i in range(cfg.n_layers)]
        return {"W": W, "b": bias, "lfsr": lfsr, "sign_lfsr": self.sign_lfsr,
                "samples_trained": self.samples_trained}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        for i in range(self.cfg.n_layers):
            self.board.write(p.REGION_W, i, np.asarray(d["W"][i]))
            self.board.write(p.REGION_B, i, np.asarray(d["b"][i]))
            self.board.write(p.REGION_LFSR, i, np.array([int(d["lfsr"][i])]))
        self.sign_lfsr = int(d["sign_lfsr"])
        self.samples_trained = int(d["samples_trained"])

    def close(self) -> None:
        close = getattr(self.board.t, "close", None)
        if close:
            close()
