"""SequenceFilter alone against the delivery rule written out here: the expected frame
runs, INFO always runs and resynchronises, a retry of one of the last REPLAY_WINDOW
frames that ran gets what they answered, anything else is a gap."""

from __future__ import annotations

import numpy as np

from epfpga.host import protocol as p
from epfpga.hw.link.sequence import SequenceFilter, Verdict
from tests.hw.simulate import run_clocked


def rule(frames: list[tuple[int, int, int, int]]) -> list[tuple[Verdict, int, int]]:
    """(seq, cmd, error, byte) per frame -> (verdict, error, byte) of a retry."""
    expected, slots, out = 0, {}, []
    for seq, cmd, error, byte in frames:
        if cmd == p.INFO or seq == expected:
            out.append((Verdict.RUN, 0, 0))
            slots[seq % p.REPLAY_WINDOW] = (seq, cmd, error, byte)
            expected = (seq + 1) % p.SEQ_MOD
            continue
        back = (expected - seq) % p.SEQ_MOD
        slot = slots.get(seq % p.REPLAY_WINDOW)
        if 1 <= back <= p.REPLAY_WINDOW and slot and slot[:2] == (seq, cmd):
            out.append((Verdict.RETRY, slot[2], slot[3]))
        else:
            out.append((Verdict.GAP, 0, 0))
    return out


def test_filter_follows_the_delivery_rule() -> None:
    rng = np.random.default_rng(7)
    cmds = [int(c) for c in (p.READ, p.WRITE, p.TRAIN, p.INFER, p.STATUS, p.SET_PARAMS)]
    frames, expected = [], 0
    for _ in range(600):
        r = rng.random()
        if r < 0.45:
            seq = expected
        elif r < 0.8:  # a retry, inside or just outside the window
            seq = (expected - int(rng.integers(1, p.REPLAY_WINDOW + 4))) % p.SEQ_MOD
        else:  # a stray one
            seq = int(rng.integers(0, p.SEQ_MOD))
        cmd = int(p.INFO) if rng.random() < 0.03 else int(rng.choice(cmds))
        frames.append((seq, cmd, int(rng.integers(0, 2)), int(rng.integers(0, 256))))
        if cmd == p.INFO or seq == expected:
            expected = (seq + 1) % p.SEQ_MOD
    # retries must name the command the frame had: copy it from an earlier frame
    for i, (seq, _cmd, e, b) in enumerate(frames):
        earlier = [f for f in frames[:i] if f[0] == seq]
        if earlier and rng.random() < 0.8:
            frames[i] = (seq, earlier[-1][1], e, b)
    want = rule(frames)
    assert {v for v, _, _ in want} == set(Verdict)

    dut = SequenceFilter()
    got = []

    async def tb(ctx):
        for seq, cmd, error, byte in frames:
            ctx.set(dut.frame.payload, {"seq": seq, "cmd": cmd})
            ctx.set(dut.frame.valid, 1)
            ctx.set(dut.verdict.ready, 1)
            while not ctx.get(dut.verdict.valid):
                assert not ctx.get(dut.frame.ready)
                await ctx.tick()
            assert ctx.get(dut.frame.ready)  # the frame goes with its verdict
            v = ctx.get(dut.verdict.payload)
            kind, err, b = v.kind, v.error, v.byte
            await ctx.tick()
            ctx.set(dut.frame.valid, 0)
            ctx.set(dut.verdict.ready, 0)
            got.append((kind, err, b) if kind == Verdict.RETRY else (kind, 0, 0))
            if kind == Verdict.RUN:  # what it answered, as the dispatcher records it
                ctx.set(dut.record.frame, {"seq": seq, "cmd": cmd})
                ctx.set(dut.record.error, error)
                ctx.set(dut.record.byte, byte)
                ctx.set(dut.record.en, 1)
                await ctx.tick()
                ctx.set(dut.record.en, 0)

    run_clocked(dut, tb)
    assert got == want
