"""A dataset as a board stores it (protocol: DS_WRITE / DS_TRAIN, docs/protocol.md).

The host lays the image out and the board only follows offsets, so the same image serves
any board with a store large enough::

    train table: n_train x u32 (each record's offset) | test table: n_test x u32 |
    records: label u8, length u16 LE, the sample (``protocol.encode_sample``)

The samples are quantized exactly as the golden model and the streamed path quantize
them, so training from the store is bit-exact with streaming the same order.  The
image is checked piece by piece (CRC-32 of each ``PIECE`` bytes, ``DS_DIGEST``): the
pieces a board already holds are never sent again, which makes an upload resumable and
lets a host see at once whether the board still holds the set (a power cycle clears
SDRAM).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from epfpga.data.datasets import Dataset
from epfpga.errors import EpfpgaError
from epfpga.host import protocol as p
from epfpga.model.config import EPConfig
from epfpga.model.numerics import quantize_pixels

#: bytes per digest piece: small enough that an interrupted upload loses little, large
#: enough that checking a whole MNIST image takes ~230 short requests
PIECE = 1 << 16
RECORD_HEADER = 3  # label u8, length u16


@dataclass(frozen=True)
class DatasetImage:
    data: bytes
    n_train: int
    n_test: int
    name: str = ""
    crcs: tuple[int, ...] = field(default=(), compare=False)

    @property
    def train_table(self) -> int:
        return 0

    @property
    def test_table(self) -> int:
        return 4 * self.n_train

    def pieces(self) -> list[tuple[int, int]]:
        """(offset, length) of each digest piece."""
        return pieces(len(self.data))

    @property
    def digest(self) -> str:
        """The image's identity (what a report names)."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (zlib's; ``amaranth.lib.crc.catalog.CRC32_ISO_HDLC`` in gateware)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def build_image(ds: Dataset, cfg: EPConfig) -> DatasetImage:
    """Both splits of ``ds`` encoded for ``cfg`` (its 1.0 sets the pixel quantization and
    the value width), the training set first."""
    n_out = cfg.layers[-1]
    records, offsets = [], []
    n_train, n_test = len(ds.x_train), len(ds.x_test)
    at = 4 * (n_train + n_test)
    for X, Y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        if len(Y) and int(np.max(Y)) >= n_out:
            raise EpfpgaError(f"dataset {ds.name!r} has label {int(np.max(Y))}, but the "
                              f"network has {n_out} outputs")
        for x, y in zip(quantize_pixels(X.reshape(len(X), -1), cfg), Y, strict=True):
            enc = p.encode_sample(x, cfg.act_one)
            offsets.append(at)
            records.append(struct.pack("<BH", int(y), len(enc)) + enc)
            at += RECORD_HEADER + len(enc)
    data = np.asarray(offsets, dtype="<u4").tobytes() + b"".join(records)
    return DatasetImage(data, n_train, n_test, ds.name,
                        tuple(crc32(data[o:o + n]) for o, n in pieces(len(data))))


def pieces(size: int) -> list[tuple[int, int]]:
    """(offset, length) of each ``PIECE``-byte digest piece of ``size`` bytes."""
    return [(o, min(PIECE, size - o)) for o in range(0, size, PIECE)]


def read_record(store: bytes | bytearray | memoryview, table: int, count: int, index: int,
                n_in: int, act_one: int, n_out: int) -> tuple[np.ndarray, int] | None:
    """Sample ``index`` of the table at ``table`` as a board reads it: (pixels, label),
    or None when the record is malformed (out of the store, label out of range, runs
    that do not decode): the board answers ``DS_BAD_SAMPLE`` for it."""
    if index >= count:
        raise IndexError(index)
    at = table + 4 * index
    if at + 4 > len(store):
        return None
    (off,) = struct.unpack_from("<I", store, at)
    if off + RECORD_HEADER > len(store):
        return None
    label, length = struct.unpack_from("<BH", store, off)
    if label >= n_out or length > p.DS_RECORD_MAX or off + RECORD_HEADER + length > len(store):
        return None
    try:
        x = p.decode_sample(bytes(store[off + RECORD_HEADER:off + RECORD_HEADER + length]),
                            n_in, act_one)
    except ValueError:
        return None
    return x, label
