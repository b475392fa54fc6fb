"""The query of a v2 request: bounded in bytes here, read by ``messages.decode_query``.

One reader for the whole service: the rules (lenient percent-decoding, ``+``
kept, a repeated key refused, the v1 id limits) live in ``messages`` beside the
statement they key, sans-io and tested there. A ``DecodeError`` it raises is
the app's ``400 invalid_message``.
"""

from __future__ import annotations

from messages import ErrorCode, Query, decode_query
from web.replies import ApiError

MAX_QUERY_BYTES = 4096


def read_query(raw: bytes) -> Query:
    """The request's ``Query``; ``ApiError`` 400 past ``MAX_QUERY_BYTES``, else ``DecodeError``."""
    if len(raw) > MAX_QUERY_BYTES:
        raise ApiError(400, ErrorCode.INVALID_MESSAGE, f"query over {MAX_QUERY_BYTES} bytes")
    return decode_query(raw)
