"""The hardware plan (hw/plan.py): the structural choices follow from the multiplier
plan and the part as the core's docstring and docs/results.md describe them."""

from __future__ import annotations

from amaranth.hdl import Fragment

from epfpga.boards.parts import PARTS, board_plan, fit_check
from epfpga.hw.core import EPCore
from epfpga.hw.plan import make_plan
from epfpga.model.config import get_config


def test_each_preset_gets_its_part_plan() -> None:
    assert make_plan(get_config("up5k")).shared_mul
    assert make_plan(get_config("tiny")).shared_mul
    ecp5 = make_plan(get_config("ecp5"))
    assert ecp5.fast and ecp5.predrive and ecp5.w0_bit_sliced and ecp5.double_buffered
    assert ecp5.relax_halves == {1: 2, 2: 2} and ecp5.odd_even and ecp5.mul_latency == 1


def test_the_up5k_w0_is_single_port_on_both_plans_and_spram_only_on_the_icebreaker() -> None:
    cfg = get_config("up5k")
    for shared in (True, False):
        assert make_plan(cfg, shared).single_port_w0
        assert not make_plan(cfg, shared).w0_bit_sliced  # SPRAM is 16 bits wide
    ice, ulx = board_plan(cfg, "icebreaker"), board_plan(cfg, "ulx3s")
    assert ice.spram and ice.shared_mul == PARTS["icebreaker"].shared_mul
    assert not ulx.spram and ulx.fast
    assert not any(name.startswith("w0") for name, _, _ in ice.memories())
    assert fit_check(cfg, "icebreaker")["spram_words"] == 784 * 64


def test_the_core_builds_what_its_plan_says() -> None:
    cfg = get_config("ecp5")
    plan = make_plan(cfg, shared_mul=True)
    core = EPCore(cfg, shared_mul=False, plan=plan)  # the plan wins
    assert core.plan is plan and core.shared_mul and not core.spram
    # and the netlist is the plan's: one relaxation pipeline, as the shared plan has
    fragment = Fragment.get(core, None)
    names = {sub[1] for sub in fragment.subfragments}
    assert "accumulators" in names and "accumulators1" not in names


def test_each_layer_is_visited_in_the_order_with_fewer_cycles() -> None:
    """Worked by hand for 4-6-3 on two lanes (shared plan, no halves).  Layer 1 has no
    bottom-up inputs and 3 top-down ones (2 words): by rows 6 x 2 = 12 cycles, by groups
    3 x 3 = 9, so groups.  Layer 2 has 6 bottom-up inputs (3 words), none top-down: by
    rows 3 x 3 = 9, by groups 2 x 6 = 12, so rows."""
    cfg = get_config("tiny").replace(layers=(4, 6, 3), lanes=2)
    visits = make_plan(cfg, shared_mul=True).relax_visits
    assert (visits[1].order, visits[1].rows, visits[1].entries) == ("groups", 3, 3)
    assert visits[1].inputs == (0, 3) and visits[1].input_words == (0, 2)
    assert (visits[2].order, visits[2].rows, visits[2].entries) == ("rows", 3, 3)
    assert visits[2].inputs == (6, 0) and visits[2].input_words == (3, 0)
    # the fast plan halves the first and last layers' entries: layer 1 by rows 6 x 1,
    # by groups 3 x 2 (a tie: rows); layer 2 by rows 3 x 2, by groups 2 x 3 (rows)
    fast = make_plan(cfg, shared_mul=False).relax_visits
    assert [(fast[k].order, fast[k].rows, fast[k].entries) for k in (1, 2)] == [
        ("rows", 6, 1), ("rows", 3, 2)]
