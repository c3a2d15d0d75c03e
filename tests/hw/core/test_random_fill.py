"""RandomFill alone: the values it leaves in ``rand_a`` / ``rand_c`` against the LFSR
stepped one state at a time (the golden model steps it in blocks), per layer row values
then column values and the bias's, over random configs and two fills in a row."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from epfpga.hw.core.random_fill import RandomFill
from epfpga.hw.layout import rand_offsets, words
from epfpga.hw.plan import make_plan
from epfpga.model.numerics import lfsr_seed, lfsr_step
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


def expected(cfg, states: list[int]) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Per layer: n_out row values, n_in + 1 column values; the LFSRs after."""
    mask = (1 << cfg.sr_bits) - 1
    rows, cols, after = [], [], []
    for layer, s in enumerate(states):
        vals = []
        for _ in range(cfg.layers[layer + 1] + cfg.layers[layer] + 1):
            s = lfsr_step(s)
            vals.append(s & mask)
        n_out = cfg.layers[layer + 1]
        rows.append(vals[:n_out])
        cols.append(vals[n_out:])
        after.append(s)
    return rows, cols, after


def run_fill(cfg, seeds: list[int] | None, fills: int):
    """``fills`` fills (after writing ``seeds`` into the LFSRs); the memories' contents
    after each, unpacked per layer, and the cycles each took."""
    plan = make_plan(cfg)
    dut = RandomFill(plan)
    mems = {name: plan.memory(name) for name in ("rand_a", "rand_c")}
    m = Module()
    m.submodules.fill = dut
    m.submodules.a = a_mem = Memory(shape=mems["rand_a"][1], depth=mems["rand_a"][0], init=[])
    m.submodules.c = c_mem = Memory(shape=mems["rand_c"][1], depth=mems["rand_c"][0], init=[])
    P, sr = cfg.lanes, cfg.sr_bits
    wiring.connect(m, dut.a_write, a_mem.write_port(granularity=sr if P > 1 else None))
    wiring.connect(m, dut.c_write, c_mem.write_port())
    a_off, c_off = rand_offsets(cfg)
    out = []

    async def tb(ctx):
        if seeds is not None:
            for layer, s in enumerate(seeds):
                ctx.set(dut.seed.layer, layer)
                ctx.set(dut.seed.data, s)
                ctx.set(dut.seed.en, 1)
                await ctx.tick()
            ctx.set(dut.seed.en, 0)
        for _ in range(fills):
            before = [ctx.get(dut.state[k]) for k in range(cfg.n_layers)]
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 1
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles += 1
            rows, cols = [], []
            for layer in range(cfg.n_layers):
                n_out, n_in = cfg.layers[layer + 1], cfg.layers[layer]
                packed = [ctx.get(a_mem.data[a_off[layer] + w])
                          for w in range(words(n_out, P))]
                rows.append([(packed[i // P] >> (sr * (i % P))) & ((1 << sr) - 1)
                             for i in range(n_out)])
                cols.append([ctx.get(c_mem.data[c_off[layer] + j]) for j in range(n_in + 1)])
            out.append((before, rows, cols, [ctx.get(dut.state[k])
                                              for k in range(cfg.n_layers)], cycles))

    run_clocked(m, tb)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_fill_draws_the_lfsr_sequence_per_layer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng)
    seeds = None if seed % 2 else [int(rng.integers(1, 2**32)) for _ in range(cfg.n_layers)]
    runs = run_fill(cfg, seeds, fills=2)
    states = seeds or [lfsr_seed(cfg.seed, k) for k in range(cfg.n_layers)]
    assert runs[0][0] == states
    for before, rows, cols, after, cycles in runs:
        assert before == states
        e_rows, e_cols, states = expected(cfg, states)
        assert rows == e_rows and cols == e_cols and after == states
        # one value per cycle, plus the start
        assert cycles == 1 + sum(cfg.layers[k] + cfg.layers[k + 1] + 1 for k in range(cfg.n_layers))
