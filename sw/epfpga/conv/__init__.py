"""Convolutional Equilibrium Propagation (seed 003): a float model and a bit-exact
fixed-point golden model sharing one relaxation engine (docs/numerics.md, "Conv EP")."""

from epfpga.conv.config import CONV_PRESETS, ConvConfig
from epfpga.conv.model import ConvEP, ConvGolden

__all__ = ["CONV_PRESETS", "ConvConfig", "ConvEP", "ConvGolden"]
