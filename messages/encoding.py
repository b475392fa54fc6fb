"""Messages to JSON: reply frames (``encode``) and stored payloads (``payload_json``).

orjson writes NaN and infinities as ``null`` (PROTOCOL.md, "No NaN on the
wire") and, with ``OPT_SERIALIZE_NUMPY``, numpy scalars and arrays as numbers.
"""

from typing import Any, Final

import orjson

from messages._unstructure import EVENT_PAYLOAD_JSON
from messages.converter import CONVERTER
from messages.errors import DecodeError
from messages.inbound import InboundMessage
from messages.outbound import ErrorReply, OutboundMessage
from messages.v2_events import V2_EVENT_CLASSES, V2Event, v2_payload_json

_DUMPS_OPTIONS: Final = orjson.OPT_SERIALIZE_NUMPY


def encode(reply: OutboundMessage) -> str:
    """The text of a WebSocket frame carrying ``reply`` (a response or ``ErrorReply``).

    NaN and infinities anywhere in the reply (numpy's included) are written
    as ``null``; numpy integers, floats, bools and arrays as JSON numbers,
    booleans and arrays.

    Raises:
        TypeError: (``orjson.JSONEncodeError``) if a value has no JSON form;
            that is a bug in whoever built the reply.
    """
    wire = CONVERTER.unstructure(reply)
    try:
        return orjson.dumps(wire, option=_DUMPS_OPTIONS).decode()
    except orjson.JSONEncodeError:
        # Keys built from numpy arrays are numpy.str_, which orjson refuses
        # as keys without OPT_NON_STR_KEYS; that option slows every dict,
        # so it is only the fallback.
        return orjson.dumps(wire, option=_DUMPS_OPTIONS | orjson.OPT_NON_STR_KEYS).decode()


def encode_error(error: DecodeError) -> str:
    """The error reply to a frame that failed to decode, as frame text."""
    return encode(ErrorReply.from_decode_error(error))


def payload_json(msg: InboundMessage | V2Event) -> dict[str, Any]:
    """The message's payload as it came: what the store keeps.

    Known fields first, then the unknown keys from ``extra``; an absent
    ``data`` stays absent. A ``log``/``input`` that was ``null`` comes
    back absent (both mean "no value"). For a request,
    ``{"content": ..., <fields that are not None>}``. Nested values are
    shared with the message, not copied.
    """
    if isinstance(msg, V2_EVENT_CLASSES):
        return dict(v2_payload_json(msg))
    event_payload_json = EVENT_PAYLOAD_JSON.get(type(msg.payload))
    if event_payload_json is not None:
        return event_payload_json(msg.payload)
    payload: dict[str, Any] = CONVERTER.unstructure(msg.payload)
    return payload


def encode_event(msg: InboundMessage) -> dict[str, Any]:
    """The whole message as a JSON-ready dict, minus unknown top-level keys.

    ``t``, ``hardware`` and ``id`` are left out when ``None``, so that
    ``decode(orjson.dumps(encode_event(msg))) == msg``.
    """
    wire: dict[str, Any] = CONVERTER.unstructure(msg)
    return wire
