from __future__ import annotations

import pytest

from epfpga.model.config import PRESETS, ConfigError, EPConfig, get_config


def test_presets_are_valid_and_digests_distinct() -> None:
    digests = {c.digest for c in PRESETS.values()}
    assert len(digests) == len(PRESETS)
    assert PRESETS["up5k"].layers == (784, 64, 10)
    # 784*64 16-bit words fit the UP5K's 4 SPRAM banks of 16K words
    assert 784 * 64 <= 4 * 16384 and PRESETS["up5k"].weight_bits <= 16


def test_digest_is_stable_and_ignores_name() -> None:
    a = EPConfig(name="x")
    assert a.digest == EPConfig(name="y").digest
    assert a.digest != EPConfig(T1=a.T1 + 1).digest
    assert len(a.digest) == 16


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_save_load_roundtrip(tmp_path, suffix: str) -> None:
    cfg = PRESETS["tiny"]
    p = tmp_path / f"c{suffix}"
    cfg.save(p)
    back = EPConfig.load(p)
    assert back == cfg and back.digest == cfg.digest


@pytest.mark.parametrize("kwargs, message", [
    (dict(acc_bits=20), "acc_bits=20 is too narrow for layer 1"),
    (dict(weight_bits=18, weight_frac=13), "wider than the up5k multiplier"),
    (dict(layers=(784,)), "at least an input and an output"),
    (dict(lrs=(0.1,)), "one learning rate per layer"),
    (dict(beta=0.001, beta_frac=4), "rounds to 0"),
    (dict(rounding="floor"), "rounding must be one of"),
    (dict(weight_frac=16), "weight_frac must be"),
    (dict(T1=0), "T1 must be in 1..100000"),
    (dict(layers=(784, 0, 10)), "every layer size must be >= 1"),
    (dict(beta=2.0), "beta must be in (0, 1]"),
    # what a config file can say: wrong types, absurd sizes, what no board can carry
    (dict(T1=5.5), "T1 must be an integer, got 5.5"),
    (dict(T1="20"), "T1 must be an integer, got '20'"),
    (dict(T2=10**9), "T2 in 0..100000"),
    (dict(layers="abc"), "layers must be a list of integers"),
    (dict(layers=(784, 64.5, 10)), "layers must be a list of integers"),
    (dict(lrs=("a", 0.1)), "lrs must be a list of numbers"),
    (dict(correction=1), "correction must be true or false"),
    (dict(beta=True), "beta must be a number"),
    (dict(layers=(784, 64, 300)), "at most 256 classes"),
    (dict(layers=(5000, 64, 10)), "more than a frame carries"),
])
def test_validation_messages(kwargs, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        EPConfig(**kwargs)
    assert message in str(e.value)


def test_acc_need_grows_with_fan_in() -> None:
    small = EPConfig(layers=(16, 8, 4), part="none").acc_bits_needed
    big = EPConfig(layers=(4096, 8, 4), part="none", acc_bits=44).acc_bits_needed
    assert big[0] >= small[0] + 8  # 256x the fan-in needs 8 more bits


def test_get_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown config"):
        get_config("nope")
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": [4, 2], "lrs": [0.1], "colour": 3}')
    with pytest.raises(ConfigError, match="unknown config keys"):
        get_config(str(bad))
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot parse"):
        get_config(str(bad))
