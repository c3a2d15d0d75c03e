"""A board that speaks the host protocol, computed by the golden model.

It is the reference the gateware link must behave like, the peer for driver fault tests,
and `epfpga sim-board --model golden` serves it on TCP so the whole host path can be
exercised without hardware.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

import numpy as np

from . import protocol as p
from .config import EPConfig
from .golden import GoldenModel


class BoardModel:
    """``clock_hz``/``baud``: what INFO reports (0, 0: a board with no UART, as the
    byte-stream SoC in simulation); ``window``: the receive store INFO advertises."""

    def __init__(self, cfg: EPConfig, clock_hz: int = 0, baud: int = 0,
                 window: int = p.STORE_BYTES):
        self.cfg = cfg
        self.clock_hz, self.baud, self.window = clock_hz, baud, window
        self.golden = GoldenModel(cfg)
        self.parser = p.StreamParser()
        self.expected = 0
        # one slot per sequence number modulo the window, as the gateware keeps them:
        # (seq, cmd, answer)
        self.slots: list[tuple[int, int, bytes] | None] = [None] * p.REPLAY_WINDOW
        self.counters = dict.fromkeys(p.STATUS_FIELDS, 0)
        self.lock = threading.Lock()

    def receive(self, data: bytes) -> bytes:
        """Bytes in from the host, bytes out to it."""
        with self.lock:
            out = bytearray()

            def execute(frame: p.Frame) -> None:  # as its last byte arrives
                self._sync_counters()
                out.extend(self._frame(frame))

            self.parser.feed(data, execute)
            self._sync_counters()
            return bytes(out)

    def line_idle(self) -> None:
        """The line was quiet for the gateware's inter-byte timeout: a partial frame is
        dropped, as the board's parser does."""
        with self.lock:
            self.parser.timeout()
            self._sync_counters()

    def _sync_counters(self) -> None:
        self.counters["crc_errors"] = self.parser.crc_errors
        self.counters["framing_errors"] = self.parser.framing_errors

    def new_connection(self) -> None:
        """A new host session: partial bytes of the old one are meaningless."""
        with self.lock:
            self.parser.reset()

    def _frame(self, f: p.Frame) -> bytes:
        if f.cmd == p.INFO:  # side-effect free: always answered, and it (re)starts the
            self.expected = f.seq  # sequence, so a new host session synchronises here
        if f.seq == self.expected:
            self.counters["frames_ok"] += 1  # counted on acceptance, as the gateware does
            resp = self._execute(f)
            self.slots[f.seq % p.REPLAY_WINDOW] = (f.seq, f.cmd, resp)
            self.expected = (self.expected + 1) % p.SEQ_MOD
            return resp
        back = (self.expected - f.seq) % p.SEQ_MOD
        slot = self.slots[f.seq % p.REPLAY_WINDOW]
        if 1 <= back <= p.REPLAY_WINDOW and slot is not None and slot[:2] == (f.seq, f.cmd):
            self.counters["replays"] += 1  # a retry: executed again only if it has no
            return self._execute(f) if f.cmd in p.REEXECUTED else slot[2]  # side effects
        self.counters["seq_gaps"] += 1  # go-back-N: the host resends in order
        return b""

    def _execute(self, f: p.Frame) -> bytes:
        cfg, g = self.cfg, self.golden

        def ok(payload: bytes = b"") -> bytes:
            return p.encode(f.cmd | p.RESPONSE, f.seq, payload)

        def err(code: int) -> bytes:
            return p.encode(p.ERROR, f.seq, bytes([f.cmd, code]))

        try:
            if f.cmd == p.INFO:
                return ok(p.info_payload(p.VERSION, cfg.digest, cfg.layers, self.clock_hz,
                                         self.baud, self.window))
            if f.cmd == p.STATUS:
                self.counters["samples"] = g.samples_trained
                return ok(b"".join(struct.pack("<I", self.counters[k] % (1 << p.STATUS_BITS[k]))
                                   for k in p.STATUS_FIELDS))
            if f.cmd in (p.READ, p.WRITE):
                return self._access(f, ok, err)
            if f.cmd == p.SET_PARAMS:
                if len(f.payload) != 8 * cfg.n_layers:
                    return err(p.E_BAD_PAYLOAD)
                q = np.frombuffer(f.payload, "<i8")
                if ((q < 0) | (q >= 1 << cfg.update_q_bits)).any():
                    return err(p.E_RANGE)
                g.update_q = tuple(int(v) for v in q)
                return ok()
            if f.cmd == p.TRAIN:
                if len(f.payload) < 2:
                    return err(p.E_BAD_PAYLOAD)
                y, neg = f.payload[0], f.payload[1]
                if y >= cfg.layers[-1]:
                    return err(p.E_RANGE)
                x = p.decode_sample(f.payload[2:], cfg.layers[0], cfg.act_one)
                tr = g.train_sample(x, y, beta_sign=-1 if neg else 1)
                return ok(bytes([tr.prediction]))
            if f.cmd == p.INFER:
                x = p.decode_sample(f.payload, cfg.layers[0], cfg.act_one)
                return ok(bytes([g.infer(x)]))
        except (ValueError, struct.error, IndexError):
            return err(p.E_BAD_PAYLOAD)
        self.counters["unknown_cmds"] += 1
        return err(p.E_UNKNOWN_CMD)

    def _access(self, f: p.Frame, ok, err) -> bytes:
        """READ/WRITE, checked in the gateware's order: the payload's shape, the region,
        the range, then (WRITE) every value, before anything changes."""
        cfg, g, n = self.cfg, self.golden, len(f.payload)
        if (n != 8) if f.cmd == p.READ else (n < 6 or (n - 6) % 8):
            return err(p.E_BAD_PAYLOAD)
        kind, layer, offset = struct.unpack_from("<BBI", f.payload)
        if kind > p.REGION_LFSR:
            return err(p.E_BAD_PAYLOAD)
        if layer >= cfg.n_layers:
            return err(p.E_RANGE)
        target = {p.REGION_W: g.W[layer].reshape(-1), p.REGION_B: g.b[layer],
                  p.REGION_LFSR: np.array([g.lfsr[layer]], dtype=np.int64)}[kind]
        if f.cmd == p.READ:
            (count,) = struct.unpack_from("<H", f.payload, 6)
            if offset + count > target.size or 8 * count > p.MAX_PAYLOAD:
                return err(p.E_RANGE)
            return ok(np.asarray(target[offset:offset + count], dtype="<i8").tobytes())
        vals = np.frombuffer(f.payload, "<i8", offset=6)
        if offset + len(vals) > target.size:
            return err(p.E_RANGE)
        lo, hi = (1, p.LFSR_MAX) if kind == p.REGION_LFSR else (cfg.weight_min,
                                                                 cfg.weight_max)
        if vals.size and (vals.min() < lo or vals.max() > hi):
            return err(p.E_RANGE)
        if kind == p.REGION_LFSR:
            if vals.size:
                g.lfsr[layer] = int(vals[0])
        else:
            target[offset:offset + len(vals)] = vals
        return ok()


def serve_tcp(board: BoardModel, port: int, host: str = "127.0.0.1",
              stop: threading.Event | None = None, ready: threading.Event | None = None
              ) -> None:
    """Serve one host at a time; a new connection takes over from the current one (a
    host that died without closing must not lock the board), and the board's state
    survives both.  A quiet line is the board's inter-byte timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(4)
        if ready is not None:
            ready.set()
        conn: socket.socket | None = None
        while stop is None or not stop.is_set():
            readable, _, _ = select.select([srv] + ([conn] if conn else []), [], [], 0.2)
            if not readable:
                board.line_idle()
                continue
            if srv in readable:  # a new session: the old one's partial frame is dropped
                if conn is not None:
                    conn.close()
                conn, _ = srv.accept()
                board.new_connection()
                continue
            try:
                data = conn.recv(65536)  # type: ignore[union-attr]
            except OSError:
                data = b""
            out = board.receive(data) if data else b""
            try:
                if not data:
                    raise OSError
                if out:
                    conn.sendall(out)  # type: ignore[union-attr]
            except OSError:
                conn.close()  # type: ignore[union-attr]
                conn = None
        if conn is not None:
            conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_thread(board: BoardModel) -> tuple[int, threading.Event, threading.Thread]:
    """Serve ``board`` on a free 127.0.0.1 port in a daemon thread: (port, stop, thread)."""
    port = free_port()
    stop, ready = threading.Event(), threading.Event()
    th = threading.Thread(target=serve_tcp, args=(board, port), daemon=True,
                          kwargs={"stop": stop, "ready": ready})
    th.start()
    ready.wait(5)
    return port, stop, th
