"""The conv gateware plan (boards/conv_plan.py): its multiply counts against naive loops
that do the arithmetic and count every multiply, its block counts against hand-worked
ones, and the fit check and ``epfpga build --check-only`` path for CNNs."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.boards.conv_plan import conv_fit_check, conv_plan, sliced_blocks
from epfpga.boards.parts import PARTS, blocks
from epfpga.cli import main
from epfpga.conv.config import CONV_PRESETS, ConvConfig
from epfpga.conv.model import make_links
from epfpga.conv.ops import weight_matrix
from epfpga.errors import EpfpgaError

# padding 1 and a 9x9 conv output pooled 2x2 (the last row and column fill no window),
# then a kernel-2 conv and an fc layer: every irregular case of the counts
ODD = ConvConfig(in_shape=(2, 9, 9), channels=(3, 4), kernels=(3, 2), strides=(1, 1),
                 paddings=(1, 0), pools=(2, 2), fc=(5,), T1=3, T2=2, batch_size=4,
                 name="odd")


def _naive_conv_counts(cfg: ConvConfig, i: int, rng: np.random.Generator
                       ) -> tuple[int, int, int]:
    """(forward, top-down, statistic) multiplies of conv layer i, counted while doing
    them by explicit loops, each result checked against the model's ops."""
    link = make_links(cfg)[i]
    cout, cin, k, _ = cfg.weight_shape(i)
    st, p, q = cfg.strides[i], cfg.paddings[i], cfg.pools[i]
    h, w, _ = link.in_shape
    hp, wp, _ = cfg.state_shapes[i]
    K = rng.integers(-9, 10, size=(cout, cin, k, k))
    link.Wm = weight_matrix(K, np.float64)
    u = rng.integers(0, 5, size=(1, h, w, cin)).astype(np.float64)
    v = rng.integers(0, 5, size=(1, hp, wp, cout)).astype(np.float64)
    up = np.pad(u[0], ((p, p), (p, p), (0, 0)))
    # forward: every conv output a pooling window uses, then its max (first max wins)
    n_fwd = 0
    pooled = np.zeros((hp, wp, cout))
    arg = np.zeros((hp, wp, cout), dtype=int)
    for Y in range(hp):
        for X in range(wp):
            for o in range(cout):
                best = None
                for dy in range(q):
                    for dx in range(q):
                        z = 0.0
                        for ky in range(k):
                            for kx in range(k):
                                for c in range(cin):
                                    z += K[o, c, ky, kx] * up[(Y * q + dy) * st + ky,
                                                              (X * q + dx) * st + kx, c]
                                    n_fwd += 1
                        if best is None or z > best:
                            best, arg[Y, X, o] = z, dy * q + dx
                pooled[Y, X, o] = best
    ref, idx = link.forward(u)
    assert np.array_equal(pooled, ref[0])
    if q > 1:
        assert np.array_equal(arg, idx[0])
    # top-down: every (conv position, tap) pair; only a window's argmax carries a value
    n_bwd, n_stat = 0, 0
    g = np.zeros_like(up)
    dK = np.zeros(K.shape)
    for py in range(hp * q):
        for px in range(wp * q):
            Y, X = py // q, px // q
            for o in range(cout):
                if arg[Y, X, o] != (py % q) * q + px % q:
                    continue
                for ky in range(k):
                    for kx in range(k):
                        for c in range(cin):
                            g[py * st + ky, px * st + kx, c] += K[o, c, ky, kx] * v[0, Y, X, o]
                            n_bwd += 1
                            dK[o, c, ky, kx] += v[0, Y, X, o] * up[py * st + ky,
                                                                    px * st + kx, c]
                            n_stat += 1
    g = g[p:p + h, p:p + w] if p else g
    assert np.array_equal(g, link.backward(v, idx)[0])
    assert np.array_equal(weight_matrix(dK), link.weight_stat(u, v, idx))
    return n_fwd, n_bwd, n_stat


def _naive_fc_counts(n_in: int, n_out: int) -> tuple[int, int, int]:
    n = [0, 0, 0]
    for _o in range(n_out):
        for _i in range(n_in):
            n[0] += 1  # forward:  out[o] += W[o, i] u[i]
            n[1] += 1  # top-down: in[i] += W[o, i] v[o]
            n[2] += 1  # statistic: dW[o, i] += v[o] u[i]
    return n[0], n[1], n[2]


@pytest.mark.parametrize("cfg", [ODD, CONV_PRESETS["cnn-tiny"]], ids=["odd", "cnn-tiny"])
def test_mac_counts_match_naive_loops(cfg: ConvConfig) -> None:
    rng = np.random.default_rng(7)
    naive = [_naive_conv_counts(cfg, i, rng) for i in range(cfg.n_conv)]
    n_in = cfg.layers[cfg.n_conv]
    for n_out in cfg.fc:
        naive.append(_naive_fc_counts(n_in, n_out))
        n_in = n_out
    plan = conv_plan(cfg, "ulx3s", lanes=16)
    got = [(w.forward_macs, w.backward_macs, w.stats_macs) for w in plan.layers]
    assert got == naive
    # a relaxation step: every layer's forward and top-down pass but the input's drive
    step = sum(f + b for f, b, _ in naive[1:])
    assert plan.macs_per_step == step
    routing = sum(f for f, _, _ in naive[1:cfg.n_conv])
    stats = sum(s for _, _, s in naive)
    params = cfg.n_weights + sum(cfg.weight_shape(i)[0] for i in range(cfg.n_layers))
    assert plan.macs_per_sample == (naive[0][0] + (cfg.T1 + cfg.T2) * step + routing
                                    + 2 * stats + -(-params // cfg.batch_size))


def test_cycles_never_beat_macs_over_lanes() -> None:
    cfg = CONV_PRESETS["cnn"]
    for lanes in (1, 8, 64, 128):
        plan = conv_plan(cfg, lanes=lanes)
        for w in plan.layers:
            assert w.forward_cycles * lanes >= w.forward_macs
            assert w.backward_cycles * lanes >= w.backward_macs
            assert w.stats_cycles * lanes >= w.stats_macs
        assert plan.cycles_per_step * lanes > plan.macs_per_step


def test_block_counts_by_hand() -> None:
    modes = PARTS["ulx3s"].ram_modes
    # 6400 x 28 bit: one 512x36 ratio takes 13 blocks; as 18 + 9 + 1 bit slices
    # 7 (1024x18) + 4 (2048x9) + 1 (16384x1) = 12
    assert blocks(6400, 28, modes) == 13
    assert sliced_blocks(6400, 28, modes) == 12
    assert sliced_blocks(800, 16, modes) == 1
    mem = {m.name: m for m in conv_plan(CONV_PRESETS["cnn"], lanes=128).memories}
    # conv 2 weights: 64 banks (one per output channel) of 32*25 = 800 16-bit words
    assert (mem["w1"].banks, mem["w1"].depth, mem["w1"].blocks) == (64, 800, 64)
    # its gradient sums: 100 samples x 16 positions x 256^2 < 2^27, signed: 28 bits;
    # 51200 words in one bank as 18 + 9 + 1 bits: 50 + 25 + 4 = 79
    assert (mem["g1"].width, mem["g1"].blocks) == (28, 79)
    # the input drive of 12x12x32 units, 35-bit (acc_bits_needed[0]): 9 x 512x36
    assert (mem["drive0"].depth, mem["drive0"].width, mem["drive0"].blocks) == (4608, 35, 9)
    # layer 1's accumulator: 2 groups x 4 window offsets = 8 banks of 576 x 35: 2 each
    assert (mem["acc0"].banks, mem["acc0"].blocks) == (8, 16)
    # conv 1 weights: 32 banks of 25 words, small enough for LUT RAM on the ECP5
    assert mem["w0"].lutram and mem["w0"].blocks == 0


def test_cnn_preset_fits_the_ecp5_with_128_lanes() -> None:
    plan = conv_fit_check(CONV_PRESETS["cnn"], "ulx3s")
    assert plan.lanes == 128  # 256 would need more than the 156 multipliers
    assert plan.multipliers_used == 131 <= 156
    assert plan.ram_blocks <= 208
    assert plan.clock_mhz == 40.0
    assert plan.samples_per_s == pytest.approx(40e6 / plan.cycles_per_sample)


@pytest.mark.parametrize("cfg, lanes, message", [
    (CONV_PRESETS["cnn"].replace(channels=(256, 512), name="big"), None,
     "conv config 'big' does not fit ulx3s (LFE5U-85F) with 1 MAC lane(s): needs"),
    (CONV_PRESETS["cnn"], 156, "needs 159 multipliers (156 MAC lanes) but the LFE5U-85F has "
                               "156; try fewer lanes"),
    (CONV_PRESETS["cnn"], 8, None),
])
def test_fit_check_names_what_does_not_fit(cfg, lanes, message) -> None:
    if message is None:
        assert conv_fit_check(cfg, "ulx3s", lanes=lanes).lanes == lanes
        return
    with pytest.raises(EpfpgaError) as e:
        conv_fit_check(cfg, "ulx3s", lanes=lanes)
    assert message in str(e.value)
    assert "try " in str(e.value)


def test_build_check_only_takes_the_conv_path(capsys, tmp_path) -> None:
    assert main(["build", "--board", "ulx3s", "--config", "cnn", "--check-only"]) == 0
    out = capsys.readouterr().out
    assert "128 MAC lanes at 40 MHz" in out and "no conv gateware exists yet" in out
    assert "fit check:" in out
    big = tmp_path / "big.toml"
    CONV_PRESETS["cnn"].replace(channels=(256, 512)).save(big)
    assert main(["build", "--board", "ulx3s", "--config", str(big), "--check-only"]) == 2
    assert "does not fit ulx3s" in capsys.readouterr().err
    # without --check-only: said in words, not a traceback
    assert main(["build", "--board", "ulx3s", "--config", "cnn"]) == 2
    assert "conv gateware is not built yet" in capsys.readouterr().err


def test_change_driven_count_is_zero_when_nothing_changes() -> None:
    from epfpga.boards.conv_plan import delta_macs
    from epfpga.conv import ConvGolden

    cfg = ConvConfig(in_shape=(2, 9, 9), channels=(3, 4), kernels=(3, 2), strides=(1, 2),
                     paddings=(1, 0), pools=(2, 1), fc=(5, 3), lrs=(0.1,) * 4, T1=20,
                     name="s")
    Xq = np.random.default_rng(0).integers(0, cfg.act_one + 1, (3, 2 * 9 * 9))
    still = ConvGolden(cfg, W=[np.zeros(cfg.weight_shape(i), np.int64)
                               for i in range(cfg.n_layers)],
                       b=[np.zeros(cfg.weight_shape(i)[0], np.int64)
                          for i in range(cfg.n_layers)])
    assert delta_macs(still, Xq, 20)["delta_per_step"] == 0
    r = delta_macs(ConvGolden(cfg.replace(init_gain=2.0)), Xq, 20)
    assert 0 < r["delta_per_step"] < r["dense_per_step"]
