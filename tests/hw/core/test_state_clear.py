"""The state clear alone, in front of every layer's two state banks and free end states
(random words): driven as the phases drive it — zero a word a cycle (ZERO), zero a word
on the cycles a pixel arrives (LOAD, with gaps), copy a word every other cycle, its
address then its write (COPY) — bank ``cur`` must end as zeros (or the free states)
word for word, the other bank untouched, and ``last`` must rise exactly at the longest
layer's last word.  Random configs, 1, 2 and 4 lanes, both banks."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory

from epfpga.hw.core.state_clear import StateClear
from epfpga.hw.layout import words
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


def run(cfg, mode: str, cur: int, rng: np.random.Generator) -> None:
    P, L = cfg.lanes, cfg.n_layers
    nw = [words(n, P) for n in cfg.layers[1:]]
    width = P * cfg.act_bits
    m = Module()
    m.submodules.dut = dut = StateClear(make_plan(cfg), 8)
    banks, frees = [], []
    for k in range(1, L + 1):
        init = [int(x) for x in rng.integers(0, 1 << width, 2 * nw[k - 1])]
        free = [int(x) for x in rng.integers(0, 1 << width, nw[k - 1])]
        m.submodules[f"s{k}"] = mem = Memory(shape=width, depth=len(init), init=init)
        wp = mem.write_port(granularity=cfg.act_bits if P > 1 else None)
        w = dut.write(k)
        m.d.comb += [wp.addr.eq(w.addr), wp.data.eq(w.data), wp.en.eq(w.en)]
        banks.append((mem, init))
        if mode == "copy":
            m.submodules[f"sf{k}"] = fm = Memory(shape=width, depth=len(free), init=free)
            rp = fm.read_port()
            m.d.comb += [rp.addr.eq(dut.free_port(k).addr), dut.free_port(k).data.eq(rp.data)]
            frees.append(free)
    m.d.comb += dut.cur.eq(cur)
    lasts = []

    async def tb(ctx):
        word = 0
        while word < max(nw):
            ctx.set(dut.word, word)
            if mode == "copy":  # the free word's address, then its write
                await ctx.tick()
                ctx.set(dut.copy, 1)
            elif mode == "load" and rng.random() < 0.4:  # no pixel this cycle
                ctx.set(dut.zero, 0)
                assert not any(ctx.get(dut.write(k).en) for k in range(1, L + 1))
                await ctx.tick()
                continue
            else:
                ctx.set(dut.zero, 1)
            if ctx.get(dut.last):
                lasts.append(word)
            await ctx.tick()
            ctx.set(dut.copy if mode == "copy" else dut.zero, 0)
            word += 1
        await ctx.tick()
        for k, (mem, init) in enumerate(banks, 1):
            got = [ctx.get(mem.data[a]) for a in range(mem.depth)]
            n = nw[k - 1]
            new = frees[k - 1] if mode == "copy" else [0] * n
            want = init[:n] + new if cur else new + init[n:]
            assert got == want, (k, mode, cur)

    run_clocked(m, tb)
    assert lasts == [max(nw) - 1]


@pytest.mark.parametrize("seed", range(6))
def test_bank_cur_is_zeroed_or_copied_word_for_word(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    cfg = small_config(rng, lanes=(1, 2, 4)[seed % 3], nudge="symmetric")
    for mode in ("zero", "load", "copy"):
        run(cfg, mode, int(rng.integers(0, 2)), rng)
