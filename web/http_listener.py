"""A small HTTP/1.1 listener on trio and h11, for the ops port.

trio-websocket answers plain HTTP with 400, so health, readiness, metrics and
the relay-style access handshake live on a listener of their own
(``--http-listen``). Requests are tiny and answered from memory in the event
loop: no thread, no framework.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from http import HTTPStatus

import attrs
import h11
import trio

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT_S = 10.0
RECEIVE_BYTES = 16 * 1024


@attrs.frozen
class HttpRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@attrs.frozen
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = attrs.field(factory=dict)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``started`` with the bound port.

    One connection's failure is logged and ends that connection only.
    """
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, partial(_serve_connection, handler), port, host=host)
        )
        bound = listeners[0].socket.getsockname()[1]
        log.info("http.listening", extra={"host": host, "port": bound})
        task_status.started(bound)


async def _serve_connection(handler: Handler, stream: trio.SocketStream) -> None:
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY_BYTES)
    try:
        while True:
            with trio.move_on_after(REQUEST_TIMEOUT_S) as idle:
                request = await _read_request(connection, stream)
            if idle.cancelled_caught or request is None:
                return
            try:
                response = await handler(request)
            except Exception:
                log.exception("http.handler_failed", extra={"path": request.path})
                response = HttpResponse(500, b'{"error": "internal error"}')
            await _send_response(connection, stream, response)
            if connection.our_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()
    except (h11.RemoteProtocolError, h11.LocalProtocolError) as exc:
        log.info("http.bad_request", extra={"error": str(exc)})
        await _send_error(connection, stream, 400)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        await trio.aclose_forcefully(stream)


async def _read_request(
    connection: h11.Connection, stream: trio.SocketStream
) -> HttpRequest | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(RECEIVE_BYTES)
            connection.receive_data(data)  # b"" means the peer closed
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            target = head.target.decode("latin-1")
            path, _, query = target.partition("?")
            headers = {
                name.decode().lower(): value.decode("latin-1") for name, value in head.headers
            }
            return HttpRequest(head.method.decode(), path, query, headers, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def _send_response(
    connection: h11.Connection, stream: trio.SocketStream, response: HttpResponse
) -> None:
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        *response.headers.items(),
    ]
    for event in (
        h11.Response(
            status_code=response.status,
            headers=headers,
            reason=HTTPStatus(response.status).phrase.encode(),
        ),
        h11.Data(data=response.body),
        h11.EndOfMessage(),
    ):
        await stream.send_all(connection.send(event) or b"")


async def _send_error(connection: h11.Connection, stream: trio.SocketStream, status: int) -> None:
    if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    with contextlib.suppress(
        trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError
    ):
        await _send_response(connection, stream, HttpResponse(status, b'{"error": "bad request"}'))
