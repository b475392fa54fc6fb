"""The query of a v2 request, read as leniently as PROTOCOL-V2.md asks, and whose session it names.

The lab UIs and the v2 dashboard build ``?username=…&course=…&hardware=…``
by string concatenation, without URL-encoding. So: split on ``&`` and the
first ``=``; percent-decode what is encoded and keep the rest as it came
(``%`` not followed by two hex digits stays a ``%``, and ``+`` stays a
``+``: an unencoded name may contain one, and nothing of ours is
form-encoded); the first of a repeated key wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

import attrs

from messages import ErrorCode, IdLimitError, check_course, check_exp, check_user
from web.replies import ApiError

MAX_QUERY_BYTES = 4096


def parse_query(raw: bytes) -> dict[str, str]:
    """``key=value&…`` to a dict; raises ``ApiError`` 400 past ``MAX_QUERY_BYTES``."""
    if len(raw) > MAX_QUERY_BYTES:
        raise ApiError(400, ErrorCode.INVALID_MESSAGE, f"query over {MAX_QUERY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    params: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params.setdefault(_decode(key), _decode(value))
    return params


def _decode(text: str) -> str:
    if "%" not in text:
        return text
    # errors="strict" would raise on a lone %C3; keep the text as it came then.
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text


@attrs.frozen
class Identity:
    """Whose session a v2 request is about: PROTOCOL-V2.md's ``(username, hardware, course)``.

    ``exp`` is the query's ``hardware`` (the lab kind, our v1 ``exp``); the
    kit travels inside the statement. ``user`` may be the literal ``"null"``
    a browser without a booking sends.
    """

    user: str
    exp: str
    course: str

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Identity:
        """Raises ``ApiError`` 400 naming the parameter that is missing or out of limits."""
        values = {}
        for name, field, check in (
            ("username", "user", check_user),
            ("hardware", "exp", check_exp),
            ("course", "course", check_course),
        ):
            value = params.get(name)
            if value is None:
                raise ApiError(400, ErrorCode.INVALID_MESSAGE, f"query parameter {name} missing")
            try:
                values[field] = check(value)
            except IdLimitError as exc:
                raise ApiError(400, ErrorCode.INVALID_MESSAGE, f"{name}: {exc}") from None
        return cls(**values)
