"""The fake lab UIs and dashboards: one WebSocket each, scripted by ``loadtest.script``.

Every connection has a reader that drains it all the time: a client that
stops reading is cut off by the service (and by a relay), and on a relay
every client receives every frame of its stream. Timing uses the trio
clock (monotonic), read as soon as a frame is handed to us.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable

import attrs
import orjson
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from loadtest.options import LoadOptions, Paced
from loadtest.pacing import Pacer
from loadtest.script import Persona, StudentScript, expected_contents, request_frame
from loadtest.shape import Ask, parse_frame
from loadtest.tally import Tally
from websocket.client import open_client

CONNECT_ERRORS = (OSError, trio.TooSlowError, HandshakeError)
# With no think time a student sends as fast as it can; time bounds it, this too.
MAX_EVENTS_PER_STUDENT = 100_000_000


@attrs.frozen
class RunClock:
    """When the run sends (``start``..``end``) and how long it waits for replies."""

    start: float
    end: float
    drain_end: float


@attrs.frozen
class Context:
    """What every client of one run shares."""

    options: LoadOptions
    tally: Tally
    clock: RunClock
    pacer: Pacer | None
    shared_stream: bool  # a relay: everyone on the stream sees every frame
    closing: Closing


@attrs.define
class Closing:
    """Every connection of a run closes together, once all of them are done.

    On a relay a client that leaves while others still send can take frames
    in flight with it (the relay may drop the sender whose frame met the
    closed client), so nobody leaves early; idle open connections cost
    nothing in hub mode either. Readers keep draining while they wait.
    """

    remaining: int
    all_done: trio.Event = attrs.field(factory=trio.Event)

    def seat(self) -> Seat:
        return Seat(self)


@attrs.define
class Seat:
    """One connection's place in ``Closing``; leaving twice counts once."""

    closing: Closing
    left: bool = False

    def leave(self) -> None:
        if not self.left:
            self.left = True
            self.closing.remaining -= 1
            if self.closing.remaining <= 0:
                self.closing.all_done.set()

    async def leave_and_wait(self) -> None:
        self.leave()
        await self.closing.all_done.wait()


def now_ms() -> int:
    """The browser's clock, as lab UIs put it in ``t`` (wall time, not for timing)."""
    return time.time_ns() // 1_000_000


def _why(group: BaseExceptionGroup) -> str:
    first = group.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return f"{type(first).__name__}: {first}"[:120]


@attrs.define
class Link:
    """One connection's loss, counted once (the reader and a send may both see it).

    We only close a connection after cancelling its reader, so any close the
    reader sees came from the other side: the service or relay dropped us.
    """

    tally: Tally
    role: str
    was_lost: bool = False

    def lost(self, exc: ConnectionClosed) -> None:
        if not self.was_lost:
            self.was_lost = True
            reason = exc.reason
            self.tally.connection_lost(self.role, f"close {reason.code} {reason.reason or ''}")


async def _read_until_lost(
    ws: WebSocketConnection, link: Link, scope: trio.CancelScope, take: Callable[[str], None]
) -> None:
    """Hand every frame to ``take`` as it comes, until the other side closes the
    connection; then count the loss on ``link`` and cancel ``scope``."""
    while True:
        try:
            text = await ws.get_message()
        except ConnectionClosed as exc:
            link.lost(exc)
            scope.cancel()
            return
        take(text)


async def _connected(
    ctx: Context,
    url: str,
    role: str,
    body: Callable[[WebSocketConnection, Seat], Awaitable[None]],
) -> None:
    """Run ``body`` on a connection to ``url``; a failure to connect is counted, not raised.

    ``body`` awaits ``seat.leave_and_wait()`` once it has nothing more to send;
    however it ends, its seat is left.
    """
    seat = ctx.closing.seat()
    try:
        async with open_client(url, connect_timeout_s=ctx.options.connect_timeout_s) as ws:
            await body(ws, seat)
    except* CONNECT_ERRORS as group:
        ctx.tally.connect_failed(role, _why(group))
    finally:
        seat.leave()


async def run_user(ctx: Context, persona: Persona, dashboard: bool) -> None:
    """One student and, if ``dashboard``, the dashboard watching it; returns when both end."""
    first_event = trio.Event()
    offset = random.Random(f"ramp-{ctx.options.seed}-{persona.index}").uniform(
        0, ctx.options.effective_ramp_s
    )
    await trio.sleep_until(ctx.clock.start + offset)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_student, ctx, persona, first_event)
        if dashboard:
            nursery.start_soon(run_dashboard, ctx, persona, first_event)


# --- students ---------------------------------------------------------------------


async def run_student(ctx: Context, persona: Persona, first_event: trio.Event) -> None:
    script = StudentScript(persona, ctx.options.seed)

    async def body(ws: WebSocketConnection, seat: Seat) -> None:
        link = Link(ctx.tally, "student")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain_student, ctx, ws, persona.user, link, nursery.cancel_scope)
            with trio.move_on_at(ctx.clock.drain_end) as stuck:
                await _student_loop(ctx, ws, script, first_event, link)
            if stuck.cancelled_caught:
                ctx.tally.stuck_sends += 1  # an event may or may not have gone out
            await seat.leave_and_wait()
            nursery.cancel_scope.cancel()

    await _connected(ctx, persona.url, "student", body)


def max_events(options: Paced) -> int:
    """A count bound for one student's loop (time bounds it first)."""
    if options.rate is not None:
        return math.ceil(options.rate * options.duration_s) + 1
    low = options.think_time_s[0]
    return math.ceil(options.duration_s / low) + 1 if low > 0 else MAX_EVENTS_PER_STUDENT


async def _student_loop(
    ctx: Context,
    ws: WebSocketConnection,
    script: StudentScript,
    first_event: trio.Event,
    link: Link,
) -> None:
    low, high = ctx.options.think_time_s
    due = trio.current_time()
    for _ in range(max_events(ctx.options)):
        if ctx.pacer is not None:
            due = ctx.pacer.claim(trio.current_time())
        if due >= ctx.clock.end:
            return
        await trio.sleep_until(due)
        kind, frame = script.next_frame(now_ms())
        try:
            await ws.send_message(orjson.dumps(frame).decode())
        except ConnectionClosed as exc:
            link.lost(exc)
            return
        now = trio.current_time()
        ctx.tally.event_sent(kind, now)
        first_event.set()
        if ctx.pacer is None:
            due = now + script.rng.uniform(low, high)


async def _drain_student(
    ctx: Context, ws: WebSocketConnection, user: str, link: Link, scope: trio.CancelScope
) -> None:
    """Read everything; count error replies to this student's events (hub mode)."""

    def take(text: str) -> None:
        if '"error"' not in text:
            return  # cheap filter: on a relay this is every frame of the stream
        frame, _ = parse_frame(text)
        if frame is None:
            ctx.tally.unreadable()
        elif frame.get("type") == "error" and frame.get("user") == user and "id" not in frame:
            error = frame.get("error")
            ctx.tally.event_error(str(error.get("code") if isinstance(error, dict) else error))

    await _read_until_lost(ws, link, scope, take)


# --- dashboards -------------------------------------------------------------------


def ask_for(persona: Persona, content: str, request_id: str) -> Ask:
    course = persona.course
    return Ask(
        request_id=request_id,
        content=content,
        user=persona.user,
        exp=course.exp,
        course=course.course,
        expected=expected_contents(content),
        nodes=frozenset(course.nodes),
        graph_names=frozenset(course.graph_name(task) for task in course.tasks),
    )


async def run_dashboard(ctx: Context, persona: Persona, first_event: trio.Event) -> None:
    """Polls for its student until the end, then waits (bounded) for the last replies."""

    async def body(ws: WebSocketConnection, seat: Seat) -> None:
        link = Link(ctx.tally, "dashboard")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_replies, ctx, ws, persona.index, link, nursery.cancel_scope)
            with trio.move_on_at(ctx.clock.drain_end):
                await _poll(ctx, ws, persona, first_event, link)
                await ctx.tally.wait_idle(persona.index)
            await seat.leave_and_wait()
            nursery.cancel_scope.cancel()
        if link.was_lost:
            ctx.tally.abandon("connection lost", persona.index)

    await _connected(ctx, persona.url, "dashboard", body)
    ctx.tally.abandon("run ended", persona.index)


def max_requests(options: LoadOptions) -> int:
    return math.ceil(options.duration_s / options.request_interval_s) + 1


async def _poll(
    ctx: Context,
    ws: WebSocketConnection,
    persona: Persona,
    first_event: trio.Event,
    link: Link,
) -> None:
    """Ask on a fixed period (not "after the last answer": a slow reply must not
    slow the asking, or the measurement would hide the stall)."""
    options = ctx.options
    rng = random.Random(f"dashboard-{options.seed}-{persona.index}")
    kinds = [kind for kind, _ in options.request_mix]
    weights = [weight for _, weight in options.request_mix]
    with trio.move_on_at(ctx.clock.end):
        await first_event.wait()  # a dashboard is opened on a session that has begun
    if not first_event.is_set():
        return
    next_at = trio.current_time() + rng.uniform(0, options.request_interval_s)
    for number in range(max_requests(options)):
        if next_at >= ctx.clock.end:
            return
        await trio.sleep_until(next_at)
        content = rng.choices(kinds, weights)[0]
        request_id = f"lt{options.seed}-d{persona.index}-{number}"
        text = orjson.dumps(request_frame(persona, content, request_id, now_ms())).decode()
        ask = ask_for(persona, content, request_id)
        ctx.tally.request_sent(ask, persona.index, trio.current_time())
        try:
            await ws.send_message(text)
        except ConnectionClosed as exc:
            link.lost(exc)
            return
        next_at = max(next_at + options.request_interval_s, trio.current_time())


async def _read_replies(
    ctx: Context, ws: WebSocketConnection, owner: int, link: Link, scope: trio.CancelScope
) -> None:
    def take(text: str) -> None:
        now = trio.current_time()
        if ctx.shared_stream and '"id"' not in text:
            return  # another client's event: frames we asked for always carry an id
        frame, problem = parse_frame(text)
        if frame is None:
            ctx.tally.unreadable()
        else:
            ctx.tally.reply(owner, frame, problem, now)

    await _read_until_lost(ws, link, scope, take)
