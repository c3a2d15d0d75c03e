"""`pip install .` must ship every module the editable install finds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"sw/epfpga": "epfpga", "hw": "epfpga/hw", "sim": "epfpga/sim",
           "boards": "epfpga/boards"}


def test_wheel_contains_every_module(tmp_path) -> None:
    # build from a clean copy: setuptools reuses a stale build/lib in the source tree
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", "build", ".git", "runs", "__pycache__", "*.egg-info", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src),
                    "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("epfpga-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for src, dest in FOLDERS.items():
        for f in (ROOT / src).rglob("*.py"):
            rel = f.relative_to(ROOT / src).as_posix()
            if src == "sw/epfpga" or "__pycache__" not in rel:
                assert f"{dest}/{rel}" in names, f"{src}/{rel} missing from the wheel"
