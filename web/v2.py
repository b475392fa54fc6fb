"""The HTTP shell of the v2 API (PROTOCOL-V2.md): routes, credentials, limits, errors.

What the lab UIs and the v2 dashboard call, under

    lh = /analytics/logging/api/v1      addLog, verbs/<name>, download-logs
    th = /analytics/taskcompare/api/v1  the seven reads, submitUserFeedback

This module owns the HTTP part only: who is asking (the query's identity;
the credentials and tokens are ``web.gate``'s), how much they may send
(64 KiB, read with a running limit), and how answers and errors look. What a statement means, the
analytics and durability are the backend's (``V2Backend``, implemented by
the actors), reached through four calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from access.audit import audit
from analytics.v2_replies import ENDPOINTS
from messages import ErrorCode, Identity
from web.access import peer
from web.gate import Gate
from web.query import read_query
from web.replies import ApiError, json_reply, read_body
from web.zipstream import zip_lines

LOGGING = "/analytics/logging/api/v1"
TASKCOMPARE = "/analytics/taskcompare/api/v1"
READS = ENDPOINTS  # the seven reads of PROTOCOL-V2.md
VERB_MAX_CHARS = 200
STORED = b'{"stored":true}'


class NotFoundError(LookupError):
    """A read names a course, hardware or task that does not exist: 404 with ``code``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OverloadedError(Exception):
    """The backend sheds this request to protect the others: 503 ``overloaded``."""


class V2Backend(Protocol):
    """What the v2 routes need of the service. Every call may raise ``OverloadedError``."""

    async def add_statement(self, identity: Identity, body: bytes) -> None:
        """Decode, apply and store one statement; return once it is durable.

        Raises ``messages.DecodeError`` for a body that is no valid statement.
        """

    async def read(
        self, endpoint: str, identity: Identity, taskcode: str | None
    ) -> Mapping[str, Any]:
        """The JSON-able reply of read ``endpoint`` (one of ``READS``) for ``identity``.

        ``taskcode`` is the query's, if any (``comparisonGraph`` reads it).
        Raises ``NotFoundError`` for an unknown course, hardware or task.
        """
        ...

    async def submit_feedback(self, identity: Identity, body: bytes) -> None:
        """Store one ``submitUserFeedback`` body; return once durable. Raises ``DecodeError``."""

    def iter_log_lines(self) -> AsyncIterator[bytes]:
        """Every stored statement and v1 event as JSON lines, in blocks of whole lines.

        Each item holds one or more lines, each ending in ``\\n`` (a page of
        the store per item keeps the per-item cost off the download).
        """
        ...


class V2Routes:
    """The v2 routes; ``backend`` None answers 503 where one is needed (not wired yet)."""

    def __init__(self, backend: V2Backend | None, gate: Gate) -> None:
        self._backend = backend
        self._gate = gate

    def routes(self) -> list[BaseRoute]:
        reads = [
            Route(f"{TASKCOMPARE}/{name}", partial(self.read, name), methods=["GET"], name=name)
            for name in READS
        ]
        return [
            Route(f"{LOGGING}/addLog", self.add_log, methods=["POST"]),
            Route(f"{LOGGING}/verbs/{{name}}", self.verb, methods=["GET"]),
            Route(f"{LOGGING}/download-logs", self.download_logs, methods=["GET"]),
            *reads,
            Route(f"{TASKCOMPARE}/submitUserFeedback", self.submit_feedback, methods=["POST"]),
        ]

    @property
    def backend(self) -> V2Backend:
        if self._backend is None:
            raise ApiError(503, ErrorCode.INTERNAL_ERROR, "the v2 analytics are not wired in")
        return self._backend

    async def add_log(self, request: Request) -> Response:
        grant = await self._gate.writer(request, "addLog")  # 401 before the body is read
        identity = read_query(request.scope["query_string"]).identity
        self._gate.same_user(request, "addLog", grant, identity)
        body = await read_body(request)
        await self.backend.add_statement(identity, body)
        return Response(STORED, media_type="application/json")

    async def verb(self, request: Request) -> Response:
        name = request.path_params["name"]
        if len(name) > VERB_MAX_CHARS or not name.isprintable():
            raise ApiError(400, ErrorCode.INVALID_MESSAGE, "not a verb name")
        return json_reply({"name": name})

    async def download_logs(self, request: Request) -> Response:
        who = await self._gate.downloader(request, "download-logs")
        lines = self.backend.iter_log_lines()
        audit("download_logs", who=who, outcome="started", peer=peer(request))
        return StreamingResponse(
            zip_lines(lines),
            media_type="application/zip",
            headers={
                "content-disposition": 'attachment; filename="logs.zip"',
                "access-control-expose-headers": "content-disposition",
                "cache-control": "no-store",
            },
        )

    async def read(self, endpoint: str, request: Request) -> Response:
        query = read_query(request.scope["query_string"])
        self._gate.reader(request, endpoint, query)
        return json_reply(await self.backend.read(endpoint, query.identity, query.taskcode))

    async def submit_feedback(self, request: Request) -> Response:
        # Open with access control off: the dashboard sends ``Authorization: ''``.
        grant = await self._gate.writer(request, "submitUserFeedback")
        identity = read_query(request.scope["query_string"]).identity
        self._gate.same_user(request, "submitUserFeedback", grant, identity)
        body = await read_body(request)
        await self.backend.submit_feedback(identity, body)
        return Response(STORED, media_type="application/json")
