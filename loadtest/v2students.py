"""The fake lab UIs of a v2 run: statements POSTed to ``addLog`` as the UIs send them.

Each student is a page with two keep-alive connections (a browser opens
more when requests overlap): its statements go one at a time, or two at
once when its script overtakes (both in flight, the later one started
first). A statement answered ``200`` joins the student's reference; one
refused (4xx) does not; one whose fate is unknown (a timeout, a 503, a lost
connection) makes the student's later replies checkable for shape only.
"""

from __future__ import annotations

import trio

from loadtest.clients import max_events
from loadtest.http1 import HttpConnection
from loadtest.shape import parse_frame
from loadtest.v2context import (
    REFUSED,
    STORED,
    STORED_BODY,
    UNKNOWN,
    Student,
    V2Context,
    cors,
    error_code,
    exchange,
    preflight,
    refused,
    with_connections,
)
from loadtest.v2script import Outgoing, Step, V2StudentScript


async def run_student(ctx: V2Context, student: Student) -> None:
    persona = student.persona
    lh_url = f"http://{ctx.options.host_header}{ctx.lh}"
    script = V2StudentScript(
        persona,
        ctx.options.seed,
        start_ms=ctx.start_ms,
        lh=lh_url,
        overtake_share=ctx.options.overtake_share,
    )
    target = f"{ctx.lh}/addLog?{persona.query}"

    async def body(connections: list[HttpConnection]) -> None:
        with trio.move_on_at(ctx.clock.drain_end) as stuck:
            await preflight(ctx, connections[0], target)
            await _student_loop(ctx, student, script, target, connections)
        if stuck.cancelled_caught:
            ctx.tally.stuck_sends += 1

    await with_connections(ctx, 2, body)


async def _student_loop(
    ctx: V2Context,
    student: Student,
    script: V2StudentScript,
    target: str,
    connections: list[HttpConnection],
) -> None:
    low, high = ctx.options.think_time_s
    due = trio.current_time()
    for _ in range(max_events(ctx.options)):
        step = script.next_step()
        if ctx.pacer is not None:
            for _ in step.statements:
                due = ctx.pacer.claim(trio.current_time())
        if due >= ctx.clock.end:
            return
        await trio.sleep_until(due)
        async with student.lock:
            await _send_step(ctx, student, step, target, connections)
        student.first_sent.set()
        if ctx.pacer is None:
            due = trio.current_time() + script.rng.uniform(low, high)


async def _send_step(
    ctx: V2Context, student: Student, step: Step, target: str, connections: list[HttpConnection]
) -> None:
    outcomes = [UNKNOWN] * len(step.statements)

    async def post(k: int, connection: HttpConnection) -> None:
        outcomes[k] = await _post(ctx, connection, target, step.statements[k])

    if step.overtaking:
        ctx.tally.overtaking_steps += 1
        async with trio.open_nursery() as both:  # the later one first: it may overtake
            both.start_soon(post, 1, connections[1])
            both.start_soon(post, 0, connections[0])
    else:
        await post(0, connections[0])
    for statement, outcome in zip(step.statements, outcomes, strict=True):  # timestamp order
        if outcome == STORED:
            student.expected.add_statement(statement.body)
        elif outcome == UNKNOWN:
            student.uncertain(ctx.tally)


async def _post(ctx: V2Context, connection: HttpConnection, target: str, out: Outgoing) -> str:
    tally = ctx.tally
    data = ctx.request("POST", target, "addLog", out.encoded)
    sent_at = trio.current_time()
    tally.statement_sent(out.verb, sent_at)
    reply = await exchange(ctx, connection, "student", data)
    if isinstance(reply, str):
        tally.statement_unknown(reply)
        return UNKNOWN
    tally.replied("addLog", sent_at, trio.current_time())
    cors(ctx, reply)
    if reply.status == 200:
        tally.statement_stored()
        if reply.body != b'{"stored":true}' and parse_frame(reply.body)[0] != STORED_BODY:
            tally.wrong_reply('addLog: 200 without {"stored": true}', repr(reply.body[:60]))
        return STORED
    why = f"{reply.status} {error_code(reply)}".rstrip()
    if refused(reply.status):
        tally.statement_refused(why)
        return REFUSED
    tally.statement_unknown(why)
    return UNKNOWN
