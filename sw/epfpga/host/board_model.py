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

from epfpga.data.dataset_image import crc32, read_record
from epfpga.host import protocol as p
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel


class BoardModel:
    """``clock_hz``/``baud``: what INFO reports (0, 0: a board with no UART, as the
    byte-stream SoC in simulation); ``window``: the receive store INFO advertises;
    ``store_bytes``: a dataset store of that size (the ULX3S's SDRAM; 0: none, as the
    gateware today), which survives ``reset`` but not ``power_cycle``."""

    def __init__(self, cfg: EPConfig, clock_hz: int = 0, baud: int = 0,
                 window: int = p.STORE_BYTES, store_bytes: int = 0):
        self.cfg = cfg
        self.clock_hz, self.baud, self.window = clock_hz, baud, window
        self.store = bytearray(store_bytes)
        self.lock = threading.Lock()
        self._reset()

    def reset(self) -> None:
        """The board's reset: the network back to its initial weights, the link state
        and counters cleared; the dataset store (SDRAM) keeps its contents."""
        with self.lock:
            self._reset()

    def _reset(self) -> None:
        self.golden = GoldenModel(self.cfg)
        self.parser = p.StreamParser()
        self.expected = 0
        # one slot per sequence number modulo the window, as the gateware keeps them:
        # (seq, cmd, answer)
        self.slots: list[tuple[int, int, bytes] | None] = [None] * p.REPLAY_WINDOW
        self.counters = dict.fromkeys(p.STATUS_FIELDS, 0)

    def power_cycle(self) -> None:
        """A reset that also loses the dataset store (SDRAM keeps nothing unpowered)."""
        with self.lock:
            self.store = bytearray(len(self.store))
            self._reset()

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
                caps = p.CAP_BASE | (p.CAP_DATASET if self.store else 0)
                return ok(p.info_payload(p.VERSION, cfg.digest, cfg.layers, self.clock_hz,
                                         self.baud, self.window, caps))
            if self.store and f.cmd in (p.DS_INFO, p.DS_WRITE, p.DS_DIGEST, p.DS_TRAIN,
                                        p.DS_INFER):
                return self._dataset(f, ok, err)
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

    def _dataset(self, f: p.Frame, ok, err) -> bytes:
        """The dataset store's commands; every check comes before anything changes."""
        cfg, g, store, n = self.cfg, self.golden, self.store, len(f.payload)
        if f.cmd == p.DS_INFO:
            return ok(struct.pack("<IH", len(store), p.DS_RUN_MAX))
        if f.cmd == p.DS_WRITE:
            if n < 4:
                return err(p.E_BAD_PAYLOAD)
            (offset,) = struct.unpack_from("<I", f.payload)
            if offset + n - 4 > len(store):
                return err(p.E_RANGE)
            store[offset:offset + n - 4] = f.payload[4:]
            return ok()
        if f.cmd == p.DS_DIGEST:
            if n != 8:
                return err(p.E_BAD_PAYLOAD)
            offset, length = struct.unpack_from("<II", f.payload)
            if offset + length > len(store):
                return err(p.E_RANGE)
            return ok(struct.pack("<I", crc32(bytes(store[offset:offset + length]))))
        table, count, entries = p.parse_ds_run(f.payload)  # (ValueError: bad payload)
        if (entries & ~(p.DS_NEG | p.DS_INDEX)).any() or (
                f.cmd == p.DS_INFER and (entries & p.DS_NEG).any()):
            return err(p.E_BAD_PAYLOAD)
        if table + 4 * count > len(store) or ((entries & p.DS_INDEX) >= count).any():
            return err(p.E_RANGE)
        out = bytearray()
        for e in entries:
            rec = read_record(store, table, count, int(e) & p.DS_INDEX, cfg.layers[0],
                              cfg.act_one, cfg.layers[-1])
            if rec is None:
                out.append(p.DS_BAD_SAMPLE)
            elif f.cmd == p.DS_TRAIN:
                out.append(g.train_sample(rec[0], rec[1],
                                          beta_sign=-1 if e & p.DS_NEG else 1).prediction)
            else:
                out.append(g.infer(rec[0]))
        return ok(bytes(out))

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
