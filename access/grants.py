"""What a verified token grants, and the checks every route and connection asks.

A grant comes from one of two places: the booking system's stream token
(v1: a stream and its scopes, no user, since the deployed dashboard's user
id is a UUID the browser invents) or a bearer token of a person (v2 and the
course team: a subject, a role, the courses of an instructor).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Final

import attrs

READ: Final = "read"
WRITE: Final = "write"
SCOPES: Final = frozenset({READ, WRITE})


class Role(StrEnum):
    STUDENT = "student"  # a person reading or writing their own data
    INSTRUCTOR = "instructor"  # reads every user of their courses
    RESEARCHER = "researcher"  # downloads logs, exports
    ADMIN = "admin"  # forgets users, hands data over


@attrs.frozen
class Grant:
    """What one verified token allows.

    ``stream`` is set for a booking token (the stream it was issued for);
    ``subject`` for a person's token (``sub``). ``courses`` are
    ``exp-course`` keys (``spinner-cie3``) or bare course codes (``cie3``).
    """

    scopes: frozenset[str] = frozenset()
    stream: str | None = None
    subject: str | None = None
    role: Role = Role.STUDENT
    courses: frozenset[str] = frozenset()
    booking_id: str | None = None

    @property
    def may_write(self) -> bool:
        return WRITE in self.scopes

    @property
    def may_read(self) -> bool:
        return READ in self.scopes

    def may_read_user(self, user: str, exp: str, course: str) -> bool:
        """A person reads themself; an instructor the users of their courses; admin all."""
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.INSTRUCTOR:
            return teaches(self.courses, exp, course)
        return self.subject is not None and self.subject == user

    @property
    def may_download(self) -> bool:
        return self.role in (Role.RESEARCHER, Role.ADMIN)

    @property
    def may_forget(self) -> bool:
        return self.role is Role.ADMIN


def teaches(courses: Collection[str], exp: str, course: str) -> bool:
    return f"{exp}-{course}" in courses or course in courses
