"""The relaxation's writeback alone: random accumulators, output states, labels, betas
and phase ends, both visiting orders on the output and a hidden layer, against the
numerics contract worked in integers here (rho rounds half up and clips to [0, 1]; the
nudge beta (y - s_L), registered when the output row opens, joins the accumulator
<< nudge_shift while nudging) and against the stores' addressing (the bank not read,
the free and +beta end states, a lane or a word)."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.argmax import candidate_layout
from epfpga.hw.core.relax_writeback import RelaxWriteback
from epfpga.hw.plan import make_plan
from epfpga.model.config import EPConfig
from tests.hw.simulate import run_clocked


def rho(total: int, cfg: EPConfig) -> int:
    r = (total + (1 << (cfg.weight_frac - 1))) >> cfg.weight_frac  # floor: half up
    return 0 if r < 0 else min(r, cfg.act_one)


def words(n: int, lanes: int) -> int:
    return -(-n // lanes)


@pytest.mark.parametrize(("lanes", "orders", "nudge"), [
    (2, {1: "rows", 2: "groups"}, "symmetric"),
    (2, {1: "groups", 2: "rows"}, "positive"),
    (4, {1: "groups", 2: "groups"}, "symmetric"),
    (1, {1: "rows", 2: "rows"}, "positive"),
])
def test_new_states_and_their_writes(lanes: int, orders: dict[int, str], nudge: str) -> None:
    cfg = EPConfig(layers=(7, 5, 3), act_frac=6, weight_bits=12, weight_frac=9,
                   beta_frac=3, lanes=lanes, nudge=nudge, name="wb")
    L, P, one, n = 2, lanes, cfg.act_one, cfg.layers
    plan = make_plan(cfg, True, False)
    depths = {lay: (plan.memory(f"s{lay}")[0], plan.memory(f"sf{lay}")[0]) for lay in orders}
    cand = candidate_layout(P, cfg.act_bits, 8)
    dut = RelaxWriteback(cfg, orders, depths, cand)
    rng = np.random.default_rng(lanes * 7 + len(nudge))
    span = (one << cfg.weight_frac) * 3 // 2  # rho both clips and passes
    trials = []
    for _ in range(120):
        lay = int(rng.integers(1, L + 1))
        rows_order = orders[lay] == "rows"
        i = int(rng.integers(0, n[lay] if rows_order else words(n[lay], P)))
        trials.append(dict(
            lay=lay, i=i, open=bool(rng.random() < 0.8), run=bool(rng.random() < 0.85),
            write=bool(rng.random() < 0.85), last=bool(rng.random() < 0.85),
            acc=[int(v) for v in rng.integers(-span, span, P)],
            own=[int(v) for v in rng.integers(0, one + 1, P)],
            label=int(rng.integers(0, n[L])), beta=int(rng.integers(-8, 9)),
            nudging=int(rng.integers(0, 2)), cur=int(rng.integers(0, 2)),
            free_end=int(rng.integers(0, 2)), plus_end=int(rng.integers(0, 2))))
    got = []

    async def tb(ctx):
        for tr in trials:
            # the row opens: the accumulate stage sees its first entry
            ctx.set(dut.run, tr["run"])
            ctx.set(dut.accumulate, {"v": tr["open"], "first": 1, "lay": tr["lay"],
                                     "i": tr["i"], "out": tr["lay"] == L})
            ctx.set(dut.own, tr["own"])
            ctx.set(dut.label, tr["label"])
            ctx.set(dut.beta, tr["beta"])
            await ctx.tick()
            ctx.set(dut.accumulate, {"v": 0})
            ctx.set(dut.write, {"v": tr["write"], "last": tr["last"], "lay": tr["lay"],
                                "i": tr["i"], "out": tr["lay"] == L})
            for k in ("acc", "nudging", "cur", "free_end", "plus_end"):
                ctx.set(getattr(dut, k), tr[k])
            out = {}
            for lay in orders:
                for kind in ("s", "sf") + (("sp",) if nudge == "symmetric" else ()):
                    port = getattr(dut, f"{kind}{lay}")
                    out[f"{kind}{lay}"] = (ctx.get(port.en), ctx.get(port.addr),
                                           ctx.get(port.data))
            c = dut.candidates
            out["cand"] = (ctx.get(c.valid), ctx.get(c.payload.row),
                           [ctx.get(c.payload.s[k]) for k in range(P)],
                           [ctx.get(c.payload.ok[k]) for k in range(P)])
            got.append(out)
            await ctx.tick()

    run_clocked(dut, tb)

    nudge_reg = [0] * P
    ab, wsh = cfg.act_bits, cfg.nudge_shift
    for tr, out in zip(trials, got, strict=True):
        lay, i, rows_order = tr["lay"], tr["i"], orders[tr["lay"]] == "rows"
        rows = [i] if rows_order else [i * P + k for k in range(P)]
        if tr["run"] and tr["open"] and lay == L:
            nudge_reg = [((one if tr["label"] == r else 0) - tr["own"][k]) * tr["beta"]
                         for k, r in enumerate(rows)] + nudge_reg[len(rows):]
        s = [rho(tr["acc"][k] + ((nudge_reg[k] << wsh) if lay == L and tr["nudging"] else 0),
                 cfg) for k in range(len(rows))]
        if rows_order:
            word, en, lanes_v = i // P, 1 << (i % P), [s[0]] * P
        else:
            word = i
            en = sum(1 << k for k, r in enumerate(rows) if r < n[lay])
            lanes_v = s
        data = sum(v << (ab * k) for k, v in enumerate(lanes_v))
        writes = tr["write"] and tr["last"]
        want = {}
        for lay2 in orders:
            for kind, when in (("s", 1), ("sf", tr["free_end"]), ("sp", tr["plus_end"])):
                if kind == "sp" and nudge != "symmetric":
                    continue
                if lay2 == lay and writes and when:
                    addr = (1 - tr["cur"]) * words(n[lay], P) + word if kind == "s" else word
                    want[f"{kind}{lay2}"] = (en, addr, data)
                else:
                    want[f"{kind}{lay2}"] = (0, 0, 0)
        if lay == L and writes and tr["free_end"]:
            ok = [1] + [0] * (P - 1) if rows_order else [int(r < n[L]) for r in rows]
            s_lanes = s + [0] * (P - len(s))
            want["cand"] = (1, rows[0], s_lanes, ok)
        else:
            want["cand"] = (0, 0, [0] * P, [0] * P)
        assert out == want, tr
