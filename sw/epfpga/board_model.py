"""A board that speaks the host protocol, computed by the golden model.

It is the reference the gateware link must behave like, the peer for driver fault tests,
and `epfpga sim-board --model golden` serves it on TCP so the whole host path can be
exercised without hardware.
"""

from __future__ import annotations

import socket
import struct
import threading

import numpy as np

from . import protocol as p
from .config import EPConfig
from .golden import GoldenModel


class BoardModel:
    def __init__(self, cfg: EPConfig):
        self.cfg = cfg
        self.golden = GoldenModel(cfg)
        self.parser = p.StreamParser()
        self.expected = 0
        # one slot per sequence number modulo the window, as the gateware keeps them
        self.slots: list[tuple[int, int, bytes] | None] = [None] * p.REPLAY_WINDOW
        self.counters = dict.fromkeys(p.STATUS_FIELDS, 0)
        self.lock = threading.Lock()

    def receive(self, data: bytes) -> bytes:
        """Bytes in from the host, bytes out to it."""
        with self.lock:
            out = bytearray()
            for frame in self.parser.feed(data):
                out += self._frame(frame)
            self.counters["crc_errors"] = self.parser.crc_errors
            self.counters["framing_errors"] = self.parser.framing_errors
            return bytes(out)

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
            self.expected = (self.expected + 1) & 0xFF
            return resp
        back = (self.expected - f.seq) & 0xFF
        slot = self.slots[f.seq % p.REPLAY_WINDOW]
        if 1 <= back <= p.REPLAY_WINDOW and slot is not None and slot[:2] == (f.seq, f.cmd):
            self.counters["replays"] += 1  # a retry: TRAIN answers as before, never
            return slot[2] if f.cmd == p.TRAIN else self._execute(f)  # trains twice
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
                sizes = b"".join(struct.pack("<H", n) for n in cfg.layers)
                return ok(bytes([p.VERSION]) + bytes.fromhex(cfg.digest) + struct.pack(
                    "<H", 0b11) + bytes([len(cfg.layers)]) + sizes)
            if f.cmd == p.STATUS:
                self.counters["samples"] = g.samples_trained
                return ok(b"".join(struct.pack("<I", self.counters[k] % (1 << p.STATUS_BITS[k]))
                                   for k in p.STATUS_FIELDS))
            if f.cmd in (p.READ, p.WRITE):
                kind, layer, offset = struct.unpack_from("<BBI", f.payload)
                if layer >= cfg.n_layers:
                    return err(p.E_RANGE)
                target = {p.REGION_W: g.W[layer].reshape(-1), p.REGION_B: g.b[layer]}.get(kind)
                size = 1 if kind == p.REGION_LFSR else (None if target is None else target.size)
                if size is None:
                    return err(p.E_BAD_PAYLOAD)
                if f.cmd == p.READ:
                    (count,) = struct.unpack_from("<H", f.payload, 6)
                    if offset + count > size or 8 * count > p.MAX_PAYLOAD:
                        return err(p.E_RANGE)
                    vals = [g.lfsr[layer]] if kind == p.REGION_LFSR else target[
                        offset:offset + count]
                    return ok(np.asarray(vals, dtype="<i8").tobytes())
                vals = np.frombuffer(f.payload, "<i8", offset=6)
                if offset + len(vals) > size:
                    return err(p.E_RANGE)
                if kind == p.REGION_LFSR:
                    g.lfsr[layer] = int(vals[0])
                else:
                    if vals.size and (vals.min() < cfg.weight_min or vals.max() > cfg.weight_max):
                        return err(p.E_RANGE)
                    target[offset:offset + len(vals)] = vals
                return ok()
            if f.cmd == p.SET_PARAMS:
                q = np.frombuffer(f.payload, "<i8")
                if len(q) != cfg.n_layers:
                    return err(p.E_BAD_PAYLOAD)
                if ((q < 0) | (q >= 1 << cfg.update_q_bits)).any():
                    return err(p.E_RANGE)
                g.update_q = tuple(int(v) for v in q)
                return ok()
            if f.cmd == p.TRAIN:
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


def serve_tcp(board: BoardModel, port: int, host: str = "127.0.0.1",
              stop: threading.Event | None = None, ready: threading.Event | None = None
              ) -> None:
    """Serve one connection at a time; the board's state survives reconnects."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(1)
        srv.settimeout(0.2)
        if ready is not None:
            ready.set()
        while stop is None or not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            board.new_connection()
            with conn:
                conn.settimeout(0.2)
                while stop is None or not stop.is_set():
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    out = board.receive(data)
                    if out:
                        try:
                            conn.sendall(out)
                        except OSError:
                            break


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
