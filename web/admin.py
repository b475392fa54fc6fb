"""The admin routes: forget a user while the service runs.

``POST /admin/forget/<user>`` with an admin's Bearer token (access control
on): the service erases the user from the store (events, statements,
feedback, snapshots, import records: one transaction, ``store.erase``) and
from memory (their session and whatever of theirs waits in the commit
buffer), and answers what it erased. The actors implement ``Forgetter``
(``Service.forget``, ``actors.forget``); an app built without one answers
``503`` and says to run ``learning-analytics forget`` with the service
stopped. Every call is audited (``audit.forget``), refused ones included.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from access.audit import audit
from messages import ErrorCode, IdLimitError, check_user
from store.erase import EraseReport
from store.rows import StoreError
from web.access import peer
from web.gate import Gate
from web.replies import ApiError, json_reply


@attrs.frozen
class ForgetReport:
    """What a forget took away: the store's rows, and what memory held."""

    erased: EraseReport
    session_dropped: bool  # the user's state was in memory and is gone
    buffered_events: int  # events still waiting for the disk, dropped unwritten

    def to_json(self) -> dict[str, Any]:
        return {
            **self.erased.to_json(),
            "session_dropped": self.session_dropped,
            "buffered_events_dropped": self.buffered_events,
        }


class Forgetter(Protocol):
    """What the running service does for a forget (``actors.service.Service``)."""

    async def forget(self, user: str) -> ForgetReport:
        """Erase ``user`` from memory and the store; return once the erase is committed.

        From its start nothing of the user's earlier data may reach a reply
        or the disk again (their session is dropped, their buffered events
        are not written, their pending snapshot is discarded). Raises
        ``StoreError`` when the store refuses (the rows are then intact).
        """
        ...


FORGET_ROUTE = "admin/forget"


class AdminRoutes:
    """``POST /admin/forget/<user>``; ``forgetter`` None answers 503 (not wired)."""

    def __init__(self, forgetter: Forgetter | None, gate: Gate) -> None:
        self._forgetter = forgetter
        self._gate = gate

    def routes(self) -> list[BaseRoute]:
        # ``path``: a user id may hold "/" (PROTOCOL.md: 1-128 printable characters).
        return [Route("/admin/forget/{user:path}", self.forget, methods=["POST"])]

    async def forget(self, request: Request) -> Response:
        who = self._gate.admin(request, FORGET_ROUTE)
        try:
            user = check_user(request.path_params["user"])
        except IdLimitError as exc:
            raise ApiError(400, ErrorCode.INVALID_MESSAGE, f"user: {exc}") from None
        where = {"user": user, "peer": peer(request), "via": "http"}
        if self._forgetter is None:
            audit("forget", who=who, outcome="unavailable", **where)
            raise ApiError(
                503,
                ErrorCode.INTERNAL_ERROR,
                "forgetting while the service runs is not available yet: stop the service "
                "and run `learning-analytics forget USER`",
            )
        try:
            report = await self._forgetter.forget(user)
        except StoreError as exc:
            audit("forget", who=who, outcome="failed", error=str(exc), **where)
            raise ApiError(
                503, ErrorCode.INTERNAL_ERROR, "the store refused; nothing erased"
            ) from None
        audit(
            "forget",
            who=who,
            outcome="done",
            events=report.erased.total_events,
            progress_rows=report.erased.progress,
            import_records=report.erased.imports,
            **where,
        )
        return json_reply(report.to_json())
