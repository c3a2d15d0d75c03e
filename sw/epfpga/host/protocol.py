"""Host link protocol (version 3): framed, sequenced, CRC-checked, over any byte stream.

Frame::

    0xA5 | cmd u8 | seq u16 LE | len u16 LE | hcrc u8 | payload[len] | crc u16 LE

CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) over cmd..payload (hcrc
excluded); ``hcrc`` is the low byte of the same CRC over cmd, seq, len.  The header CRC
lets a receiver reject a false start byte at once instead of waiting for up to
MAX_PAYLOAD bytes that a corrupted length field promises.
Responses carry ``cmd | 0x80`` and the request's sequence number; errors use
``ERROR`` with (request cmd, error code).  Delivery is go-back-N with a 16-bit sequence
(a stale frame would have to arrive 65 536 frames late to pass as new): the board
executes only the next expected sequence number and answers a retry of a recent one
without executing a command with side effects twice.  INFO has no side effects, is
always executed and restarts the sequence, which is how a new host session synchronises.
The board advertises in INFO the bytes its receive store holds; the host never has more
than that unanswered, because a UART cannot wait.  See docs/protocol.md.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from amaranth.lib import enum

SOF = 0xA5
#: 3: 16-bit sequence, receive window and link timing in INFO, overrun counter;
#: 4: samples as runs of non-zero pixels (``encode_sample``), the only encoding
VERSION = 4
MAX_PAYLOAD = 2040  # a whole frame (its stored header included) fits STORE_BYTES
CHUNK = (MAX_PAYLOAD - 6) // 8  # weights per READ/WRITE frame
REPLAY_WINDOW = 64  # a retry of one of the last 64 accepted frames is answered again
HEADER = 7  # sof, cmd, seq(2), len(2), hcrc
TRAILER = 2  # crc
#: bytes of the board's receive store a frame occupies beyond its payload (cmd, seq, len)
STORE_OVERHEAD = 5
#: the gateware's receive store (hw/link): what an INFO from the gateware advertises
STORE_BYTES = 2048
SEQ_MOD = 1 << 16


class Command(enum.IntEnum, shape=8):
    """The cmd byte, host and gateware alike (an ``amaranth.lib.enum``: a shape too)."""
    INFO = 1
    READ = 2
    WRITE = 3
    SET_PARAMS = 4
    TRAIN = 5
    INFER = 6
    STATUS = 7
    # the dataset store (boards whose INFO sets CAP_DATASET): docs/protocol.md
    DS_INFO = 8
    DS_WRITE = 9
    DS_DIGEST = 10
    DS_TRAIN = 11
    DS_INFER = 12
    ERROR = 0x7F  # an answer's cmd only: (request cmd, ErrorCode)


class ErrorCode(enum.IntEnum, shape=2):
    UNKNOWN_CMD = 1
    BAD_PAYLOAD = 2
    RANGE = 3


class Region(enum.IntEnum, shape=2):
    """READ/WRITE's kind byte."""
    W = 0  # weights, row-major W[l]
    B = 1  # biases
    LFSR = 2  # the layer's stochastic-rounding LFSR (one value)


(INFO, READ, WRITE, SET_PARAMS, TRAIN, INFER, STATUS, DS_INFO, DS_WRITE, DS_DIGEST, DS_TRAIN,
 DS_INFER, ERROR) = Command
COMMANDS = set(Command) - {ERROR}
RESPONSE = 0x80
#: commands a retry executes again (no side effects); the others are answered from the
#: outcome the board stored when it first executed them
REEXECUTED = frozenset({INFO, STATUS, READ, DS_INFO, DS_DIGEST, DS_INFER})

#: INFO's capability bits: the two every version-4 board has, and a dataset store
CAP_BASE = 0b11
CAP_DATASET = 1 << 2
#: entries of one DS_TRAIN / DS_INFER (each answered with a prediction byte; the board
#: keeps a DS_TRAIN's answer for a retry)
DS_RUN_MAX = 256
#: bytes of data one DS_WRITE carries after its offset
DS_WRITE_MAX = MAX_PAYLOAD - 4
#: a DS_TRAIN / DS_INFER prediction that says: this stored sample is malformed, and was
#: neither trained nor inferred
DS_BAD_SAMPLE = 0xFF
#: the longest stored sample a board takes (as in a TRAIN frame; a board buffers it)
DS_RECORD_MAX = MAX_PAYLOAD
#: DS entry: the sample's index in its table (its low 24 bits), and this flag for a
#: -beta nudge; no other bit may be set
DS_INDEX = (1 << 24) - 1
DS_NEG = 1 << 24

E_UNKNOWN_CMD, E_BAD_PAYLOAD, E_RANGE = ErrorCode
REGION_W, REGION_B, REGION_LFSR = Region
LFSR_MAX = (1 << 32) - 1  # LFSR states are 32 bit and never zero

#: the longest run of zeros or of values one run header can announce
RUN_MAX = 255

STATUS_FIELDS = ("samples", "frames_ok", "crc_errors", "framing_errors", "unknown_cmds",
                 "seq_gaps", "replays", "overruns")
#: bits each STATUS counter keeps on the board (every field is 32 bits on the wire, the
#: board's count modulo 2**bits): a counter bit costs a logic cell, and the iCE40UP5K
#: has none to spare.  The host reads them as differences between two STATUS answers.
STATUS_BITS = {"samples": 16, "frames_ok": 16, "crc_errors": 8, "framing_errors": 8,
               "unknown_cmds": 8, "seq_gaps": 8, "replays": 8, "overruns": 8}


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC16 = _crc16_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE, a table lookup a byte (the host encodes and checks every
    frame in Python)."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def encode(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = struct.pack("<BHH", cmd, seq % SEQ_MOD, len(payload))
    body = head + payload
    return bytes([SOF]) + head + bytes([crc16(head) & 0xFF]) + payload + struct.pack(
        "<H", crc16(body))


def store_cost(payload_len: int) -> int:
    """Bytes of the board's receive window a frame with this payload occupies."""
    return payload_len + STORE_OVERHEAD


def info_payload(version: int, digest: str, layers: tuple[int, ...] | list[int],
                 clock_hz: int, baud: int, window: int, capabilities: int = CAP_BASE
                 ) -> bytes:
    """INFO's answer; ``baud`` 0: a byte-stream simulation with no UART."""
    return (bytes([version]) + bytes.fromhex(digest) + struct.pack("<H", capabilities)
            + bytes([len(layers)]) + b"".join(struct.pack("<H", n) for n in layers)
            + struct.pack("<IIH", clock_hz, baud, window))


def parse_info(r: bytes) -> dict:
    """INFO's answer as a dict; a short or malformed answer is a ValueError."""
    if len(r) < 12 or len(r) != 12 + 2 * r[11] + 10:
        raise ValueError(f"INFO answer of {len(r)} bytes does not match protocol "
                         f"version {VERSION}" + (f" (the board speaks version {r[0]})"
                                                 if r else ""))
    n = r[11]
    clock_hz, baud, window = struct.unpack_from("<IIH", r, 12 + 2 * n)
    return {"version": r[0], "digest": r[1:9].hex(),
            "capabilities": struct.unpack_from("<H", r, 9)[0],
            "layers": [struct.unpack_from("<H", r, 12 + 2 * i)[0] for i in range(n)],
            "clock_hz": clock_hz, "baud": baud, "window": window}


@dataclass
class Frame:
    cmd: int
    seq: int
    payload: bytes


def _header(buf: bytes | bytearray) -> tuple[int, int, int] | None:
    """(cmd, seq, len) of the 6 bytes after a start byte, or None if hcrc fails."""
    if crc16(bytes(buf[:5])) & 0xFF != buf[5]:
        return None
    cmd, seq, length = struct.unpack_from("<BHH", buf)
    return cmd, seq, length


class Parser:
    """Incremental frame parser: feed any byte chunks, get whole valid frames.

    Garbage before a start byte, a bad CRC or a length over MAX_PAYLOAD costs one byte of
    resynchronisation (the search restarts just after the false start byte), so it can
    never hang or swallow a good frame that follows."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.crc_errors = 0
        self.framing_errors = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out = []
        while True:
            start = self.buf.find(SOF)
            if start < 0:
                if self.buf:
                    self.framing_errors += 1
                self.buf.clear()
                return out
            if start:
                self.framing_errors += 1
                del self.buf[:start]
            if len(self.buf) < HEADER:
                return out
            head = _header(self.buf[1:HEADER])
            if head is None or head[2] > MAX_PAYLOAD:
                self.framing_errors += 1  # false start byte or damaged header
                del self.buf[:1]
                continue
            length = head[2]
            total = HEADER + length + TRAILER
            if len(self.buf) < total:
                return out
            body = bytes(self.buf[1:HEADER - 1]) + bytes(self.buf[HEADER:HEADER + length])
            crc = self.buf[HEADER + length] | (self.buf[HEADER + length + 1] << 8)
            if crc16(body) != crc:
                self.crc_errors += 1
                del self.buf[:1]
                continue
            out.append(Frame(head[0], head[1], bytes(self.buf[HEADER:HEADER + length])))
            del self.buf[:total]

    def timeout(self) -> list[Frame]:
        """The line has gone quiet with a frame still incomplete.  A false start byte
        whose garbage header passes its 8-bit check (1 in 256) announces a length that
        never arrives and would hold a real frame behind it until more bytes come; its
        start byte is dropped and the rest rescanned, as the board's inter-byte timeout
        does.  Returns the frames the rescan finds."""
        if not self.buf:
            return []
        self.framing_errors += 1
        del self.buf[:1]
        return self.feed(b"")


class StreamParser:
    """The board's parser, byte for byte as the gateware (hw/link/framing.py) runs it.

    A board sees each byte once and keeps only the frame it is assembling: every byte
    outside a frame counts as one framing error; a header that fails its CRC (or
    announces more than ``max_payload``) counts one and is rescanned from the byte after
    its false start byte, so a real frame behind it is never lost; a payload that fails
    its CRC costs the whole frame (the host's go-back-N resend recovers it).  The
    gateware's inter-byte timeout is ``timeout()`` here: the caller decides when the line
    has been quiet long enough (a model has no clock).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.crc_errors = 0
        self.framing_errors = 0
        self.reset()

    def reset(self) -> None:
        """Forget a partial frame (a new host session)."""
        self.state, self.frame = "HUNT", bytearray()

    def timeout(self) -> None:
        """The inter-byte timeout: a partial frame is dropped and counted."""
        if self.state != "HUNT":
            self.framing_errors += 1
        self.reset()

    def feed(self, data: bytes,
             on_frame: Callable[[Frame], None] | None = None) -> list[Frame]:
        """The frames ``data`` completes; ``on_frame`` instead takes each one the moment
        its last byte arrives, with the error counters as they stand then (as the
        board's STATUS reads them), not as they stand after the whole of ``data``."""
        out: list[Frame] = []
        pending = list(data)
        pending.reverse()  # a stack: rescanned header bytes go back on top
        while pending:
            byte = pending.pop()
            f = self.frame
            if self.state == "HUNT":
                if byte == SOF:
                    self.state, self.frame = "HEAD", bytearray()
                else:
                    self.framing_errors += 1
                continue
            f.append(byte)
            if self.state == "HEAD" and len(f) == 6:
                head = _header(f)
                if head is None or head[2] > self.max_payload:
                    self.framing_errors += 1
                    self.state = "HUNT"
                    pending.extend(reversed(f))  # hunt again from the byte after SOF
                else:
                    del f[5]  # hcrc is not part of the frame CRC
                    self.state = "PAYLOAD" if head[2] else "CRC"
            elif self.state == "PAYLOAD" and len(f) == 5 + (f[3] | (f[4] << 8)):
                self.state = "CRC"
            elif self.state == "CRC" and len(f) == 7 + (f[3] | (f[4] << 8)):
                self.state = "HUNT"
                if crc16(bytes(f[:-2])) == f[-2] | (f[-1] << 8):
                    cmd, seq, _ = struct.unpack_from("<BHH", f)
                    frame = Frame(cmd, seq, bytes(f[5:-2]))
                    if on_frame is None:
                        out.append(frame)
                    else:
                        on_frame(frame)
                else:
                    self.crc_errors += 1
        return out


# ---------------------------------------------------------------- payload codecs
def value_bytes(act_one: int) -> int:
    """Bytes a pixel value takes in a sample: values 1..act_one are sent less one, so
    with 8 fraction bits (act_one 256) one byte holds every non-zero value."""
    return 1 if act_one <= 256 else 2


def encode_sample(x: np.ndarray, act_one: int) -> bytes:
    """A sample as runs: each run is ``skip`` u8 (zero pixels before it), ``count`` u8,
    then ``count`` non-zero values, each less one in ``value_bytes(act_one)`` bytes LE.
    Pixels after the last run are zero.  The board decodes it at a pixel a cycle for the
    zeros (most of an MNIST digit) and fetches only the values; the average MNIST
    training image takes 200 bytes (the sparse form of protocol v3 took 603)."""
    x = np.asarray(x, dtype=np.int64).ravel()
    w = value_bytes(act_one)
    out = bytearray()
    j = 0  # the pixel the next run starts from
    nz = np.flatnonzero(x)
    i = 0
    while i < nz.size:
        gap = int(nz[i]) - j
        while gap > RUN_MAX:  # a long gap: runs of zeros alone
            out += bytes([RUN_MAX, 0])
            gap -= RUN_MAX
        k = i  # the run: consecutive non-zero pixels, at most RUN_MAX of them
        while k + 1 < nz.size and nz[k + 1] == nz[k] + 1 and k + 1 - i < RUN_MAX:
            k += 1
        out += bytes([gap, k - i + 1])
        out += (x[nz[i:k + 1]] - 1).astype("<u2").tobytes() if w == 2 else bytes(
            (x[nz[i:k + 1]] - 1).astype(np.uint8))
        j, i = int(nz[k]) + 1, k + 1
    return bytes(out)


def max_sample_bytes(n_in: int, act_one: int) -> int:
    """An upper bound on the encoding of any ``n_in``-pixel sample, exact below 255
    pixels: ``nz`` non-zero pixels make at most ``min(nz, n_in - nz + 1)`` runs, and
    each further header (a run or gap longer than RUN_MAX) needs RUN_MAX more pixels."""
    w = value_bytes(act_one)
    return max(w * nz + 2 * min(nz, n_in - nz + 1) for nz in range(n_in + 1)) + \
        2 * (n_in // RUN_MAX)


def decode_sample(data: bytes, n_in: int, act_one: int) -> np.ndarray:
    """``encode_sample``'s inverse; a run past the last pixel, a run cut short or a value
    above act_one is a ValueError (the board answers E_BAD_PAYLOAD)."""
    w = value_bytes(act_one)
    x = np.zeros(n_in, dtype=np.int64)
    j = a = 0
    while a < len(data):
        if a + 2 > len(data):
            raise ValueError("sample ends inside a run header")
        skip, count = data[a], data[a + 1]
        a += 2
        if j + skip + count > n_in:
            raise ValueError(f"sample runs past pixel {n_in}")
        if a + w * count > len(data):
            raise ValueError("sample ends inside a run")
        v = np.frombuffer(data, "<u2" if w == 2 else np.uint8, count, a).astype(np.int64)
        if count and v.max() + 1 > act_one:
            raise ValueError("pixel value out of range")
        x[j + skip:j + skip + count] = v + 1
        j += skip + count
        a += w * count
    return x


def train_payload(x: np.ndarray, y: int, neg: bool, act_one: int) -> bytes:
    return bytes([y, int(neg)]) + encode_sample(x, act_one)


def access_payload(kind: int, layer: int, offset: int, count_or_values) -> bytes:
    head = struct.pack("<BBI", kind, layer, offset)
    if isinstance(count_or_values, int):
        return head + struct.pack("<H", count_or_values)
    return head + np.asarray(count_or_values, dtype="<i8").tobytes()


def ds_run_payload(table: int, count: int, entries: np.ndarray) -> bytes:
    """DS_TRAIN / DS_INFER: the table's offset and length, then one u32 entry per sample
    (its index in the table, ``DS_NEG`` for a -beta nudge)."""
    return struct.pack("<II", table, count) + np.asarray(entries, dtype="<u4").tobytes()


def parse_ds_run(payload: bytes) -> tuple[int, int, np.ndarray]:
    """``ds_run_payload``'s inverse; a ValueError for a malformed payload."""
    if len(payload) < 8 or (len(payload) - 8) % 4 or (len(payload) - 8) // 4 > DS_RUN_MAX:
        raise ValueError("DS run payload: table u32, count u32, 1..256 entries u32")
    table, count = struct.unpack_from("<II", payload)
    return table, count, np.frombuffer(payload, "<u4", offset=8).astype(np.int64)
