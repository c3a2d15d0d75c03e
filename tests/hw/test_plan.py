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
