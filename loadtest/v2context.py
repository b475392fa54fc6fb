"""What the v2 clients of one run share: the run, each student's side, one exchange.

A ``Student`` is one fake student's side, shared by its UI (``v2students``)
and its dashboard (``v2dashboards``): its reference, and the lock by which
they take turns, so that a read is sent only when none of its student's
statements is in flight and the reference knows exactly which statements
the reply must include. ``exchange`` sends one request and gives its reply
or why there is none, counted; ``preflight`` is the browser's ``OPTIONS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from loadtest.clients import RunClock
from loadtest.http1 import ConnectFailedError, HttpConnection, HttpError, HttpReply, build_request
from loadtest.pacing import Pacer
from loadtest.shape import parse_frame
from loadtest.v2asks import FEEDBACK
from loadtest.v2options import LOGGING, TASKCOMPARE, V2Options
from loadtest.v2reference import CourseFacts, V2Expected
from loadtest.v2script import V2Persona
from loadtest.v2tally import V2Tally

ORIGIN = "http://lab-ui.loadtest.example"
STORED, REFUSED, UNKNOWN = "stored", "refused", "unknown"
STORED_BODY = {"stored": True}


@attrs.frozen
class V2Context:
    """What every client of one v2 run shares."""

    options: V2Options
    tally: V2Tally
    clock: RunClock
    pacer: Pacer | None
    start_ms: int  # the students' clocks start here (wall time at the start)

    @property
    def lh(self) -> str:
        return f"{self.options.prefix}{LOGGING}"

    @property
    def th(self) -> str:
        return f"{self.options.prefix}{TASKCOMPARE}"

    def connection(self) -> HttpConnection:
        options = self.options
        return HttpConnection(options.host, options.port, options.connect_timeout_s)

    def request(self, method: str, target: str, kind: str, body: bytes = b"") -> bytes:
        headers: tuple[tuple[str, str], ...] = (("Origin", ORIGIN),)
        if kind == "addLog":
            headers += (("Content-Type", "application/json"),)
            if self.options.credential is not None:
                headers += (("Authorization", f"Basic {self.options.credential}"),)
        elif kind == FEEDBACK:  # the dashboard sends an empty credential
            headers += (("Authorization", ""), ("Content-Type", "application/json"))
        elif kind == "preflight":
            headers += (
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization,content-type"),
            )
        return build_request(method, target, self.options.host_header, headers, body)


@attrs.define
class Student:
    """One fake student's side shared by its UI and its dashboard."""

    persona: V2Persona
    facts: CourseFacts
    expected: V2Expected
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    first_sent: trio.Event = attrs.field(factory=trio.Event)
    exact: bool = True

    def uncertain(self, tally: V2Tally) -> None:
        """A statement or feedback may or may not have been kept: shapes only from now."""
        if self.exact:
            self.exact = False
            tally.students_uncertain += 1


async def with_connections(
    ctx: V2Context, count: int, body: Callable[[list[HttpConnection]], Awaitable[None]]
) -> None:
    """Run ``body`` with ``count`` connections; close them and count what they did."""
    connections = [ctx.connection() for _ in range(count)]
    try:
        await body(connections)
    finally:
        for connection in connections:
            ctx.tally.connections_opened += connection.opened
            ctx.tally.retried += connection.retried
            await connection.aclose()


async def exchange(
    ctx: V2Context, connection: HttpConnection, role: str, data: bytes
) -> HttpReply | str:
    """One request; its reply, or why there is none (counted under ``role``)."""
    tally = ctx.tally
    tally.in_flight += 1
    try:
        with trio.move_on_after(ctx.options.reply_timeout_s):
            try:
                return await connection.request(data)
            except ConnectFailedError as exc:
                tally.connect_failed(role, str(exc))
                return "could not connect"
            except HttpError as exc:
                tally.connection_lost(role, str(exc))
                return "connection lost"
        return "timeout"
    finally:
        tally.in_flight -= 1


def error_code(reply: HttpReply) -> str:
    value, _ = parse_frame(reply.body) if reply.body else (None, None)
    error = value.get("error") if value is not None else None
    return str(error.get("code")) if isinstance(error, dict) else ""


def cors(ctx: V2Context, reply: HttpReply) -> None:
    if b"access-control-allow-origin" not in reply.headers:
        ctx.tally.no_cors += 1


def refused(status: int) -> bool:
    """A 4xx but a timeout or a rate limit: the service says it kept nothing."""
    return 400 <= status < 500 and status not in (408, 429)


async def preflight(ctx: V2Context, connection: HttpConnection, target: str) -> None:
    """The browser's ``OPTIONS`` before its first cross-origin POST to ``target``."""
    tally = ctx.tally
    sent_at = trio.current_time()
    tally.request_sent("preflight", sent_at)
    reply = await exchange(
        ctx, connection, "preflight", ctx.request("OPTIONS", target, "preflight")
    )
    if isinstance(reply, str):
        tally.missed("preflight", reply, sent_at)
        return
    tally.replied("preflight", sent_at, trio.current_time())
    cors(ctx, reply)
    methods = reply.headers.get(b"access-control-allow-methods", b"").upper()
    allowed = reply.headers.get(b"access-control-allow-headers", b"").lower()
    if not 200 <= reply.status < 300:
        tally.error("preflight", reply.status, error_code(reply))
    elif b"POST" not in methods or not (b"authorization" in allowed and b"content-type" in allowed):
        tally.wrong_reply(
            "preflight: Access-Control-Allow-Methods/-Headers lack POST, "
            "authorization or content-type",
            None,
        )
    else:
        tally.answered["preflight"] += 1
