"""The stream register alone: random transfers pushed with random pauses into it and
taken with random back-pressure must come out all, once each, in order; an empty stage
takes a transfer whatever the consumer does; with the consumer always ready a transfer
goes through every cycle, one cycle late."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.stream_register import StreamRegister
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("seed", range(4))
def test_every_transfer_comes_out_once_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dut = StreamRegister(9)
    sent = [int(v) for v in rng.integers(0, 512, 200)]
    p_send, p_take = (1.0, 1.0) if seed == 0 else rng.uniform(0.2, 1.0, 2)
    got, cycles = [], []

    async def tb(ctx):
        queue, cycle = list(sent), 0
        while len(got) < len(sent):
            offer = bool(queue) and bool(rng.random() < p_send)
            take = bool(rng.random() < p_take)
            ctx.set(dut.sink.valid, offer)
            if offer:
                ctx.set(dut.sink.payload, queue[0])
            ctx.set(dut.source.ready, take)
            if take and ctx.get(dut.source.valid):
                got.append(ctx.get(dut.source.payload))
                cycles.append(cycle)
            if not ctx.get(dut.source.valid):  # an empty stage takes, ready or not
                assert ctx.get(dut.sink.ready)
            if offer and ctx.get(dut.sink.ready):
                queue.pop(0)
            await ctx.tick()
            cycle += 1
            assert cycle < 20 * len(sent)

    run_clocked(dut, tb)
    assert got == sent
    if seed == 0:  # always offered, always taken: one a cycle, from cycle 1
        assert cycles == list(range(1, len(sent) + 1))
