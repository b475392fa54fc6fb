"""Access control on the hub: a code to get in, then one user and the grant's scopes.

With access control on, ``POST /session/<stream>`` hands the booking
system's client a URI carrying a single-use code (``web.ops``); ``redeem``
(a ``Door``) takes that code from the upgrade's query, before the upgrade is accepted,
and gives the grant it stands for, or the ``401`` to answer (audited, the
code never written anywhere). A ``Guard`` then holds the grant for the
connection's life and says why a message may not pass: an event needs the
``write`` scope, a request ``read``, and every message must name the user
the connection's first allowed message named (the deployed dashboards'
user id is a UUID their browser invents, so a booking token cannot name
one: the first id binds). The booking tokens carry no role, so there is no
instructor on the hub; the course team reads over HTTP (SECURITY.md).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs, urlsplit

import attrs

from access.audit import RefusalAudit
from access.codes import CodeBook
from access.grants import Grant
from messages import InboundMessage, Request, check_hardware
from websocket.handshake import Refusal, unauthorized

CODE_PARAM: Final = "code"
HUB_ROUTE: Final = "hub"
# WWW-Authenticate of a refused upgrade: where a code comes from.
CHALLENGE: Final = 'Code realm="learning-analytics", hint="POST /session/<stream>"'
NO_CODE: Final = "no code: POST the booking token to /session/<stream> and open its uri"
BAD_CODE: Final = "the code is unknown, used, expired or for another stream"


def stream_of(path: str) -> str | None:
    """The stream a URL path names (``/spin30?code=x`` -> ``spin30``), if it is a valid id."""
    name = path.split("?", 1)[0].strip("/").rsplit("/", 1)[-1]
    try:
        check_hardware(name)
    except ValueError:
        return None
    return name


@attrs.define
class Door:
    """One upgrade's check of its code (``accept_websocket``'s ``authorize``); keeps the grant."""

    codes: CodeBook
    peer: str  # the client's address, for the audit line
    refusals: RefusalAudit = attrs.field(factory=RefusalAudit)
    grant: Grant | None = None  # what the code stood for, once redeemed

    def __call__(self, target: str) -> Refusal | None:
        """Redeem the ``?code=`` of ``target`` (path and query); else the 401, audited.

        The code is spent whatever the outcome (``CodeBook.redeem``); neither
        the audit line nor the answer holds it.
        """
        stream = stream_of(target)
        try:
            query = parse_qs(urlsplit(target).query, max_num_fields=8)
        except ValueError:  # more fields than that: not one of our URIs
            query = {}
        found = query.get(CODE_PARAM, [])
        if len(found) == 1 and stream is not None:
            self.grant = self.codes.redeem(found[0], stream)
        if self.grant is not None:
            return None
        reason = NO_CODE if not found else BAD_CODE
        self.refusals.refused(
            peer=self.peer,
            who="unauthenticated",
            route=HUB_ROUTE,
            status=401,
            reason=reason,
            stream=stream,
        )
        return unauthorized(reason, CHALLENGE)


@attrs.define
class Guard:
    """What one hub connection's grant lets through; binds the first user it lets in."""

    grant: Grant
    user: str | None = None  # bound by the first message let through

    def refuses(self, message: InboundMessage) -> str | None:
        """Why ``message`` may not pass (the ``forbidden`` reply's words), or None.

        None binds the connection to the message's user if it is not bound
        yet; a refused message binds nothing.
        """
        if isinstance(message, Request):
            if not self.grant.may_read:
                return "this connection may not ask for analytics (its token has no read scope)"
        elif not self.grant.may_write:
            return "this connection may not send events (its token has no write scope)"
        if self.user is None:
            self.user = message.user
        elif message.user != self.user:
            return "this connection is bound to another user: one user per connection"
        return None
