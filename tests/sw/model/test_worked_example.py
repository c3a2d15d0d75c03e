"""The hand-worked example of docs/numerics.md, numbers copied from the hand calculation."""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel


def test_worked_example() -> None:
    cfg = EPConfig(layers=(2, 1, 1), act_frac=2, weight_bits=8, weight_frac=4, T1=4, T2=2,
                   beta=0.5, beta_frac=1, lrs=(0.25, 0.25), lr_frac=4, rounding="nearest",
                   part="none", acc_bits=20)
    assert (cfg.beta_q, cfg.nudge_shift, cfg.update_q, cfg.update_shift) == (1, 3, (8, 8), 4)
    W = [np.array([[8, -4]]), np.array([[12]])]
    b = [np.array([2]), np.array([-4])]
    g = GoldenModel(cfg, W, b)
    x = np.array([4, 2])
    assert g.input_drive(x).tolist() == [32]
    tr = g.train_sample(x, 0, record=True)
    states = [[int(s1[0]), int(s2[0])] for s1, s2 in tr.steps]
    assert states == [[2, 0], [2, 1], [3, 1], [3, 1], [3, 3], [4, 2]]
    assert tr.prediction == 0
    assert g.W[0].tolist() == [[10, -3]] and g.b[0].tolist() == [4]
    assert g.W[1].tolist() == [[15]] and g.b[1].tolist() == [-2]
