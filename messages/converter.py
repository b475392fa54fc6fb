"""The one cattrs converter of the wire, and the table from wire tags to classes.

Built once at import by ``_build_converter``, it does all the structuring
and unstructuring, so the strict scalar rules and the id limits are the same
for every message (hooks in ``_structure`` and ``_unstructure``). The pair
``(type, content)`` (``content`` is ``None`` for events) selects a
structuring function from ``STRUCTURERS``, built from the classes' ``TYPE``
and ``CONTENT``: the one table from wire tags to classes.
"""

from collections.abc import Callable
from typing import Any, Final

from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from messages._structure import (
    EVENT_OVERRIDES,
    REQUEST_OVERRIDES,
    make_payload_hook,
    strict_bool,
    strict_float,
    strict_int,
    strict_str,
)
from messages._unstructure import register_unstructure_hooks
from messages.inbound import (
    AllFeedbackRequest,
    AnalyticsEvent,
    AnalyticsPayload,
    CentroidsRequest,
    ComparisonGraphRequest,
    FeedbackEvent,
    FeedbackPayload,
    InboundMessage,
    IndicatorsRequest,
    LogEvent,
    LogPayload,
    Request,
    StudentGraphRequest,
    TaskFeedbackRequest,
    TaskIdentificationRequest,
)

EVENT_CLASSES: Final = (AnalyticsEvent, LogEvent, FeedbackEvent)
REQUEST_PAYLOAD_CLASSES: Final = (
    StudentGraphRequest,
    ComparisonGraphRequest,
    TaskIdentificationRequest,
    IndicatorsRequest,
    CentroidsRequest,
    TaskFeedbackRequest,
    AllFeedbackRequest,
)

MESSAGE_TYPES: Final[tuple[str, ...]] = tuple(sorted(cls.TYPE for cls in (*EVENT_CLASSES, Request)))
"""Every valid ``type`` tag, sorted as listed in error messages."""

REQUEST_CONTENTS: Final[tuple[str, ...]] = tuple(
    sorted(cls.CONTENT for cls in REQUEST_PAYLOAD_CLASSES)
)
"""Every valid request ``content`` tag, sorted as listed in error messages."""

Structurer = Callable[[dict[str, Any]], InboundMessage]


def _build_converter() -> tuple[Converter, dict[tuple[str, str | None], Structurer]]:
    """The one converter, and the structuring function for each ``(type, content)``.

    ``content`` is ``None`` for events. Called once, at import.
    """
    converter = Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, strict_str)
    converter.register_structure_hook(int, strict_int)
    converter.register_structure_hook(float, strict_float)
    converter.register_structure_hook(bool, strict_bool)

    structurers: dict[tuple[str, str | None], Structurer] = {}
    for payload_cls in (AnalyticsPayload, LogPayload, FeedbackPayload):
        converter.register_structure_hook(payload_cls, make_payload_hook(converter, payload_cls))
    for event_cls in EVENT_CLASSES:
        structure_event = make_dict_structure_fn(event_cls, converter, **EVENT_OVERRIDES)
        converter.register_structure_hook(event_cls, structure_event)
        structurers[event_cls.TYPE, None] = _bind(structure_event, event_cls)
    for payload_cls in REQUEST_PAYLOAD_CLASSES:
        structure_payload = make_payload_hook(converter, payload_cls)
        converter.register_structure_hook(payload_cls, structure_payload)
        structure_request = make_dict_structure_fn(
            Request,
            converter,
            payload=override(struct_hook=structure_payload),
            **REQUEST_OVERRIDES,
        )
        structurers[Request.TYPE, payload_cls.CONTENT] = _bind(structure_request, Request)

    register_unstructure_hooks(converter, (*EVENT_CLASSES, Request), REQUEST_PAYLOAD_CLASSES)
    return converter, structurers


def _bind(structure: Callable[[Any, Any], Any], cls: type) -> Structurer:
    def structure_message(raw: dict[str, Any]) -> InboundMessage:
        return structure(raw, cls)

    return structure_message


CONVERTER, STRUCTURERS = _build_converter()
