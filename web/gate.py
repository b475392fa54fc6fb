"""Who may call a v2 route or an admin route: the UI credential, persons' tokens, researchers.

With access control off (``access`` None) everything is as before issue 15:
``addLog`` needs the UI credential if one is configured, the reads and
``submitUserFeedback`` are open, ``download-logs`` needs a researcher's
Basic credential. With it on:

- ``addLog`` and ``submitUserFeedback`` need the UI credential (Basic) or a
  person's ``Bearer`` token whose ``sub`` is the query's ``username`` (else
  403); no UI credential configured means Bearer only. ``open_feedback``
  lets ``submitUserFeedback`` through without a credential (a Bearer token
  sent is still checked), for the deployed v2 dashboard.
- reads stay open (the v2 dashboard cannot send a credential) unless
  ``require_read_token``: then a Bearer token or ``?token=`` whose grant may
  read that user (themself, an instructor of the course, an admin).
- ``download-logs``: a researcher's Basic credential or a researcher's or
  admin's token; the admin routes: an admin's token.

Every refusal is audited (``web.access.refuse``); nothing here logs a credential.
"""

from __future__ import annotations

from starlette.requests import Request

from access.grants import Grant
from messages import Identity, Query
from web.access import AccessKit, person, refuse, scheme, who_is
from web.auth import Researchers, UiCredential
from web.replies import ApiError


class Gate:
    """The checks of the v2 and admin routes; ``access`` None = access control off."""

    def __init__(
        self, access: AccessKit | None, ui: UiCredential, researchers: Researchers
    ) -> None:
        self._access = access
        self._ui = ui
        self._researchers = researchers

    async def writer(self, request: Request, route: str) -> Grant | None:
        """Who may write: a person's grant (Bearer), or None for the UI credential.

        Checked before the query and the body are read. Raises ``ApiError`` 401.
        """
        header = request.headers.get("authorization")
        access = self._access
        if access is not None and scheme(header) == "bearer":
            return person(access, request, route, header)
        if route != "addLog" and (access is None or access.open_feedback):
            return None  # the deployed dashboard sends ``Authorization: ''`` here
        if access is not None and not self._ui.required:
            raise refuse(request, route, 401, "a Bearer token is required (no UI credential)")
        try:
            await self._ui.check(request)
        except ApiError as exc:
            raise refuse(request, route, exc.status, exc.message) from None
        return None

    def same_user(
        self, request: Request, route: str, grant: Grant | None, identity: Identity
    ) -> None:
        """A token's subject writes only as themself, and only with the write scope (else 403)."""
        if grant is None:
            return
        if grant.subject != identity.username:
            raise refuse(
                request, route, 403, "the token's subject is not username", who=who_is(grant)
            )
        if not grant.may_write:
            raise refuse(request, route, 403, "the token grants no write scope", who=who_is(grant))

    def reader(self, request: Request, route: str, query: Query) -> None:
        """Returns if the query's user may be read; 401/403 if a read token is needed and wrong."""
        access = self._access
        if access is None or not access.require_read_token:
            return
        header = request.headers.get("authorization")
        token = header if scheme(header) == "bearer" else query.token
        grant = person(access, request, route, token)
        identity = query.identity
        if not grant.may_read or not grant.may_read_user(
            identity.username, identity.hardware, identity.course
        ):
            raise refuse(request, route, 403, "the token may not read this user", who=who_is(grant))

    async def downloader(self, request: Request, route: str) -> str:
        """Who downloads the logs (``researcher:ada``); raises ``ApiError`` 401/403."""
        access = self._access
        header = request.headers.get("authorization")
        if access is not None and scheme(header) == "bearer":
            grant = person(access, request, route, header)
            if not grant.may_download:
                raise refuse(
                    request, route, 403, "the token's role may not download", who=who_is(grant)
                )
            return who_is(grant)
        try:
            return f"researcher:{await self._researchers.check(request)}"
        except ApiError as exc:
            raise refuse(request, route, exc.status, exc.message, headers=exc.headers) from None

    def admin(self, request: Request, route: str) -> str:
        """Who acts as admin (``admin:root``): an admin's Bearer token only; else 401/403."""
        access = self._access
        if access is None:
            raise refuse(request, route, 403, "admin routes need access control on (admin tokens)")
        header = request.headers.get("authorization")
        grant = person(access, request, route, header if scheme(header) == "bearer" else None)
        if not grant.may_forget:
            raise refuse(request, route, 403, "the token's role is not admin", who=who_is(grant))
        return who_is(grant)
