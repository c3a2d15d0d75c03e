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
from tqdm import tqdm

from epfpga.boards.profiles import DEFAULT_BAUD
from epfpga.data.dataset_image import DatasetImage, build_image
from epfpga.errors import EpfpgaError
from epfpga.host import protocol as p
from epfpga.model.config import EPConfig
from epfpga.model.numerics import lfsr_seed, lfsr_step


class BoardError(EpfpgaError):
    pass


class BoardLost(BoardError):
    """The board stopped answering (or its port failed): it may have been reset or
    power-cycled, which loses what it trained since the last checkpoint."""


class PortUnavailable(BoardError):
    """The port cannot be opened (not there, busy, or nothing listening)."""


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
            raise BoardLost("the simulated board closed the connection")
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
            raise PortUnavailable(f"cannot connect to {url} ({e.strerror or e}): is "
                                  "`epfpga sim-board` running on that port?") from None
    import serial

    try:
        t = serial.serial_for_url(url, baudrate=baud, timeout=timeout)
    except ValueError as e:
        raise BoardError(f"cannot open {url} at {baud} baud: {e}") from None
    except (serial.SerialException, OSError) as e:
        raise PortUnavailable(f"cannot open {url} at {baud} baud: {e}") from None
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
        order.  Raises BoardError when the board refuses one, BoardLost when it stops
        answering or its port fails."""
        try:
            return self._transact(requests)
        except OSError as e:  # a serial port that vanished (unplugged, power-cycled)
            raise BoardLost(f"the board's port failed ({e}); weights up to the last "
                            "checkpoint are safe: fix the link and --resume") from None

    def _transact(self, requests: list[tuple[int, bytes]]) -> list[bytes]:
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
                raise BoardLost(self._stopped(crc0, framing0))
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

    # ------------------------------------------------------------ dataset store
    def ds_info(self) -> dict[str, int]:
        (r,) = self.transact([(p.DS_INFO, b"")])
        capacity, run_max = struct.unpack("<IH", r)
        return {"capacity": capacity, "run_max": run_max}

    def ds_digests(self, pieces: list[tuple[int, int]]) -> list[int]:
        """CRC-32 of each (offset, length) of the store."""
        reqs = [(p.DS_DIGEST, struct.pack("<II", o, n)) for o, n in pieces]
        return [struct.unpack("<I", r)[0] for r in self.transact(reqs)]

    def ds_write(self, offset: int, data: bytes, progress: Any = None) -> None:
        """``data`` into the store at ``offset``, in pipelined frames; ``progress``
        (a tqdm bar) advances by the bytes of each batch of frames."""
        step, batch = p.DS_WRITE_MAX, 16
        for at in range(0, len(data), step * batch):
            part = data[at:at + step * batch]
            self.transact([(p.DS_WRITE, struct.pack("<I", offset + at + o) + part[o:o + step])
                           for o in range(0, len(part), step)])
            if progress is not None:
                progress.update(len(part))

    def ds_run(self, cmd: int, table: int, count: int, entries: np.ndarray) -> np.ndarray:
        """DS_TRAIN or DS_INFER over ``entries`` (indices into the table at ``table``,
        with ``p.DS_NEG`` for a -beta nudge); one prediction each.  Frames small enough
        that two fit the board's receive window: the next run is already there when one
        ends, so the core never waits for the link."""
        e = np.asarray(entries, dtype=np.int64)
        step = max(1, min(p.DS_RUN_MAX, (self.window_bytes // 2 - p.STORE_OVERHEAD - 8) // 4))
        reqs = [(cmd, p.ds_run_payload(table, count, e[i:i + step]))
                for i in range(0, e.size, step)]
        out = b"".join(self.transact(reqs))
        return np.frombuffer(out, dtype=np.uint8).astype(np.int64)


class BoardEngine:
    """The training engine over a board; keeps the host-side half of the state (the
    random-sign LFSR and the sample count) so a checkpoint holds everything."""

    def __init__(self, cfg: EPConfig, url: str | Any, baud: int = DEFAULT_BAUD, **kw: Any):
        self.cfg = cfg
        self.url, self.baud, self.kw = url, baud, kw
        self.board = Board(open_transport(url, baud) if isinstance(url, str) else url, **kw)
        self.info = self._check(self.board.info())
        self.sign_lfsr = lfsr_seed(cfg.seed, cfg.n_layers)
        self.samples_trained = 0
        self.image: DatasetImage | None = None  # the dataset in the board's store, if used

    def _check(self, info: dict[str, Any]) -> dict[str, Any]:
        """INFO's answer, if the board runs what this host config needs."""
        cfg, url, baud = self.cfg, self.url, self.baud
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
        return info

    def reconnect(self, wait: float = 30.0) -> bool:
        """After BoardLost: talk to the board again (the port opened anew, INFO
        restarting the sequence), trying for up to ``wait`` seconds.  True if it answers
        as the same design; what it holds is then unknown (a reset board has its
        initial weights, a power-cycled one an empty store), so the caller loads a
        checkpoint and calls use_dataset again."""
        deadline = time.monotonic() + wait
        while True:
            try:
                if isinstance(self.url, str):
                    self.close()
                    self.board = Board(open_transport(self.url, self.baud), **self.kw)
                else:
                    self.board.parser = p.Parser()  # drop a partial frame
                self.info = self._check(self.board.info())
                self.image = None
                return True
            except (BoardLost, PortUnavailable):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.5)

    # ------------------------------------------------------------ dataset store
    def use_dataset(self, ds: Any, progress: bool = True, samples: int | None = None
                    ) -> str | None:
        """Put ``ds`` into the board's dataset store, if it has one that holds it, and
        train and test from there (``train_many``/``infer_batch`` with indices).  Only
        the pieces the store does not already hold are sent, so a second run sends
        nothing and an interrupted upload resumes.  ``samples``: how many the run would
        stream otherwise; when that is fewer bytes than the upload still to do, they are
        streamed.  Returns why the samples will be streamed, or None."""
        if not self.info["capabilities"] & p.CAP_DATASET:
            return "the board has no dataset store"
        capacity = self.board.ds_info()["capacity"]
        if progress:
            print(f"encoding {ds.name} for the board's store ...", flush=True)
        image = build_image(ds, self.cfg)
        if len(image.data) > capacity:
            return (f"{ds.name} takes {len(image.data)} bytes encoded, more than the "
                    f"board's {capacity}-byte store")
        missing = self.missing_pieces(image)
        upload = sum(n for _, n in missing)
        n = len(ds.x_train) + len(ds.x_test)
        if samples is not None and upload and samples * len(image.data) / n < upload:
            return (f"this run streams fewer bytes than the {upload}-byte upload of "
                    f"{ds.name} to the store would take")
        if progress and not missing:
            print(f"the board's store already holds {ds.name} (image {image.digest}): "
                  "nothing to upload", flush=True)
        self.sync_image(image, progress, missing)
        self.image = image
        return None

    def missing_pieces(self, image: DatasetImage) -> list[tuple[int, int]]:
        """The digest pieces of ``image`` that the board's store does not hold."""
        pieces = image.pieces()
        have = self.board.ds_digests(pieces)
        return [piece for piece, c, want in zip(pieces, have, image.crcs, strict=True)
                if c != want]

    def sync_image(self, image: DatasetImage, progress: bool = True,
                   missing: list[tuple[int, int]] | None = None) -> int:
        """Make the store hold ``image``: the pieces whose CRC-32 differs (``missing``,
        if already asked) are written and checked again.  Returns the bytes sent."""
        todo = self.missing_pieces(image) if missing is None else missing
        total = sum(n for _, n in todo)
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="dataset upload",
                   disable=not progress or not total, dynamic_ncols=True)
        with bar:
            for o, n in todo:
                self.board.ds_write(o, image.data[o:o + n], bar)
        if todo and (bad := [o for o, _ in self.missing_pieces(image)]):
            raise BoardError(
                f"{len(bad)} piece(s) of the dataset read back differently from what was "
                f"written (first at byte {bad[0]}): the board's store is faulty")
        return total

    def _stored(self, cmd: int, table: int, count: int, entries: np.ndarray) -> np.ndarray:
        pred = self.board.ds_run(cmd, table, count, entries)
        if (pred == p.DS_BAD_SAMPLE).any():
            k = int(np.argmax(pred == p.DS_BAD_SAMPLE))
            raise BoardError(
                f"the board found stored sample {int(entries[k]) & p.DS_INDEX} "
                "malformed: its store no longer holds the uploaded dataset (run again: "
                "the store is checked and the damaged pieces are sent again)")
        return pred

    def _signs(self, n: int) -> list[bool]:
        out = []
        for _ in range(n):
            if self.cfg.nudge == "random_sign":
                self.sign_lfsr = lfsr_step(self.sign_lfsr)
                out.append(bool(self.sign_lfsr & 1))
            else:
                out.append(False)
        return out

    def train_many(self, X: np.ndarray, Y: np.ndarray, index: np.ndarray | None = None
                   ) -> np.ndarray:
        """Train samples X (labels Y) in order; ``index``: their rows in the training
        set, which the board then reads from its store instead of the link."""
        signs = self._signs(len(X))
        if self.image is not None and index is not None:
            entries = np.asarray(index, dtype=np.int64) | np.where(signs, p.DS_NEG, 0)
            pred = self._stored(p.DS_TRAIN, self.image.train_table, self.image.n_train,
                                entries)
        else:
            pred = self.board.train(X, Y, signs, self.cfg.act_one)
        self.samples_trained += len(X)
        return pred

    def infer_batch(self, X: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """``index``: the samples' rows in the test set (read from the store)."""
        if self.image is not None and index is not None:
            return self._stored(p.DS_INFER, self.image.test_table, self.image.n_test,
                                np.asarray(index, dtype=np.int64))
        return self.board.infer(X, self.cfg.act_one)

    def set_update_q(self, q: tuple[int, ...]) -> None:
        self.board.set_update_q(q)

    def init_weights(self) -> None:
        """Start from the same seeded initial network as the golden model."""
        from epfpga.model.golden import GoldenModel

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
