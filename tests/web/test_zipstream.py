"""download-logs' zip: a valid archive of the lines, made with bounded memory."""

from __future__ import annotations

import io
import random
import tracemalloc
import zipfile
from collections.abc import AsyncIterator

import trio

from web.zipstream import zip_lines


def lines(count: int, *, width: int = 16, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    # Random digits keep deflate honest (a repeated line compresses ~100x).
    return [
        b'{"seq": %d, "verb": "clicked", "x": "%s"}\n' % (i, rng.randbytes(width).hex().encode())
        for i in range(count)
    ]


async def blocks(all_lines: list[bytes], per_block: int) -> AsyncIterator[bytes]:
    for start in range(0, len(all_lines), per_block):
        await trio.lowlevel.checkpoint()
        yield b"".join(all_lines[start : start + per_block])


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_the_archive_holds_every_line_in_order() -> None:
    expected = lines(5_000)
    data = await collect(zip_lines(blocks(expected, 1), batch_bytes=8192))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    [info] = archive.infolist()
    assert info.filename == "logs.jsonl"
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert archive.read("logs.jsonl") == b"".join(expected)


async def test_no_lines_is_an_empty_entry() -> None:
    archive = zipfile.ZipFile(io.BytesIO(await collect(zip_lines(blocks([], 1)))))
    assert archive.read("logs.jsonl") == b""


async def test_memory_stays_bounded_whatever_the_size() -> None:
    """20 MB of lines (~10 MB zipped) streamed: the peak is a few batches, not the archive."""
    source = lines(40_000, width=240)  # made before tracing: the store is not ours to count
    zipped = 0
    tracemalloc.start()
    try:
        async for chunk in zip_lines(blocks(source, 100)):
            zipped += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert zipped > 8 * 1024 * 1024  # the archive is far larger than the bound below
    assert peak < 2 * 1024 * 1024


async def test_closing_early_closes_the_source() -> None:
    closed = trio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await trio.lowlevel.checkpoint()
                yield b'{"x": 1}\n'
        finally:
            closed.set()

    chunks = zip_lines(endless(), batch_bytes=1024)
    await anext(chunks)
    await chunks.aclose()  # the client went away mid-download
    assert closed.is_set()
