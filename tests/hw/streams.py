"""Driving ``lib.stream`` interfaces from Amaranth-simulator testbenches."""

from __future__ import annotations

from typing import Any

import numpy as np


async def put(ctx, stream, payload: Any, gaps: tuple[np.random.Generator, float] | None = None
              ) -> None:
    """One transfer into ``stream``'s sink: valid held until ready (the stream rules: a
    source never waits for ready before raising valid).  ``gaps`` = (rng, p): idle
    cycles first, each with probability p, as a link with pauses delivers."""
    if gaps is not None:
        rng, p = gaps
        while rng.random() < p:
            await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)
