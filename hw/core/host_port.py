"""The core's host port: reads and writes of weights, biases, states and LFSRs by
region and offset (``AddressMap``), between samples."""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

#: what a read returns and a write takes: a weight, bias or state, or a 32-bit LFSR
HOST_WORD = signed(33)
#: cycles from a read request to its response (registered request, block-RAM read,
#: registered weight output); the response's ``valid`` carries it, nobody counts it
READ_LATENCY = 3


def request_layout(n_regions: int, max_size: int) -> data.StructLayout:
    return data.StructLayout({"region": range(max(n_regions, 2)),
                              "offset": range(max(max_size, 2)), "write": 1,
                              "data": HOST_WORD})


class HostPortSignature(wiring.Signature):
    """Seen from the core.  Requests are taken one a cycle between samples (``ready``
    is low while the core is busy); a read's response comes ``READ_LATENCY`` cycles
    later and cannot wait, so the requester takes it as it comes (``always_ready``)."""

    def __init__(self, n_regions: int, max_size: int):
        super().__init__({
            "req": In(stream.Signature(request_layout(n_regions, max_size))),
            "resp": Out(stream.Signature(HOST_WORD, always_ready=True)),
        })
