"""Argmax alone: random output layers fed a word per cycle (lanes, ragged last words,
ties), against numpy's first-maximum argmax; ``clear`` between samples."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.argmax import Argmax
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_argmax_is_the_first_maximum(lanes: int) -> None:
    rng = np.random.default_rng(lanes)
    act_bits = 5
    samples = []
    for _ in range(40):
        n = int(rng.integers(1, 4 * lanes + 3))
        hi = int(rng.choice([3, 1 << act_bits]))  # small ranges: many ties
        samples.append(rng.integers(0, hi, n))
    dut = Argmax(lanes, act_bits, row_bits=8, index_bits=5)
    got = []

    async def tb(ctx):
        for s in samples:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for w in range(0, len(s), lanes):
                word = s[w:w + lanes]
                ctx.set(dut.candidates.payload, {
                    "row": w, "s": [int(v) for v in word] + [0] * (lanes - len(word)),
                    "ok": [1] * len(word) + [0] * (lanes - len(word))})
                ctx.set(dut.candidates.valid, 1)
                await ctx.tick()
                # a word with no valid lane in between: nothing changes
                ctx.set(dut.candidates.payload, {"row": 0, "s": [(1 << act_bits) - 1] * lanes,
                                                 "ok": [0] * lanes})
                await ctx.tick()
            ctx.set(dut.candidates.valid, 0)
            await ctx.tick().until(~dut.busy)
            got.append(ctx.get(dut.index))

    run_clocked(dut, tb)
    assert got == [int(np.argmax(s)) for s in samples]
