"""The fake v2 dashboards of a run: the seven reads and ``submitUserFeedback``, each checked.

A dashboard polls for its student every ``request_interval_s`` (on a fixed
period, so a slow reply does not slow the asking), taking turns with its
student. Every reply is held to the page's wire rules, then to the
student's reference (exactly), or to its shape only once a statement of the
student had an unknown fate. A feedback body answered ``200`` joins the
reference, so ``getUserFeedback`` is checked too.
"""

from __future__ import annotations

import math
import random

import orjson
import trio

from loadtest.http1 import HttpConnection
from loadtest.shape import parse_frame
from loadtest.v2asks import FEEDBACK, DashboardAsk, V2DashboardScript
from loadtest.v2checks import difference, shape_problem, trail_problem
from loadtest.v2context import (
    STORED_BODY,
    Student,
    V2Context,
    cors,
    error_code,
    exchange,
    preflight,
    refused,
    with_connections,
)


async def run_dashboard(ctx: V2Context, student: Student) -> None:
    """Polls for its student until the end, then waits (bounded) for its last reply."""
    options = ctx.options
    persona = student.persona
    script = V2DashboardScript(persona, options.seed, ctx.th, options.request_mix)
    rng = random.Random(f"v2-poll-{options.seed}-{persona.index}")
    with trio.move_on_at(ctx.clock.end):
        await student.first_sent.wait()  # a dashboard is opened on a session that has begun
    if not student.first_sent.is_set():
        return

    async def body(connections: list[HttpConnection]) -> None:
        preflighted = False
        next_at = trio.current_time() + rng.uniform(0, options.request_interval_s)
        for _ in range(math.ceil(options.duration_s / options.request_interval_s) + 1):
            if next_at >= ctx.clock.end:
                return
            await trio.sleep_until(next_at)
            ask = script.next_ask()
            async with student.lock:
                if ask.endpoint == FEEDBACK and not preflighted:
                    preflighted = True
                    await preflight(ctx, connections[0], ask.target)
                await _ask(ctx, connections[0], student, ask)
            next_at = max(next_at + options.request_interval_s, trio.current_time())

    with trio.move_on_at(ctx.clock.drain_end):
        await with_connections(ctx, 1, body)


async def _ask(
    ctx: V2Context, connection: HttpConnection, student: Student, ask: DashboardAsk
) -> None:
    tally = ctx.tally
    endpoint = ask.endpoint
    posting = ask.body is not None
    body = orjson.dumps(ask.body) if posting else b""
    data = ctx.request("POST" if posting else "GET", ask.target, endpoint, body)
    sent_at = trio.current_time()
    tally.request_sent(endpoint, sent_at)
    reply = await exchange(ctx, connection, "dashboard", data)
    if isinstance(reply, str):
        tally.missed(endpoint, reply, sent_at)
        if posting:
            student.uncertain(tally)
        return
    tally.replied(endpoint, sent_at, trio.current_time())
    cors(ctx, reply)
    if reply.status != 200:
        tally.error(endpoint, reply.status, error_code(reply))
        if posting and not refused(reply.status):
            student.uncertain(tally)
        return
    tally.answered[endpoint] += 1
    value, problem = parse_frame(reply.body)
    if value is None or problem is not None:
        tally.wrong_reply(f"{endpoint}: {problem or 'not a JSON object'}", None)
        return
    if posting:
        if value != STORED_BODY:
            tally.wrong_reply(f'{endpoint}: 200 without {{"stored": true}}', None)
        if ask.body is not None:
            student.expected.add_feedback(ask.body)
        return
    _check_read(ctx, student, ask, value)


def _check_read(ctx: V2Context, student: Student, ask: DashboardAsk, value: dict) -> None:
    tally = ctx.tally
    endpoint = ask.endpoint
    problem = shape_problem(endpoint, value)
    if problem is None and ask.taskcode is not None:
        task = ask.taskcode.removeprefix(f"{student.persona.hardware}-{student.persona.code}-")
        problem = trail_problem(value["ordered_actions"], student.facts, task)
    if problem is not None:
        tally.wrong_reply(f"{endpoint}: {problem}", None)
        return
    if not student.exact and endpoint != "comparisonGraph":
        tally.checked_shape_only += 1
        return
    tally.checked_exact += 1
    verdict = difference(endpoint, value, student.expected.reply(endpoint, ask.taskcode))
    if verdict.problem is not None:
        tally.wrong_reply(verdict.problem, f"{student.persona.user}: {verdict.detail}")
