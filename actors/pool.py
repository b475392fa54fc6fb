"""The analytics pool: N worker tasks that turn requests into encoded replies."""

from __future__ import annotations

import logging

import attrs
import trio

from actors.outbox import Outbox
from analytics.course_view import StudentSnapshot
from analytics.replies import Replier
from messages import ErrorCode, ErrorReply, Request, encode
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)


@attrs.frozen
class Job:
    """One request with the immutable snapshot it must be answered from."""

    request: Request
    snapshot: StudentSnapshot | None
    outbox: Outbox
    received_at: float  # trio clock when the request was read
    reserved: int = 0  # outbox places the connection holds for these replies


async def run_worker(
    jobs: trio.MemoryReceiveChannel[Job], replier: Replier, metrics: Metrics
) -> None:
    """Answer jobs until the job channel is closed and drained.

    Owns its clone of ``jobs`` and closes it when done. Replies are computed
    inline: on 6x6 or 9x9 matrices a thread hop costs more than the maths.
    A failure while answering becomes an ``internal_error`` reply; it never
    ends the worker.
    """
    async with jobs:
        async for job in jobs:
            try:
                replies = replier.answer(job.request, job.snapshot)
                frames = [encode(reply) for reply in replies]
            except Exception:
                log.exception(
                    "request.failed", extra={"user": job.request.user, "content": _content(job)}
                )
                replies = [
                    ErrorReply(
                        ErrorCode.INTERNAL_ERROR,
                        "the reply could not be computed; the error is logged",
                        user=job.request.user,
                        id=job.request.id,
                    )
                ]
                frames = [encode(reply) for reply in replies]
            job.outbox.put_all(frames, reserved=job.reserved)
            for reply in replies:
                if isinstance(reply, ErrorReply):
                    metrics.error_reply[reply.code].inc()
            metrics.latency[type(job.request.payload)].observe(
                trio.current_time() - job.received_at
            )


def _content(job: Job) -> str:
    return type(job.request.payload).CONTENT
