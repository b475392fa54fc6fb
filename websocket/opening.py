"""Opening a hub connection: read the upgrade request, then accept it or refuse it.

Sans-io decisions come from ``websocket.handshake``; this module moves the
bytes of the opening (and of a refusal) and hands an accepted socket to
``websocket.server.ServerWebSocket``. The caller bounds the time either takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from websocket.frames import MAX_MESSAGE_FRAMES, FrameReader
from websocket.handshake import HandshakeReader, Refusal
from websocket.server import CONTROL_SEND_TIMEOUT_S, RECEIVE_BYTES, ServerWebSocket

log = logging.getLogger(__name__)


async def accept_websocket(
    stream: trio.SocketStream,
    *,
    max_message_bytes: int,
    max_message_frames: int = MAX_MESSAGE_FRAMES,
    authorize: Callable[[str], Refusal | None] | None = None,
) -> ServerWebSocket | None:
    """Read the opening handshake and answer it; None (stream closed) when refused.

    ``authorize`` sees the request target (path and query) of a valid
    upgrade before it is accepted, and may refuse it (a ``401``, say): the
    refusal is answered instead of the ``101``. The caller bounds the time
    this takes (a client that never finishes its request must not hold a task).
    """
    handshake = HandshakeReader()
    while (outcome := handshake.feed(await _receive_or_eof(stream))) is None:
        pass
    if not isinstance(outcome, Refusal) and authorize is not None:
        outcome = authorize(outcome.path) or outcome
    if isinstance(outcome, Refusal):
        log.info("websocket.refused", extra={"reason": outcome.reason})
        if outcome.response:
            with trio.move_on_after(CONTROL_SEND_TIMEOUT_S):
                await _send_or_ignore(stream, outcome.response)
        await trio.aclose_forcefully(stream)
        return None
    if not await _send_or_ignore(stream, outcome.response):
        await trio.aclose_forcefully(stream)
        return None
    frames = FrameReader(max_message_bytes, max_message_frames)
    return ServerWebSocket(stream, frames, outcome.path, outcome.trailing)


async def refuse_connection(
    stream: trio.SocketStream, refusal: Refusal, *, timeout_s: float
) -> None:
    """Answer an upgrade request with ``refusal`` (a 503 when a limit is reached), then close.

    The request is read first, within ``timeout_s``: closing a socket with
    unread bytes resets the connection, and the client would lose the answer
    that tells it to come back later. Never raises for a peer that is gone.
    """
    with trio.move_on_after(timeout_s):
        handshake = HandshakeReader()
        while handshake.feed(await _receive_or_eof(stream)) is None:
            pass
        await _send_or_ignore(stream, refusal.response)
    await trio.aclose_forcefully(stream)


async def _receive_or_eof(stream: trio.abc.Stream) -> bytes:
    try:
        return await stream.receive_some(RECEIVE_BYTES)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return b""


async def _send_or_ignore(stream: trio.abc.Stream, data: bytes) -> bool:
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True
