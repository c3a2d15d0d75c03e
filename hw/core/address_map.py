"""The host port's address map, computed from the config so driver, testbench and
gateware agree on it."""

from __future__ import annotations

from epfpga.model.config import EPConfig


class AddressMap:
    """The host port's regions: weights, biases, free states, current states, (+beta end
    states with symmetric nudge), LFSRs; the host names a region by its index here and
    an element by its offset in the region (row-major for weights).

    Computed from the config so driver, testbench and gateware agree on it."""

    def __init__(self, cfg: EPConfig):
        self.regions: list[tuple[str, int, int]] = []  # (kind, layer, size)
        kinds = ("W", "b", "sf", "s") + (("sp",) if cfg.nudge == "symmetric" else ())
        for kind in kinds:
            for layer in range(cfg.n_layers):
                n_out, n_in = cfg.layers[layer + 1], cfg.layers[layer]
                self.regions.append((kind, layer, n_out * n_in if kind == "W" else n_out))
        self.regions += [("lfsr", layer, 1) for layer in range(cfg.n_layers)]
        self.max_size = max(size for _, _, size in self.regions)

    def index(self, kind: str, layer: int) -> int:
        for r, (k, lay, _) in enumerate(self.regions):
            if k == kind and lay == layer:
                return r
        raise KeyError((kind, layer))

    def size(self, kind: str, layer: int) -> int:
        return self.regions[self.index(kind, layer)][2]

