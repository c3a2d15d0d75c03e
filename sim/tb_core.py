"""cocotb testbench of the EP core on Verilator, scored bit for bit against the golden model.

Structure: ``HostPort`` (weight/state access), ``SampleDriver`` (job + pixel streams
with random valid gaps), ``ResultMonitor`` (prediction stream with random ready
backpressure) and ``Scoreboard`` (golden model beside the DUT).  The clock runs in the
simulator (cocotb ``Clock``); during relaxation Python only waits for the result edge,
so long runs are not paced by Python.

Input comes from the JSON file named by EPFPGA_JOB; the verdict goes to EPFPGA_RESULT.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from epfpga.hw.core import AddressMap, update_q_width
from epfpga.hw.core.host_port import request_layout
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel


class HostPort:
    """The core's host port: a request for one cycle; a read's response when its
    ``valid`` comes."""

    def __init__(self, dut: Any, amap: AddressMap):
        self.dut, self.amap = dut, amap
        self.layout = request_layout(len(amap.regions), amap.max_size)

    async def _request(self, region: int, offset: int, value: int | None) -> None:
        d = self.dut
        d.host__req__payload.value = self.layout.const({
            "region": region, "offset": offset, "write": value is not None,
            "data": int(value or 0)}).as_bits()
        d.host__req__valid.value = 1
        await RisingEdge(d.clk)
        d.host__req__valid.value = 0

    async def write(self, region: int, offset: int, value: int) -> None:
        await self._request(region, offset, value)

    async def read(self, region: int, offset: int) -> int:
        d = self.dut
        await self._request(region, offset, None)
        for _ in range(16):
            await ReadOnly()
            if int(d.host__resp__valid.value):
                v = int(d.host__resp__payload.value)
                await RisingEdge(d.clk)
                return v - (1 << 33) if v >> 32 else v
            await RisingEdge(d.clk)
        raise AssertionError("the core's host port never answered a read")

    async def read_region(self, kind: str, layer: int, size: int) -> list[int]:
        region = self.amap.index(kind, layer)
        return [await self.read(region, k) for k in range(size)]

    async def write_region(self, kind: str, layer: int, values: list[int]) -> None:
        region = self.amap.index(kind, layer)
        for k, v in enumerate(values):
            await self.write(region, k, v)


class SampleDriver:
    def __init__(self, dut: Any, rng: random.Random, gap: float):
        self.dut, self.rng, self.gap = dut, rng, gap

    async def send(self, pixels: list[int], label: int, train: bool, neg: bool) -> None:
        d = self.dut
        d.job__payload.value = int(train) | (int(neg) << 1) | (label << 2)
        d.job__valid.value = 1
        await RisingEdge(d.clk)
        while not int(d.job__ready.value):
            await RisingEdge(d.clk)
        d.job__valid.value = 0
        for p in pixels:
            while self.rng.random() < self.gap:  # random valid gaps
                d.pixels__valid.value = 0
                await RisingEdge(d.clk)
            d.pixels__payload.value = int(p)
            d.pixels__valid.value = 1
            await RisingEdge(d.clk)
            while not int(d.pixels__ready.value):
                await RisingEdge(d.clk)
        d.pixels__valid.value = 0


class ResultMonitor:
    def __init__(self, dut: Any, rng: random.Random, stall: int):
        self.dut, self.rng, self.stall = dut, rng, stall
        self.compute_wall = 0.0  # wall time while the clock ran without Python per edge
        self.compute_ns = 0.0

    async def receive(self) -> int:
        d = self.dut
        # values settle mid-cycle: right after the last handshake's edge, valid can still
        # read high (streamed samples come back to back), which would take a phantom
        await FallingEdge(d.clk)
        if not int(d.result__valid.value):
            t, ns = time.perf_counter(), get_sim_time(unit="ns")
            await RisingEdge(d.result__valid)
            self.compute_wall += time.perf_counter() - t
            self.compute_ns += get_sim_time(unit="ns") - ns
        if self.stall:  # ready backpressure: valid must hold and payload stay put
            await ClockCycles(d.clk, self.rng.randint(0, self.stall))
        await RisingEdge(d.clk)
        value = int(d.result__payload.value)
        d.result__ready.value = 1
        await RisingEdge(d.clk)
        d.result__ready.value = 0
        return value


class Scoreboard:
    def __init__(self) -> None:
        self.mismatches: list[str] = []
        self.checked = 0

    def check(self, what: str, got: Any, want: Any) -> None:
        self.checked += 1
        if got != want:
            self.mismatches.append(f"{what}: gateware {str(got)[:120]} != golden {str(want)[:120]}")


async def check_parameters(host: HostPort, golden: GoldenModel, cfg: EPConfig,
                           sb: Scoreboard, k: int) -> None:
    """Every weight, bias and LFSR state read back against golden after sample k."""
    for layer in range(cfg.n_layers):
        sb.check(f"sample {k} W{layer}", await host.read_region(
            "W", layer, golden.W[layer].size), golden.W[layer].ravel().tolist())
        sb.check(f"sample {k} b{layer}", await host.read_region(
            "b", layer, cfg.layers[layer + 1]), golden.b[layer].tolist())
        sb.check(f"sample {k} lfsr{layer}",
                 (await host.read_region("lfsr", layer, 1))[0], golden.lfsr[layer])


async def stream_training(dut: Any, job: dict, golden: GoldenModel, driver: SampleDriver,
                          monitor: ResultMonitor, sb: Scoreboard) -> list[int]:
    """The training samples back to back, as a host with frames in flight sends them:
    the next sample's pixels go in while the core runs (the fast plan loads them, and
    computes their drive, meanwhile).  Only the predictions can be checked per sample
    (the states are overwritten); returns the core's busy cycles between results."""
    runs = [golden.train_sample(np.array(x), int(y))
            for x, y in zip(job["x"], job["y"], strict=True)]

    async def feed() -> None:
        for x, y, tr in zip(job["x"], job["y"], runs, strict=True):
            await driver.send(x, int(y), True, tr.beta_sign < 0)

    cocotb.start_soon(feed())
    stamps = [int(dut.cycles.value)]
    for k, tr in enumerate(runs):
        sb.check(f"streamed sample {k} prediction", await monitor.receive(), tr.prediction)
        stamps.append(int(dut.cycles.value))
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


@cocotb.test()
async def ep_core_vs_golden(dut: Any) -> None:
    job = json.loads(open(os.environ["EPFPGA_JOB"]).read())
    cfg = EPConfig.from_dict(job["config"])
    rng = random.Random(job.get("seed", 0))
    amap = AddressMap(cfg)
    W = [np.array(w, dtype=np.int64) for w in job["W"]]
    b = [np.array(v, dtype=np.int64) for v in job["b"]]
    golden = GoldenModel(cfg, W, b)
    host = HostPort(dut, amap)
    driver = SampleDriver(dut, rng, job.get("gap", 0.2))
    monitor = ResultMonitor(dut, rng, job.get("stall", 3))
    sb = Scoreboard()

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("host__req__valid", "job__valid", "pixels__valid", "result__ready"):
        getattr(dut, name).value = 0
    dut.t1.value, dut.t2.value = cfg.T1, cfg.T2
    dut.beta_q.value = cfg.beta_q
    dut.stochastic.value = int(cfg.rounding == "stochastic")
    width = update_q_width(cfg)
    dut.update_q.value = sum(q << (width * layer) for layer, q in enumerate(cfg.update_q))
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    for layer in range(cfg.n_layers):
        w = W[layer].ravel().tolist()
        if job.get("flip") and job["flip"][0] == layer:
            w[job["flip"][1]] ^= 1  # fault injection: the scoreboard must notice
        await host.write_region("W", layer, w)
        await host.write_region("b", layer, b[layer].tolist())

    sizes = cfg.layers[1:]
    every = job.get("weights_every_sample", False)
    cyc_train, cyc_infer = [], []
    t0 = time.time()
    c_start = int(dut.cycles.value)
    ns_start = get_sim_time(unit="ns")
    one_by_one = list(zip(job["x"], job["y"], strict=True))
    if job.get("stream"):
        cyc_train = await stream_training(dut, job, golden, driver, monitor, sb)
        await check_parameters(host, golden, cfg, sb, len(job["x"]) - 1)
        one_by_one = []
    for k, (x, y) in enumerate(one_by_one):
        tr = golden.train_sample(np.array(x), int(y))
        c0 = int(dut.cycles.value)
        await driver.send(x, int(y), True, tr.beta_sign < 0)
        pred = await monitor.receive()
        cyc_train.append(int(dut.cycles.value) - c0)
        sb.check(f"sample {k} prediction", pred, tr.prediction)
        for layer in range(cfg.n_layers):
            sb.check(f"sample {k} free s{layer + 1}",
                     await host.read_region("sf", layer, sizes[layer]), tr.free[layer].tolist())
            if cfg.nudge == "symmetric":  # "sp": the +beta end, "s": the -beta end
                sb.check(f"sample {k} +beta s{layer + 1}",
                         await host.read_region("sp", layer, sizes[layer]),
                         tr.nudged[layer].tolist())
                sb.check(f"sample {k} -beta s{layer + 1}",
                         await host.read_region("s", layer, sizes[layer]),
                         tr.nudged_neg[layer].tolist())
            else:
                sb.check(f"sample {k} nudged s{layer + 1}",
                         await host.read_region("s", layer, sizes[layer]),
                         tr.nudged[layer].tolist())
        if every or k == len(one_by_one) - 1:
            await check_parameters(host, golden, cfg, sb, k)
    for k, x in enumerate(job.get("x_infer", [])):
        c0 = int(dut.cycles.value)
        await driver.send(x, 0, False, False)
        pred = await monitor.receive()
        cyc_infer.append(int(dut.cycles.value) - c0)
        sb.check(f"infer {k}", pred, golden.infer(np.array(x)))
    wall = time.time() - t0
    result = {
        "checked": sb.checked, "mismatches": sb.mismatches, "cycles_train": cyc_train,
        "cycles_infer": cyc_infer, "wall_s": wall,
        "busy_cycles": int(dut.cycles.value) - c_start,
        "sim_cycles": int((get_sim_time(unit="ns") - ns_start) / 10),
        "samples": len(job["x"]),
        "compute_cycles": int(monitor.compute_ns / 10), "compute_wall_s": monitor.compute_wall,
    }
    open(os.environ["EPFPGA_RESULT"], "w").write(json.dumps(result))
