"""W0, b0, a sample's pixels and their non-zero list in memories as the core holds them
(skewed W0 banks, packed b0, two pixel banks), with the core's extra read registers
(the pixel and the weights arrive a cycle after the memories answer): the input drive's
and the predrive's unit tests read them as the core's units do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory

from epfpga.hw.layout import weight_layouts, words
from epfpga.hw.plan import HardwarePlan


@dataclass
class DriveMemories:
    nz: object  # read ports: drive ``addr``, read ``data``
    x: object
    b: object
    w: list
    x_d: Signal  # the pixel, registered once more
    wq: list  # the banks' words, registered once more
    nnz: int


def drive_memories(m: Module, plan: HardwarePlan, W0: np.ndarray, b0: np.ndarray,
                   x: np.ndarray, bank: int) -> DriveMemories:
    """``x`` and its non-zero list in pixel bank ``bank`` (the other bank zero)."""
    cfg, P = plan.cfg, plan.cfg.lanes
    n0, wb = cfg.layers[0], cfg.weight_bits
    lay = weight_layouts(cfg)[0]
    nz = [int(j) for j in np.flatnonzero(x)]
    nz_bank = nz + [0] * (n0 - len(nz))
    nz_init = [0] * n0 + nz_bank if bank else nz_bank + [0] * n0
    x_init = [0] * n0 + [int(v) for v in x] if bank else [int(v) for v in x] + [0] * n0
    mask = (1 << wb) - 1
    b_words = [sum((int(b0[g * P + k]) & mask) << (wb * k) for k in range(P)
                   if g * P + k < len(b0)) for g in range(words(len(b0), P))]
    m.submodules.nz = nzm = Memory(shape=max(1, n0.bit_length()), depth=2 * n0, init=nz_init)
    m.submodules.x = xm = Memory(shape=cfg.act_bits, depth=2 * n0, init=x_init)
    m.submodules.b0 = bm = Memory(shape=P * wb, depth=len(b_words), init=b_words)
    xr = xm.read_port()
    x_d = Signal.like(xr.data)
    m.d.sync += x_d.eq(xr.data)
    wr, wq = [], []
    for b, contents in enumerate(lay.banks(W0)):
        m.submodules[f"w{b}"] = wm = Memory(shape=wb, depth=lay.depth,
                                            init=[int(v) & mask for v in contents])
        wr.append(wm.read_port())
        q = Signal(wb)
        m.d.sync += q.eq(wr[-1].data)
        wq.append(q)
    return DriveMemories(nzm.read_port(), xr, bm.read_port(), wr, x_d, wq, len(nz))
