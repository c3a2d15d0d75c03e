"""The host port alone, in front of memories holding a random network (weights placed by
the weight layout's own ``banks``, vectors packed a lane per value, two state banks)
and random LFSR states: every element of every region read back as the network holds
it (weights and biases signed, the state bank ``cur``), each response exactly
``READ_LATENCY`` cycles after its request; then a burst of random writes, one a cycle,
to weights, biases and LFSRs, after which the memories must hold the network with
those elements changed, and each LFSR write must reach the seed port once, a cycle
after its request.  Random configs: 1, 2 and 4 lanes, rows that the lanes divide and
rows they do not, EP and the symmetric nudge (its +beta region)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory

from epfpga.hw.core.address_map import AddressMap
from epfpga.hw.core.host_access import HostAccess, host_ports
from epfpga.hw.core.host_port import READ_LATENCY
from epfpga.hw.layout import weight_layouts
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked
from tests.hw.words import pack


class Contents:
    """A random network as the host sees it, region by region (``AddressMap`` order:
    weights row-major, then biases, free, current and +beta end states, LFSRs)."""

    def __init__(self, cfg, amap: AddressMap, rng: np.random.Generator):
        self.cfg, self.amap = cfg, amap
        n = cfg.layers
        self.values: dict[tuple[str, int], np.ndarray] = {}
        for kind, layer, size in amap.regions:
            if kind in ("W", "b"):
                v = rng.integers(cfg.weight_min, cfg.weight_max + 1, size)
            elif kind == "lfsr":
                v = rng.integers(1, 1 << 32, 1)
            else:
                v = rng.integers(0, cfg.act_one + 1, size)
            self.values[kind, layer] = v
        # the state bank the host does not see holds other values
        self.other = [rng.integers(0, cfg.act_one + 1, n[k + 1]) for k in range(cfg.n_layers)]

    def memories(self, cur: int) -> dict[str, list[int]]:
        """Each ``host_ports`` memory's words."""
        cfg, P = self.cfg, self.cfg.lanes
        out = {}
        for li, geo in enumerate(weight_layouts(cfg)):
            w = self.values["W", li].reshape(geo.n_out, geo.n_in)
            for b, bank in enumerate(geo.banks(w)):
                out[f"w{li}_{b}"] = [int(x) for x in bank]
        for li in range(cfg.n_layers):
            out[f"b{li}"] = pack(self.values["b", li], cfg.weight_bits, P)
            s, other = (pack(v, cfg.act_bits, P) for v in (self.values["s", li], self.other[li]))
            out[f"s{li + 1}"] = other + s if cur else s + other
            out[f"sf{li + 1}"] = pack(self.values["sf", li], cfg.act_bits, P)
            if ("sp", li) in self.values:
                out[f"sp{li + 1}"] = pack(self.values["sp", li], cfg.act_bits, P)
        return out


def harness(cfg, contents: Contents, cur: int):
    plan = make_plan(cfg)
    m = Module()
    m.submodules.dut = dut = HostAccess(plan, contents.amap)
    mems = {}
    init = contents.memories(cur)
    for name, (depth, shape, written) in host_ports(plan).items():
        assert len(init[name]) <= depth, name
        lanes = cfg.lanes if name[0] == "b" and cfg.lanes > 1 else None
        m.submodules[name] = mem = Memory(shape=shape, depth=depth, init=init[name])
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(dut.read(name).addr), dut.read(name).data.eq(rp.data)]
        if written:
            wp = mem.write_port(granularity=cfg.weight_bits if lanes else None)
            w = dut.write(name)
            m.d.comb += [wp.addr.eq(w.addr), wp.data.eq(w.data), wp.en.eq(w.en)]
        mems[name] = mem
    lfsr = [int(contents.values["lfsr", k][0]) for k in range(cfg.n_layers)]
    m.d.comb += [dut.cur.eq(cur)] + [dut.lfsr[k].eq(v) for k, v in enumerate(lfsr)]
    return m, dut, mems


def config(seed: int, rng: np.random.Generator):
    """1, 2 and 4 lanes, each with and without the symmetric nudge."""
    over = {"nudge": "symmetric"} if seed // 3 == 1 else {}
    return small_config(rng, lanes=(1, 2, 4)[seed % 3], **over)


def check(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    cfg = config(seed, rng)
    amap = AddressMap(cfg)
    contents = Contents(cfg, amap, rng)
    cur = int(rng.integers(0, 2))
    m, dut, mems = harness(cfg, contents, cur)
    reads = [(r, off) for r, (_, _, size) in enumerate(amap.regions) for off in range(size)]
    rng.shuffle(reads)
    written = [(r, off) for r, (kind, _, size) in enumerate(amap.regions)
               if kind in ("W", "b", "lfsr") for off in range(size)]
    writes = [written[int(k)] for k in rng.integers(0, len(written), 3 * len(written))]
    data = [int(rng.integers(cfg.weight_min, cfg.weight_max + 1))
            if amap.regions[r][0] != "lfsr" else int(rng.integers(1, 1 << 32))
            for r, _ in writes]
    got_reads, seeds, ends = [], [], {}

    async def request(ctx, region: int, offset: int, write: bool, value: int = 0):
        ctx.set(dut.host.req.payload, {"region": region, "offset": offset, "write": write,
                                       "data": value})
        ctx.set(dut.host.req.valid, 1)
        assert ctx.get(dut.host.req.ready)
        await ctx.tick()
        ctx.set(dut.host.req.valid, 0)

    async def tb(ctx):
        ctx.set(dut.busy, 1)  # busy: no request is taken
        await ctx.tick()
        assert not ctx.get(dut.host.req.ready)
        ctx.set(dut.busy, 0)
        for region, offset in reads:
            await request(ctx, region, offset, False)
            latency = 1
            while not ctx.get(dut.host.resp.valid):
                assert not ctx.get(dut.seed.en) and not ctx.get(dut.wrote)
                await ctx.tick()
                latency += 1
            got_reads.append((ctx.get(dut.host.resp.payload), latency))
        for (region, offset), value in zip(writes, data, strict=True):
            await request(ctx, region, offset, True, value)
            assert ctx.get(dut.wrote)  # (the predrive's drive is void)
            if ctx.get(dut.seed.en):
                seeds.append((ctx.get(dut.seed.layer), ctx.get(dut.seed.data)))
        for _ in range(4):
            await ctx.tick()
            assert not ctx.get(dut.seed.en) and not ctx.get(dut.wrote)
        for name, mem in mems.items():
            ends[name] = [ctx.get(mem.data[a]) for a in range(mem.depth)]

    run_clocked(m, tb)
    # reads: every element as the network holds it, READ_LATENCY cycles after asking
    for (region, offset), (value, latency) in zip(reads, got_reads, strict=True):
        kind, layer, _ = amap.regions[region]
        assert latency == READ_LATENCY
        assert value == contents.values[kind, layer][offset], (kind, layer, offset)
    # writes: the network with the written elements changed, in order
    want_seeds = []
    for (region, offset), value in zip(writes, data, strict=True):
        kind, layer, _ = amap.regions[region]
        contents.values[kind, layer][offset] = value
        if kind == "lfsr":
            want_seeds.append((layer, value))
    assert seeds == want_seeds
    want = contents.memories(cur)
    for name, words_ in ends.items():
        _, shape, _ = host_ports(make_plan(cfg))[name]
        mask = (1 << shape.width) - 1
        assert [w & mask for w in words_[:len(want[name])]] == [w & mask for w in want[name]], \
            name


@pytest.mark.parametrize("seed", range(9))
def test_reads_and_writes_reach_the_elements_the_layout_places(seed: int) -> None:
    check(seed)


def test_the_seeds_cover_the_lanes_and_the_symmetric_nudge() -> None:
    """What the random configs above reach (worked from the same seeds)."""
    lanes, odd, sym = set(), set(), set()
    for seed in range(9):
        rng = np.random.default_rng(300 + seed)
        cfg = config(seed, rng)
        lanes.add(cfg.lanes)
        if cfg.lanes > 1:
            odd.update(g.n_in % cfg.lanes == 0 for g in weight_layouts(cfg))
            sym.add(cfg.nudge)
    assert lanes == {1, 2, 4} and odd == {True, False} and sym == {"symmetric", "positive"}
