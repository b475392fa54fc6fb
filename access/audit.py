"""The audit log: every forget, export, log download and refused credential, as its own stream.

One line per act: what (``audit.<action>``), who (a role and a subject, or
``unauthenticated`` with the peer address), on whom or what (a user id, a
stream, a file), and the outcome. Never a payload, a token or a secret. The
logger is ``learning_analytics.audit``, so an operator can send it elsewhere
(``--audit-log FILE``).
"""

from __future__ import annotations

import logging
from typing import Any, Final

AUDIT_LOGGER: Final = "learning_analytics.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def audit(action: str, *, who: str, outcome: str, **what: Any) -> None:
    """Record one act; ``what`` holds ids and counts, never a payload or a secret."""
    _log.info("audit.%s", action, extra={"who": who, "outcome": outcome, **what})
