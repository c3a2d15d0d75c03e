"""``epfpga bench boards``: training samples/s per board build, side by side in one run.

Each board's core runs the same MNIST training images, streamed, in Verilator with that
board's multiplier plan (bit-exact with golden, or the bench stops); its cycles per
sample at the clock its build meets (``parts.BOARD_BUILDS``) give the compute figure,
and the sparse frames at the UART's baud rate the link figure.  The speed ratios are
per training sample, against the first row (the iCEBreaker)."""

from __future__ import annotations

from epfpga.errors import EpfpgaError
from epfpga.model.config import get_config

from .command_build import throughput
from .parts import BOARD_BUILDS, PARTS
from .profiles import DEFAULT_BAUD as BAUD


def bench_boards(samples: int = 21) -> list[dict[str, object]]:
    rows = []
    for board, name, clock in BOARD_BUILDS:
        cfg = get_config(name)
        r = throughput(cfg, clock, BAUD, simulate=True,
                       shared_mul=PARTS[board].shared_mul, samples=samples)
        if "cycles_per_sample" not in r:
            raise EpfpgaError(f"{name} on {board}: no cycle count (MNIST missing, or the "
                              "gateware differs from golden: run the sim tests)")
        rows.append({"board": board, "config": name, "clock_mhz": clock, "lanes": cfg.lanes,
                     "layers": cfg.layers, **r})
    return rows


def main(samples: int = 21) -> None:
    rows = bench_boards(samples)
    base = rows[0]["compute_samples_per_s"]
    print(f"| board | config | lanes | core clock | cycles / training sample "
          f"({samples - 1} streamed) | samples/s | vs {rows[0]['board']} | "
          f"link at {BAUD // 1000} kbaud |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['board']} | {r['config']} ({'-'.join(map(str, r['layers']))}) | "
              f"{r['lanes']} | {r['clock_mhz']:.0f} MHz | {r['cycles_per_sample']:.0f} | "
              f"{r['compute_samples_per_s']:.0f} | "
              f"{r['compute_samples_per_s'] / base:.1f}x | "
              f"{r['link_samples_per_s']:.0f} samples/s |")
