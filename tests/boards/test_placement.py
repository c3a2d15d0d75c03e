"""``epfpga build --seeds``: synthesis once, one placement per seed, the fastest kept,
every f_max reported -- with a stand-in build plan whose script plays the tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from epfpga.boards.placement import best, place_seeds, seed_options, spread

# f_max each seed's stand-in nextpnr reports; seed 3 fails (as nextpnr does when
# timing is not met) after reporting its f_max
FMAX = {1: 23.0, 2: 25.5, 3: 19.0, 4: 24.2}
SCRIPT = """set -e
: ${YOSYS:=yosys}
: ${NEXTPNR_ICE40:=nextpnr-ice40}
: ${ICEPACK:=icepack}
"$YOSYS" synth && echo netlist > epfpga.json
"$NEXTPNR_ICE40" place %s
"$ICEPACK" pack && echo image > epfpga.bin
"""


class FakePlan:
    def __init__(self, opts: str, tools: Path):
        self.opts = opts
        self.tools = tools

    def extract(self, root: str) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / "build_epfpga.sh").write_text(
            f"PATH={self.tools}:$PATH\n" + SCRIPT % self.opts)


@pytest.fixture
def tools(tmp_path) -> Path:
    """yosys, nextpnr-ice40 and icepack stand-ins on a private PATH."""
    d = tmp_path / "tools"
    d.mkdir()
    (d / "yosys").write_text("#!/bin/sh\ntest \"$1\" = synth\n")
    fmax = " ".join(f"{s}) f={f};;" for s, f in FMAX.items())
    (d / "nextpnr-ice40").write_text(
        "#!/bin/sh\ntest -f epfpga.json\n"
        f'case "$3" in {fmax} *) f=21.0;; esac\n'
        "echo \"Info: Max frequency for clock 'clk': $f MHz (PASS at 12.00 MHz)\" "
        "> epfpga.tim\n"
        'test "$3" != 3\n')
    (d / "icepack").write_text("#!/bin/sh\ntest \"$1\" = pack\n")
    for f in d.iterdir():
        f.chmod(0o755)
    return d


@pytest.mark.parametrize("jobs", [1, 2])
def test_fastest_of_four_seeds_is_kept_and_every_fmax_reported(tmp_path, tools, jobs) -> None:
    out = tmp_path / "build"
    # the tool variables as the build command gives them: every step's, stubs or not
    names = {"YOSYS": "yosys", "NEXTPNR_ICE40": "nextpnr-ice40", "ICEPACK": "icepack"}
    done = place_seeds(lambda opts: FakePlan(opts, tools), out, [1, 2, 3, 4], jobs,
                       {k: str(tools / v) for k, v in names.items()})
    assert [(p.seed, p.ok, p.fmax_mhz) for p in done] == [
        (1, True, 23.0), (2, True, 25.5), (3, False, 19.0), (4, True, 24.2)]
    assert best(done).seed == 2
    assert spread(done) == {"min": 19.0, "median": 23.6, "max": 25.5}
    # the winner's bitstream and log are in the build directory; the others keep logs
    assert (out / "epfpga.bin").read_text() == "image\n"
    assert "25.5 MHz" in (out / "epfpga.tim").read_text()
    assert not (out / "seeds" / "1" / "epfpga.bin").exists()
    assert "23.0 MHz" in (out / "seeds" / "1" / "epfpga.tim").read_text()


def test_a_cached_netlist_skips_synthesis(tmp_path, tools) -> None:
    """The second build of the same design (another seed) takes the first one's netlist;
    a changed design synthesises again."""
    names = {"YOSYS": str(tools / "yosys"), "NEXTPNR_ICE40": str(tools / "nextpnr-ice40"),
             "ICEPACK": str(tools / "icepack")}
    cache = tmp_path / "netlists"

    class Design(FakePlan):
        rtlil = "module a"

        def extract(self, root: str) -> None:
            super().extract(root)
            (Path(root) / "epfpga.il").write_text(self.rtlil)

    place_seeds(lambda o: Design(o, tools), tmp_path / "a", [1], tools=names, cache=cache)
    assert len(list(cache.glob("*.json"))) == 1
    (tools / "yosys").write_text("#!/bin/sh\necho 'ERROR: yosys ran' >&2\nexit 1\n")
    done = place_seeds(lambda o: Design(o, tools), tmp_path / "b", [2], tools=names,
                       cache=cache)
    assert done[0].ok and (tmp_path / "b" / "epfpga.bin").exists()
    Design.rtlil = "module b"
    with pytest.raises(RuntimeError, match="yosys ran"):
        place_seeds(lambda o: Design(o, tools), tmp_path / "c", [2], tools=names,
                    cache=cache)


def test_synthesis_failure_is_raised_and_its_files_kept(tmp_path, tools) -> None:
    (tools / "yosys").write_text("#!/bin/sh\necho 'ERROR: no such cell' >&2\nexit 1\n")
    with pytest.raises(RuntimeError, match="no such cell"):
        place_seeds(lambda opts: FakePlan(opts, tools), tmp_path / "b", [1, 2])
    assert (tmp_path / "b" / "build_epfpga.sh").exists()


def test_a_trapped_synthesis_engine_is_run_once_more(tmp_path, tools) -> None:
    """YoWASP's engine can trap once (seen in ABC9 under load): a second run is made;
    a second trap is the build's failure."""
    (tools / "yosys").write_text(
        "#!/bin/sh\nif [ -f ../../trapped ]; then exit 0; fi\ntouch ../../trapped\n"
        "echo 'wasmtime._trap.Trap: wasm trap: call stack exhausted' >&2\nexit 1\n")
    done = place_seeds(lambda opts: FakePlan(opts, tools), tmp_path / "t", [2])
    assert [p.seed for p in done if p.ok] == [2] and (tmp_path / "t" / "trapped").exists()
    (tools / "yosys").write_text("#!/bin/sh\necho 'wasm trap: call stack exhausted' >&2\n"
                                 "exit 1\n")
    with pytest.raises(RuntimeError, match="wasm trap"):
        place_seeds(lambda opts: FakePlan(opts, tools), tmp_path / "u", [2])


def test_seed_zero_is_nextpnrs_own_start() -> None:
    assert seed_options(0) == ""
    assert seed_options(7) == "--seed 7"


def test_a_design_that_does_not_fit_stops_the_other_seeds(tmp_path, tools) -> None:
    (tools / "nextpnr-ice40").write_text(
        "#!/bin/sh\necho 'Info: \tICESTORM_LC:  5618/  5280   106%' > epfpga.tim\nexit 1\n")
    done = place_seeds(lambda opts: FakePlan(opts, tools), tmp_path / "b", [1, 2, 3, 4])
    # the worker may already have taken seed 2 when seed 1's overflow is seen
    assert [p.seed for p in done] in ([1], [1, 2]) and not done[0].ok
    assert best(done) is None and spread(done) == {}
