"""A zip archive of JSON lines, streamed as it is made: never the whole archive in memory.

``zipfile`` writes to an unseekable file by putting each entry's sizes and
CRC in a data descriptor after its data (ZIP64, so past 4 GB too); our
file is a buffer that the generator empties after every step. So at any
time this holds one batch of lines (``BATCH_BYTES``), its compressed bytes
and zlib's window: a few hundred KiB whatever the store's size
(``tests/web/test_zipstream.py`` measures the peak).

Deflating runs in a worker thread, one batch per hop (~2 ms of CPU per
256 KiB at level 6; zlib releases the GIL), so the event loop keeps
answering other requests while a researcher downloads the store. The
generator is pulled by the response: a client that reads slowly slows
the reading of the store, nothing piles up.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import trio

BATCH_BYTES = 256 * 1024
COMPRESS_LEVEL = 6


class _Sink(io.RawIOBase):
    """An unseekable file that keeps what is written until ``take``."""

    def __init__(self) -> None:
        super().__init__()
        self._data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._data += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._data)
        self._data.clear()
        return data


async def zip_lines(
    lines: AsyncIterator[bytes], *, name: str = "logs.jsonl", batch_bytes: int = BATCH_BYTES
) -> AsyncIterator[bytes]:
    """Yield the bytes of a zip holding one entry ``name``: the items of ``lines`` in order.

    Each item is a block of whole JSON lines, each ending in a newline (a
    page of the store, or one line: per-line iteration would cost more than
    the deflating). ``lines`` is closed (``aclose``, if it has one) when
    this generator ends or is closed, also when the client goes away
    mid-download.
    """
    sink = _Sink()
    archive = zipfile.ZipFile(
        sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
    )
    entry = archive.open(name, "w", force_zip64=True)
    batch = bytearray()
    try:
        async for block in lines:
            batch += block
            if len(batch) >= batch_bytes:
                await trio.to_thread.run_sync(entry.write, bytes(batch))
                batch.clear()
                yield sink.take()
        if batch:
            await trio.to_thread.run_sync(entry.write, bytes(batch))
    finally:
        # Also on an error or an early close: a ZipFile left open complains
        # when collected; what this writes then is never sent.
        entry.close()
        archive.close()
        close = getattr(lines, "aclose", None)
        if close is not None:
            await close()
    yield sink.take()
