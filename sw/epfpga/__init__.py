"""epfpga: on-chip training with Equilibrium Propagation (gateware, golden model, driver)."""

from epfpga.model.config import PRESETS, ConfigError, EPConfig, get_config

__all__ = ["EPConfig", "ConfigError", "PRESETS", "get_config"]
__version__ = "0.1.0"
