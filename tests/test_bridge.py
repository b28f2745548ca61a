"""The bridge from a blocking engine stream to the event loop: what it hands on, in order."""

from __future__ import annotations

import asyncio

from localqwen.engine.stream import Stream
from localqwen.engine.types import Delta
from localqwen.server.bridge import deltas


def _through_the_bridge(pieces: list[Delta]) -> list[Delta]:
    async def collect() -> list[Delta]:
        return [d async for d in deltas(Stream(lambda stream: iter(pieces), [1]))]

    return asyncio.run(collect())


def test_deltas_faster_than_the_loop_needs_go_out_together_in_order() -> None:
    """A hundred deltas made at once reach the route as a few events, not a hundred (each
    event is Python run beside llama.cpp's threads), with nothing lost or reordered."""
    pieces = [Delta("reasoning", f"r{i} ") for i in range(50)] + [Delta("content", f"c{i} ") for i in range(50)]
    out = _through_the_bridge(pieces)
    assert len(out) < 20
    assert [d.kind for d in out] == sorted((d.kind for d in out), key=["reasoning", "content"].index)
    for kind in ("reasoning", "content"):
        assert "".join(d.text for d in out if d.kind == kind) == "".join(p.text for p in pieces if p.kind == kind)
