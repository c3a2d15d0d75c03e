"""A fault-injecting TCP proxy between the host driver and a simulated board.

Every byte that crosses it, in either direction, may be dropped, bit-flipped,
duplicated or followed by a garbage byte, each with its own rate; a chunk may be held
back (a stall) and the connection may be cut.  Seeded, so a failing run can be replayed.
It is how the fault suite (tests/sw/host/test_faults_link.py) and ``epfpga bench faults`` show
that training over a bad link loses nothing and repeats nothing.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

#: per-byte faults
BYTE_FAULTS = ("drop", "flip", "dup", "insert")


@dataclass
class FaultRates:
    drop: float = 0.0
    flip: float = 0.0
    dup: float = 0.0
    insert: float = 0.0
    stall: float = 0.0  # per chunk: hold it back for stall_s
    repeat: float = 0.0  # per chunk: send it twice (whole frames arrive twice)
    stall_s: float = 1.5
    cut_after: int | None = None  # bytes to the board after which the connection is cut
    directions: tuple[str, ...] = ("to_board", "to_host")

    def byte_rate(self) -> float:
        return self.drop + self.flip + self.dup + self.insert


@dataclass
class FaultProxy:
    """Listens on 127.0.0.1 (``port`` after ``start``) and forwards to ``target``."""

    target: int
    rates: FaultRates
    seed: int = 0
    injected: Counter = field(default_factory=Counter)
    port: int = 0

    def start(self) -> int:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(4)
        self._srv.settimeout(0.2)
        self.port = self._srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        self._srv.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._srv.accept()
            except (TimeoutError, OSError):
                continue
            try:
                board = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, board):
                s.settimeout(None)  # a link may be silent for long: only a close ends it
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sent = [0]
            threading.Thread(target=self._pump, args=(client, board, "to_board", sent),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(board, client, "to_host", sent),
                             daemon=True).start()

    def _mangle(self, data: bytes, direction: str) -> bytes:
        r = self.rates
        if direction not in r.directions or not r.byte_rate():
            return data
        out = bytearray()
        with self._lock:
            rng = self._rng
            for byte in data:
                x = rng.random()
                if x < r.drop:
                    self.injected["drop"] += 1
                    continue
                x -= r.drop
                if x < r.flip:
                    self.injected["flip"] += 1
                    byte ^= 1 << rng.randrange(8)
                elif x - r.flip < r.dup:
                    self.injected["dup"] += 1
                    out.append(byte)
                elif x - r.flip - r.dup < r.insert:
                    self.injected["insert"] += 1
                    out.append(byte)
                    byte = rng.randrange(256)
                out.append(byte)
        return bytes(out)

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              sent: list[int]) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    stall = direction in self.rates.directions and \
                        self._rng.random() < self.rates.stall
                if stall:
                    self.injected["stall"] += 1
                    time.sleep(self.rates.stall_s)
                data = self._mangle(data, direction)
                with self._lock:
                    if direction in self.rates.directions and \
                            self._rng.random() < self.rates.repeat:
                        self.injected["repeat"] += 1
                        data += data
                if direction == "to_board" and self.rates.cut_after is not None:
                    sent[0] += len(data)
                    if sent[0] > self.rates.cut_after:
                        self.injected["cut"] += 1
                        self.rates.cut_after = None  # once
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
