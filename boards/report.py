"""Parse nextpnr's log into a resource and timing report."""

from __future__ import annotations

import re
from pathlib import Path


def parse_nextpnr_log(path: Path) -> dict[str, object]:
    text = path.read_text(errors="replace")
    util: dict[str, tuple[int, int]] = {}
    # the last utilisation table is the post-placement one
    for cell, used, avail in re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text):
        util[cell] = (int(used), int(avail))
    fmax: dict[str, float] = {}
    for clk, mhz in re.findall(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz", text):
        fmax[clk] = float(mhz)  # later lines (after routing) overwrite earlier estimates
    errors = re.findall(r"ERROR: (.*)", text)
    return {"utilisation": util, "fmax_mhz": fmax, "errors": errors}


def overflow(util: dict[str, tuple[int, int]]) -> list[str]:
    """The resources a failed placement asked more of than the part has, in words."""
    return [f"{used} {cell} of {avail} ({100 * used / avail:.0f}%)"
            for cell, (used, avail) in util.items() if avail and used > avail]
