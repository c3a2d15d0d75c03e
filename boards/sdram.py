"""The ULX3S's SDRAM and its controller: LiteDRAM (BSD-2, pinned in pyproject.toml),
generated as standalone Verilog by its own ``litedram_gen`` for the chip and the core
clock, and instantiated by hw/store/litedram.py.

LiteDRAM's standalone SDR core brings its PHY (ECP5 I/O registers included) but no
initialisation sequencer: a CPU would replay the sequence its generator writes into
``sdram_phy.h`` over the core's control bus.  ``LiteDRAMCore.init_program`` is that
sequence as (CSR byte address, value, cycles to wait after) for the gateware's own
sequencer, read from the generated files so it always matches the core.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from epfpga.errors import EpfpgaError

#: LiteDRAM's release (pyproject.toml pins the same); part of the cache key
LITEDRAM_VERSION = "2024.12"


@dataclass(frozen=True)
class SDRAMChip:
    """An x16 SDR SDRAM the ULX3S has been made with (its schematic and batches): four
    banks of 2**row_bits rows of 2**col_bits words."""

    module: str  # litedram.modules class
    row_bits: int
    col_bits: int
    note: str

    @property
    def words(self) -> int:
        return 4 << (self.row_bits + self.col_bits)


CHIPS = {
    "MT48LC16M16": SDRAMChip("MT48LC16M16", 13, 9, "32 MB, most ULX3S boards"),
    "IS42S16160": SDRAMChip("IS42S16160", 13, 9, "32 MB, some batches"),
    "AS4C32M16": SDRAMChip("AS4C32M16", 13, 10, "64 MB, some batches"),
}
DEFAULT_CHIP = "MT48LC16M16"


@dataclass(frozen=True)
class LiteDRAMCore:
    verilog: Path
    chip: SDRAMChip
    clock_hz: float
    init_program: tuple[tuple[int, int, int], ...]
    addr_width: int  # of the native port's word address

    @property
    def words(self) -> int:
        return self.chip.words


def chip(name: str) -> SDRAMChip:
    try:
        return CHIPS[name]
    except KeyError:
        raise EpfpgaError(f"unknown SDRAM chip {name!r}: one of "
                          f"{', '.join(sorted(CHIPS))}") from None


def _config(c: SDRAMChip, clock_hz: float) -> str:
    return "\n".join([
        "{",
        '  "device": "LFE5U-85F-6BG381C", "cpu": "None", "memtype": "SDR",',
        f'  "sdram_module": "{c.module}", "sdram_module_nb": 2, "sdram_rank_nb": 1,',
        f'  "sdram_phy": "GENSDRPHY", "sys_clk_freq": {clock_hz:.1f},',
        '  "user_ports": {"native_0": {"type": "native"}}',
        "}", ""])


def litedram_core(chip_name: str, clock_hz: float, cache: Path) -> LiteDRAMCore:
    """The generated core for ``chip_name`` at ``clock_hz`` (cached under ``cache``)."""
    c = chip(chip_name)
    cfg = _config(c, clock_hz)
    key = hashlib.sha256((LITEDRAM_VERSION + cfg).encode()).hexdigest()[:16]
    d = cache / f"litedram-{c.module}-{clock_hz / 1e6:g}MHz-{key}"
    v = d / "gateware" / "litedram_core.v"
    d.mkdir(parents=True, exist_ok=True)
    with (d / ".lock").open("w") as lock:  # one generator per directory (a build and a
        fcntl.flock(lock, fcntl.LOCK_EX)  # simulation may ask at once)
        if not v.exists():
            _generate(d, cfg, v)
        _inout_dq(v)
    program = init_program(d / "csr.csv", d / "software" / "include" / "generated" /
                           "sdram_phy.h", clock_hz)
    width = _port_addr_width(v.read_text())
    return LiteDRAMCore(v, c, clock_hz, program, width)


def _generate(d: Path, cfg: str, v: Path) -> None:
    """Run litedram_gen in ``d`` (its own process: LiteX keeps global state)."""
    (d / "core.yml").write_text(cfg)
    log = d / "gen.log"
    with log.open("w") as f:
        try:
            r = subprocess.run([sys.executable, "-m", "litedram.gen", "core.yml",
                                "--name", "litedram_core", "--output-dir", "."],
                               cwd=d, stdout=f, stderr=subprocess.STDOUT, timeout=600)
        except subprocess.TimeoutExpired:
            raise EpfpgaError(f"litedram_gen took over 10 minutes; see {log}") from None
    if r.returncode != 0 or not v.exists():
        raise EpfpgaError("LiteDRAM's generator failed (pip install -e '.[fpga]' installs "
                          f"it); see {log}:\n" + log.read_text()[-1500:])


def _inout_dq(v: Path) -> None:
    """LiteX declares the data bus an input although its I/O buffers drive it: made an
    inout, so a simulator sees the writes (the synthesised bitstream is the same)."""
    text = v.read_text()
    if re.search(r"inout\s+wire\s+\[15:0\]\s+sdram_dq", text):
        return
    fixed = re.sub(r"input(\s+wire\s+\[15:0\]\s+sdram_dq)", r"inout\1", text, count=1)
    if fixed == text:
        raise EpfpgaError(f"no sdram_dq port in {v}")
    v.write_text(fixed)


def _port_addr_width(verilog: str) -> int:
    m = re.search(r"input\s+wire\s+\[(\d+):0\]\s+user_port_native_0_cmd_addr", verilog)
    if not m:
        raise EpfpgaError("the generated LiteDRAM core has no native user port")
    return int(m.group(1)) + 1


#: cycles per iteration of the BIOS's ``cdelay`` busy loop (a few instructions; rounded
#: up): the short waits cover tMRD and tRFC many times over, and the 200 us after CKE
#: is enforced on its own below.  Not much longer: once refreshing has begun, the
#: rows must be refreshed again within tREFI.
CDELAY_CYCLES = 4


def init_program(csr_csv: Path, phy_h: Path, clock_hz: float
                 ) -> tuple[tuple[int, int, int], ...]:
    """The generator's ``init_sequence()`` (sdram_phy.h) as CSR writes, then the
    controller back in charge (DFII control = SEL) and ``init_done``."""
    csr = {}
    for line in csr_csv.read_text().splitlines():
        f = line.split(",")
        if len(f) >= 3 and f[0] == "csr_register":
            csr[f[1]] = int(f[2], 16)
    text = phy_h.read_text()
    flags = {k: int(v, 16) for k, v in re.findall(r"#define (DFII_\w+) (0x[0-9a-fA-F]+)", text)}

    def value(expr: str) -> int:
        expr = expr.strip()
        if re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", expr):
            return int(expr, 0)
        out = 0
        for name in expr.split("|"):
            out |= flags[name.strip()]
        return out

    body = text[text.index("init_sequence(void)"):]
    body = body[:body.index("\n}")]
    prog: list[list[int]] = []
    for call, arg in re.findall(r"(\w+)\(([^)]*)\);", body):
        if call == "cdelay":
            prog[-1][2] += value(arg) * CDELAY_CYCLES
        elif call == "command_p0":
            prog.append([csr["sdram_dfii_pi0_command"], value(arg), 0])
            prog.append([csr["sdram_dfii_pi0_command_issue"], 1, 0])
        elif call.endswith("_write"):
            prog.append([csr[call[:-len("_write")]], value(arg), 0])
        else:
            raise EpfpgaError(f"unexpected call {call}() in {phy_h}")
    # at least 200 us of CKE high before the first command (the generator's cdelay says
    # so in loop iterations; this makes sure of it at any clock)
    cke = next(i for i, (a, _, _) in enumerate(prog) if a == csr["sdram_dfii_control"])
    prog[cke][2] = max(prog[cke][2], int(200e-6 * clock_hz) + 1)
    prog.append([csr["sdram_dfii_control"], flags["DFII_CONTROL_SEL"], 16])
    prog.append([csr["ddrctrl_init_done"], 1, 0])
    return tuple((a, v, w) for a, v, w in prog)
