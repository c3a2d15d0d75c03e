"""The core's host port from an Amaranth-simulator testbench."""

from __future__ import annotations


async def host_access(ctx, port, region: int, offset: int, value: int | None = None
                      ) -> int | None:
    """One write (``value`` given) or read: the request for a cycle, then, for a read,
    the response whenever its ``valid`` comes (no latency assumed here)."""
    ctx.set(port.req.payload, {"region": region, "offset": offset,
                               "write": value is not None, "data": int(value or 0)})
    ctx.set(port.req.valid, 1)
    await ctx.tick()
    ctx.set(port.req.valid, 0)
    if value is not None:
        return None
    for _ in range(16):
        if ctx.get(port.resp.valid):
            return ctx.get(port.resp.payload)
        await ctx.tick()
    raise AssertionError("the host port never answered the read")
