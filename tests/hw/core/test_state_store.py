"""A layer's state store (hw/core/state_store.py) alone: the two banks with all their
readers (C-EP's other bank, the fast plan's own and second-half readers), the free and
the +beta end states, each written a lane at a time under random enables, against a
list of words read the cycle after their address (no write-through)."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.state_store import StateStore
from epfpga.hw.plan import make_plan
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


def _plan(kind: str):
    rng = np.random.default_rng(len(kind))
    over = {"symmetric": {"nudge": "symmetric"}, "cep": {"algorithm": "cep"},
            "fast": {}}[kind]
    cfg = small_config(rng, layers=(9, 6, 5), lrs=(0.2, 0.1), lanes=2, **over)
    return make_plan(cfg, shared_mul=kind != "fast")


@pytest.mark.parametrize("kind", ["symmetric", "cep", "fast"])
def test_store_reads_what_was_written_lane_by_lane(kind: str) -> None:
    plan = _plan(kind)
    layer = plan.cfg.n_layers  # the output layer: every extra reader lands there
    dut = StateStore(plan, layer)
    want_extras = {"symmetric": [], "cep": ["lo"], "fast": ["own", "half1"]}[kind]
    assert sorted(dut.extras) == sorted(want_extras)
    assert dut.ends == (["free", "plus"] if kind == "symmetric" else ["free"])
    lanes, bits = dut.lanes, dut.lane_bits
    rng = np.random.default_rng(7)
    # (write port, [read ports], depth, model words as lists of lane values)
    groups = [(dut.write, dut.readers(), dut.depth)]
    groups += [(getattr(dut, f"{e}_write"), [getattr(dut, f"{e}_read")], dut.end_depth)
               for e in dut.ends]
    models = [[[0] * lanes for _ in range(depth)] for _, _, depth in groups]
    got, want = [], []

    def word(values: list[int]) -> int:
        return sum(v << (bits * k) for k, v in enumerate(values))

    async def tb(ctx):
        for _ in range(200):
            reads = []
            for (w, readers, depth), model in zip(groups, models, strict=True):
                addrs = [int(rng.integers(depth)) for _ in readers]
                for r, a in zip(readers, addrs, strict=True):
                    ctx.set(r.addr, a)
                reads.append([word(model[a]) for a in addrs])
                wa = int(rng.integers(depth))
                values = [int(v) for v in rng.integers(0, 1 << bits, lanes)]
                en = [bool(b) for b in rng.random(lanes) < 0.5]
                ctx.set(w.addr, wa)
                ctx.set(w.data, word(values))
                ctx.set(w.en, sum(1 << k for k, e in enumerate(en) if e))
                model[wa] = [v if e else old for v, e, old in zip(values, en, model[wa],
                                                                  strict=True)]
            await ctx.tick()
            got.append([[ctx.get(r.data) for r in readers] for _, readers, _ in groups])
            want.append(reads)

    run_clocked(dut, tb)
    assert got == want
