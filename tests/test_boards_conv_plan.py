"""The conv EP gateware plan (boards/conv_plan.py): MAC counts against explicit loops,
block RAM counts worked by hand, the fit check and its CLI."""

from __future__ import annotations

import pytest

from epfpga.boards.conv_plan import conv_fit_check, conv_plan, layer_macs
from epfpga.cli import main
from epfpga.config import get_config
from epfpga.conv import ConvConfig
from epfpga.errors import EpfpgaError

SMALL = ConvConfig(in_shape=(2, 9, 9), channels=(3, 4), kernels=(3, 2), strides=(1, 2),
                   paddings=(1, 0), pools=(2, 1), fc=(5, 3), lrs=(0.1,) * 4, name="s")


def _loop_counts(cfg: ConvConfig) -> tuple[int, int]:
    """Multiplies of one relaxation step by walking every output and tap: the forward
    passes above the input, and the feedback passes from the routed positions."""
    fwd = fb = 0
    for i in range(1, cfg.n_layers):
        if i < cfg.n_conv:
            co, ci, k, _ = cfg.weight_shape(i)
            h, w, _ = cfg.conv_shapes[i]
            q = cfg.pools[i]
            for _y in range(h):
                for _x in range(w):
                    for _o in range(co):
                        for _c in range(ci):
                            for _dy in range(k):
                                for _dx in range(k):
                                    fwd += 1
            for _py in range(h // q):
                for _px in range(w // q):
                    for _o in range(co):  # the window's winner only
                        fb += ci * k * k
        else:
            n_out, n_in = cfg.weight_shape(i)
            for _o in range(n_out):
                for _j in range(n_in):
                    fwd += 1
                    fb += 1
    return fwd, fb


@pytest.mark.parametrize("cfg", [SMALL, get_config("cnn-tiny")])
def test_macs_per_step_match_a_loop(cfg) -> None:
    step, once = layer_macs(cfg)
    fwd, fb = _loop_counts(cfg)
    assert sum(v for k, v in step.items() if k.startswith("forward")) == fwd
    assert sum(v for k, v in step.items() if k.startswith("feedback")) == fb
    # the input drive: every pre-pooling position of conv 0, once
    h, w, co = cfg.conv_shapes[0]
    assert once["input drive (state 1)"] == h * w * co * cfg.in_shape[0] * cfg.kernels[0] ** 2


def test_block_rams_worked_by_hand() -> None:
    """cnn, batch 1, 64 lanes: K1 (64x32x5x5 = 51 200 weights) in 32 skewed banks of 1600
    x 16 bit; a DP16KD is 1024 x 18 at best for that, so 2 per bank: 64.  State 1 is
    12x12x32 = 4608 x 9 bit, one 2048 x 9 block per 2048 words: 3 per copy, 3 copies
    (Jacobi: old, new, free)."""
    plan = conv_plan(get_config("cnn").replace(batch_size=1), "ulx3s")
    assert plan.lanes == 64 and plan.multipliers == 65
    mem = {m.name.split(" (")[0]: m for m in plan.memories}
    assert (mem["weights 1"].depth, mem["weights 1"].banks, mem["weights 1"].blocks) == (
        1600, 32, 64)
    assert (mem["state 1"].copies, mem["state 1"].blocks) == (3, 9)
    assert "update sums 1" not in mem
    assert plan.ram_blocks <= 208
    # the cycle bound: every step's passes on 64 lanes, times T1 + T2
    assert plan.cycles_per_step == sum(-(-v // 64) for v in plan.macs_per_step.values()) + \
        8 * len(plan.macs_per_step)
    assert plan.cycles_per_sample > 210 * plan.cycles_per_step


def test_a_batch_of_update_sums_does_not_fit() -> None:
    with pytest.raises(EpfpgaError, match=r"needs \d+ block RAMs .*largest: update sums 1"):
        conv_fit_check(get_config("cnn"), "ulx3s")
    with pytest.raises(EpfpgaError, match="multipliers"):
        conv_fit_check(get_config("cnn").replace(batch_size=1), "ulx3s", lanes=256)


def test_build_check_only_prints_the_plan(tmp_path, capsys) -> None:
    cfg = tmp_path / "cnn1.toml"
    get_config("cnn").replace(batch_size=1, name="cnn1").save(cfg)
    assert main(["build", "--board", "ulx3s", "--config", str(cfg), "--check-only"]) == 0
    out = capsys.readouterr().out
    assert "no conv gateware exists yet" in out and "samples/s at 40 MHz" in out
    assert main(["build", "--board", "ulx3s", "--config", str(cfg)]) == 2
    assert "not built yet" in capsys.readouterr().err
    assert main(["build", "--board", "ulx3s", "--config", "cnn", "--check-only"]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_change_driven_count_is_zero_when_nothing_changes() -> None:
    import numpy as np

    from epfpga.boards.conv_plan import delta_macs
    from epfpga.conv import ConvGolden

    cfg = SMALL.replace(T1=20)
    Xq = np.random.default_rng(0).integers(0, cfg.act_one + 1, (3, 2 * 9 * 9))
    still = ConvGolden(cfg, W=[np.zeros(cfg.weight_shape(i), np.int64)
                               for i in range(cfg.n_layers)],
                       b=[np.zeros(cfg.weight_shape(i)[0], np.int64)
                          for i in range(cfg.n_layers)])
    assert delta_macs(still, Xq, 20)["delta_per_step"] == 0
    r = delta_macs(ConvGolden(cfg.replace(init_gain=2.0)), Xq, 20)
    assert 0 < r["delta_per_step"] < r["dense_per_step"]
