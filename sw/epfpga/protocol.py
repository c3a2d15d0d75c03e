"""Host link protocol (version 1): framed, sequenced, CRC-checked, over any byte stream.

Frame::

    0xA5 | cmd u8 | seq u8 | len u16 LE | hcrc u8 | payload[len] | crc u16 LE

CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) over cmd..payload (hcrc
excluded); ``hcrc`` is the low byte of the same CRC over cmd, seq, len.  The header CRC
lets a receiver reject a false start byte at once instead of waiting for up to
MAX_PAYLOAD bytes that a corrupted length field promises.
Responses carry ``cmd | 0x80`` and the request's sequence number; errors use
``ERROR`` with (request cmd, error code).  Delivery is go-back-N: the board executes only
the next expected sequence number, replays its cached response for a recent one (so a
retried TRAIN whose answer was lost is never trained twice) and drops anything else.
INFO has no side effects and is always executed; it restarts the sequence, which is how
a new host session (after a reconnect or a host crash) synchronises.
See docs/protocol.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

SOF = 0xA5
VERSION = 2  # 2: payloads up to 2 KiB (one frame buffer fits four iCE40 block RAMs)
MAX_PAYLOAD = 2048
CHUNK = (MAX_PAYLOAD - 6) // 8  # weights per READ/WRITE frame
REPLAY_WINDOW = 64  # a retry of one of the last 64 accepted frames is answered again
HEADER = 6  # sof, cmd, seq, len(2), hcrc

INFO, READ, WRITE, SET_PARAMS, TRAIN, INFER, STATUS, ERROR = 1, 2, 3, 4, 5, 6, 7, 0x7F
COMMANDS = {INFO, READ, WRITE, SET_PARAMS, TRAIN, INFER, STATUS}
RESPONSE = 0x80

# error codes
E_UNKNOWN_CMD, E_BAD_PAYLOAD, E_RANGE = 1, 2, 3

# region kinds for READ/WRITE
REGION_W, REGION_B, REGION_LFSR = 0, 1, 2

DENSE, SPARSE = 0, 1

STATUS_FIELDS = ("samples", "frames_ok", "crc_errors", "framing_errors", "unknown_cmds",
                 "seq_gaps", "replays")
#: bits each STATUS counter keeps on the board (every field is 32 bits on the wire): the
#: error counters wrap at 2**16, which leaves the iCE40UP5K the logic cells it needs
STATUS_BITS = {"samples": 32, "frames_ok": 32, "crc_errors": 16, "framing_errors": 16,
               "unknown_cmds": 16, "seq_gaps": 16, "replays": 16}


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def encode(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = bytes([cmd, seq & 0xFF]) + struct.pack("<H", len(payload))
    body = head + payload
    return bytes([SOF]) + head + bytes([crc16(head) & 0xFF]) + payload + struct.pack(
        "<H", crc16(body))


@dataclass
class Frame:
    cmd: int
    seq: int
    payload: bytes


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
            head = bytes(self.buf[1:5])
            if crc16(head) & 0xFF != self.buf[5]:
                self.framing_errors += 1  # false start byte or damaged header
                del self.buf[:1]
                continue
            length = self.buf[3] | (self.buf[4] << 8)
            if length > MAX_PAYLOAD:
                self.framing_errors += 1
                del self.buf[:1]
                continue
            total = HEADER + length + 2
            if len(self.buf) < total:
                return out
            body = head + bytes(self.buf[HEADER:HEADER + length])
            crc = self.buf[HEADER + length] | (self.buf[HEADER + length + 1] << 8)
            if crc16(body) != crc:
                self.crc_errors += 1
                del self.buf[:1]
                continue
            out.append(Frame(body[0], body[1], body[4:]))
            del self.buf[:total]



class StreamParser:
    """The board's parser, byte for byte as the gateware (hw/link/framing.py) runs it.

    A board sees each byte once and keeps only the frame it is assembling, so unlike
    ``Parser`` it does not rescan: a header that fails its CRC costs the header bytes,
    a payload that fails its CRC costs the whole frame (the host's go-back-N resend
    recovers it), and every byte outside a frame counts as one framing error.  The
    board model uses this so the gateware can be checked against it exactly; the
    gateware's inter-byte timeout has no counterpart here (a model has no clock).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.crc_errors = 0
        self.framing_errors = 0
        self.reset()

    def reset(self) -> None:
        """Forget a partial frame (a new host session)."""
        self.state, self.frame = "HUNT", bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        out = []
        for byte in data:
            f = self.frame
            if self.state == "HUNT":
                if byte == SOF:
                    self.state, self.frame = "HEAD", bytearray()
                else:
                    self.framing_errors += 1
                continue
            f.append(byte)
            if self.state == "HEAD" and len(f) == 4:
                self.state = "HCRC"
            elif self.state == "HCRC":
                length = f[2] | (f[3] << 8)
                if byte != crc16(bytes(f[:4])) & 0xFF or length > self.max_payload:
                    self.framing_errors += 1
                    self.state = "HUNT"
                else:
                    del f[4]  # hcrc is not part of the frame CRC
                    self.state = "PAYLOAD" if length else "CRC"
            elif self.state == "PAYLOAD" and len(f) == 4 + (f[2] | (f[3] << 8)):
                self.state = "CRC"
            elif self.state == "CRC" and len(f) == 6 + (f[2] | (f[3] << 8)):
                self.state = "HUNT"
                if crc16(bytes(f[:-2])) == f[-2] | (f[-1] << 8):
                    out.append(Frame(f[0], f[1], bytes(f[4:-2])))
                else:
                    self.crc_errors += 1
        return out


# ---------------------------------------------------------------- payload codecs
def encode_sample(x: np.ndarray, sparse: bool) -> bytes:
    """Pixels as u16: dense = every value; sparse = count + (index, value) of non-zeros,
    indices strictly increasing.  ``sparse`` asks for the sparse form where it is the
    shorter one (under half the pixels non-zero); a dense sample always fits a frame."""
    x = np.asarray(x, dtype=np.int64)
    if sparse and 3 + 4 * np.count_nonzero(x) < 1 + 2 * x.size:
        nz = np.flatnonzero(x)
        return bytes([SPARSE]) + struct.pack("<H", len(nz)) + np.stack(
            [nz, x[nz]], axis=1).astype("<u2").tobytes()
    return bytes([DENSE]) + x.astype("<u2").tobytes()


def decode_sample(data: bytes, n_in: int, max_value: int) -> np.ndarray:
    if not data:
        raise ValueError("empty sample")
    x = np.zeros(n_in, dtype=np.int64)
    if data[0] == DENSE:
        if len(data) != 1 + 2 * n_in:
            raise ValueError(f"dense sample needs {n_in} values")
        x[:] = np.frombuffer(data, "<u2", offset=1)
    elif data[0] == SPARSE:
        if len(data) < 3:
            raise ValueError("sparse sample too short")
        (count,) = struct.unpack_from("<H", data, 1)
        if len(data) != 3 + 4 * count:
            raise ValueError("sparse sample length does not match its count")
        pairs = np.frombuffer(data, "<u2", offset=3).reshape(count, 2).astype(np.int64)
        if count and pairs[:, 0].max() >= n_in:
            raise ValueError("sparse index out of range")
        if count > 1 and (np.diff(pairs[:, 0]) <= 0).any():
            raise ValueError("sparse indices must be strictly increasing (hardware streams "
                             "pixels in order)")
        x[pairs[:, 0]] = pairs[:, 1]
    else:
        raise ValueError(f"unknown sample encoding {data[0]}")
    if x.max(initial=0) > max_value:
        raise ValueError("pixel value out of range")
    return x


def train_payload(x: np.ndarray, y: int, neg: bool, sparse: bool = True) -> bytes:
    return bytes([y, int(neg)]) + encode_sample(x, sparse)


def access_payload(kind: int, layer: int, offset: int, count_or_values) -> bytes:  # noqa: ANN001
    head = struct.pack("<BBI", kind, layer, offset)
    if isinstance(count_or_values, int):
        return head + struct.pack("<H", count_or_values)
    return head + np.asarray(count_or_values, dtype="<i8").tobytes()
