"""Host driver: talks to a real or simulated board over a serial port (``/dev/ttyUSB1``,
at the board's baud) or TCP (``socket://127.0.0.1:PORT``, ``epfpga sim-board``), or any
object with read/write.

Several frames are kept in flight, within the board's receive window.  Answers are
matched to their requests by sequence number: a stale or duplicated answer is ignored,
never taken for silence.  A request is sent again only when something says it is needed:
a later request was answered while an earlier one was not (its answer was lost: only the
unanswered ones go again), or the board has been silent for ``timeout`` (go back to the
oldest unanswered request).  The board executes only the next sequence number and
answers a retry of one it already ran from the outcome it stored, so no sample is ever
trained twice or skipped, whatever the link loses, duplicates or damages.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from . import protocol as p
from .boards.profiles import DEFAULT_BAUD
from .config import EPConfig
from .errors import EpfpgaError
from .numerics import lfsr_seed, lfsr_step


class BoardError(EpfpgaError):
    pass


class Transport(Protocol):
    def write(self, data: bytes) -> Any: ...
    def read(self, n: int) -> bytes: ...


class SocketTransport:
    """TCP to a simulated board: whole reads of what has arrived (pyserial's socket://
    reads one byte per call), no Nagle delay on the small frames."""

    def __init__(self, host: str, port: int, timeout: float = 0.2):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def read(self, n: int = 65536) -> bytes:
        """What has arrived, up to ``max(n, 64 KiB)``, waiting up to ``timeout`` for
        the first byte; b"" on a timeout."""
        ready, _, _ = select.select([self.sock], [], [], self.timeout)
        if not ready:
            return b""
        data = self.sock.recv(max(n, 65536))
        if not data:
            raise BoardError("the simulated board closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def open_transport(url: str, baud: int = DEFAULT_BAUD, timeout: float = 0.2) -> Any:
    """A serial device at ``baud``, or ``socket://HOST:PORT``; one clear line when it
    cannot be opened."""
    if url.startswith("socket://"):
        u = urlparse(url)
        try:
            return SocketTransport(u.hostname or "127.0.0.1", int(u.port or 0), timeout)
        except ValueError:
            raise BoardError(f"cannot open {url}: expected socket://HOST:PORT") from None
        except OSError as e:
            raise BoardError(f"cannot connect to {url} ({e.strerror or e}): is `epfpga "
                             "sim-board` running on that port?") from None
    import serial

    try:
        t = serial.serial_for_url(url, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as e:
        raise BoardError(f"cannot open {url} at {baud} baud: {e}") from None
    try:  # Linux: no 16 ms FTDI latency on every short answer
        t.set_low_latency_mode(True)
    except (AttributeError, ValueError, OSError, NotImplementedError):
        pass
    return t


class Board:
    def __init__(self, transport: Any, window: int = 8, timeout: float = 1.0,
                 retries: int = 10):
        self.t = transport
        self.window = window
        self.timeout = timeout  # board silence before unanswered requests go again
        self.retries = retries  # resend rounds in a row without progress before giving up
        self.seq = 0
        self.parser = p.Parser()
        self.resends = 0
        self.stale = 0  # answers to no outstanding request (late, duplicated, replayed)
        self.window_bytes = p.STORE_BYTES  # until INFO says otherwise
        # values per READ/WRITE frame: halved after a call that needed resends (a long
        # frame on a noisy line rarely arrives whole), doubled back after a clean one
        self.chunk = p.CHUNK
        self._resent = False  # the last transact needed a resend

    # ------------------------------------------------------------ transport core
    def _read_frames(self, deadline: float) -> list[p.Frame]:
        while time.monotonic() < deadline:
            n = getattr(self.t, "in_waiting", 0) or 0
            data = self.t.read(max(1, n))  # waits up to the transport's timeout
            # a quiet line ends a partial frame (see Parser.timeout)
            frames = self.parser.feed(data) if data else self.parser.timeout()
            if frames:
                return frames
        return []

    def transact(self, requests: list[tuple[int, bytes]]) -> list[bytes]:
        """Send (cmd, payload) requests pipelined; return their answers' payloads in
        order.  Raises BoardError when the board refuses one or stops answering."""
        frames = []
        for cmd, payload in requests:
            frames.append((cmd, self.seq, p.encode(cmd, self.seq, payload)))
            self.seq = (self.seq + 1) % p.SEQ_MOD
        n = len(frames)
        index = {seq: i for i, (_, seq, _) in enumerate(frames)}
        cost = [p.store_cost(len(f[2]) - p.HEADER - p.TRAILER) for f in frames]
        answers: list[bytes | None] = [None] * n
        base = sent = rounds = 0
        self._resent = False
        crc0, framing0 = self.parser.crc_errors, self.parser.framing_errors
        quiet_since = last_resend = time.monotonic()
        while base < n:
            while sent < n and sent - base < self.window and (
                    sent == base or sum(cost[base:sent + 1]) <= self.window_bytes):
                self.t.write(frames[sent][2])
                sent += 1
            got = self._read_frames(time.monotonic() + min(self.timeout, 0.05))
            for f in got:
                i = index.get(f.seq)
                if i is None or i >= sent or answers[i] is not None:
                    self.stale += 1
                    continue
                cmd = frames[i][0]
                if f.cmd == p.ERROR and f.payload[:1] == bytes([cmd]):
                    raise BoardError(f"board refused command {cmd:#x}: error "
                                     f"{f.payload[1] if len(f.payload) > 1 else '?'}")
                if f.cmd != cmd | p.RESPONSE:
                    self.stale += 1
                    continue
                answers[i] = f.payload
                quiet_since = time.monotonic()
            if answers[base] is not None:
                while base < n and answers[base] is not None:
                    base += 1
                rounds = 0
                continue
            now = time.monotonic()
            gap = any(a is not None for a in answers[base:sent])  # an answer was lost
            silent = now - max(quiet_since, last_resend) >= self.timeout
            if not (silent or (gap and now - last_resend >= self.timeout / 4)):
                continue
            rounds += 1
            if rounds > self.retries:
                raise BoardError(self._stopped(crc0, framing0))
            todo = [i for i in range(base, sent) if answers[i] is None]
            for i in todo:
                self.t.write(frames[i][2])
            self.resends += len(todo)
            last_resend = now
            self._resent = True
        return [a for a in answers if a is not None]

    def _adapt(self) -> None:
        self.chunk = max(16, self.chunk // 2) if self._resent else min(p.CHUNK,
                                                                       self.chunk * 2)

    def _stopped(self, crc0: int, framing0: int) -> str:
        crc = self.parser.crc_errors - crc0
        junk = self.parser.framing_errors - framing0
        if crc:
            why = (f"its answers keep arriving damaged ({crc} failed their CRC; check the "
                   "cable and that host and board use the same baud)")
        elif junk:
            why = ("it sends bytes that are not frames (is it built for this baud, "
                   "epfpga build --baud, and programmed with this epfpga version?)")
        else:
            why = (f"no answer for {self.timeout:g} s, {self.retries} times (is the board "
                   "programmed, powered and on this port? a slow simulated board needs a "
                   "longer --timeout)")
        return (f"the board stopped answering: {why}; weights up to the last checkpoint "
                "are safe: fix the link and --resume")

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

    def read(self, kind: int, layer: int, size: int, chunk: int | None = None) -> np.ndarray:
        chunk = chunk or self.chunk
        reqs = [(p.READ, p.access_payload(kind, layer, o, min(chunk, size - o)))
                for o in range(0, size, chunk)]
        out = np.concatenate([np.frombuffer(r, "<i8") for r in self.transact(reqs)])
        self._adapt()
        return out.astype(np.int64)

    def write(self, kind: int, layer: int, values: np.ndarray, chunk: int | None = None
              ) -> None:
        chunk = chunk or self.chunk
        v = np.asarray(values, dtype=np.int64).ravel()
        self.transact([(p.WRITE, p.access_payload(kind, layer, o, v[o:o + chunk]))
                       for o in range(0, v.size, chunk)])
        self._adapt()

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

    def __init__(self, cfg: EPConfig, url: str | Any, baud: int = DEFAULT_BAUD, **kw: Any):
        self.cfg = cfg
        self.board = Board(open_transport(url, baud) if isinstance(url, str) else url, **kw)
        info = self.board.info()
        if isinstance(url, str) and not url.startswith("socket://") and info["baud"] \
                and info["baud"] != baud:
            raise BoardError(f"the board is built for {info['baud']} baud, but {url} was "
                             f"opened at {baud}: pass --baud {info['baud']}")
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
