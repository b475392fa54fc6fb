"""Unstructuring hooks for the codec's converter: messages in their wire shape.

Private to ``messages.codec``. One hand-written function per class: the
node, edge and centroid values are already wire-shaped, so a generic deep
unstructure would only copy them, and encoding the five replies of an
``all_feedback`` has a 200 us budget. The hooks build only the envelope and
the nesting the dashboard expects; orjson does the rest.

Inbound messages are unstructured too, for the store: a payload comes back
exactly as it came (known fields, then ``extra``; an absent ``data`` stays
absent), sharing its nested values with the message.
"""

from collections.abc import Callable
from typing import Any

import attrs
from cattrs import Converter

from messages.inbound import (
    ABSENT,
    AnalyticsPayload,
    FeedbackPayload,
    LogPayload,
    Request,
)
from messages.outbound import (
    CentroidsReply,
    ComparisonGraphReply,
    ErrorReply,
    IndicatorsReply,
    StudentGraphReply,
    TaskFeedbackReply,
    TaskIdentificationReply,
)


def register_unstructure_hooks(
    converter: Converter, message_classes: tuple[type, ...], request_payloads: tuple[type, ...]
) -> None:
    """Register the wire-shape hook of every inbound and outbound class."""
    for payload_cls, hook in EVENT_PAYLOAD_JSON.items():
        converter.register_unstructure_hook(payload_cls, hook)
    for payload_cls in request_payloads:
        converter.register_unstructure_hook(payload_cls, _request_payload_json_hook(payload_cls))
    for message_cls in message_classes:
        converter.register_unstructure_hook(message_cls, _message_json_hook(converter, message_cls))
    converter.register_unstructure_hook(StudentGraphReply, _graph_reply_json)
    converter.register_unstructure_hook(ComparisonGraphReply, _graph_reply_json)
    converter.register_unstructure_hook(TaskIdentificationReply, _task_identification_reply_json)
    converter.register_unstructure_hook(IndicatorsReply, _indicators_reply_json)
    converter.register_unstructure_hook(CentroidsReply, _centroids_reply_json)
    converter.register_unstructure_hook(TaskFeedbackReply, _task_feedback_reply_json)
    converter.register_unstructure_hook(ErrorReply, _error_reply_json)


def _analytics_payload_json(payload: AnalyticsPayload) -> dict[str, Any]:
    wire: dict[str, Any] = {"log": payload.log}
    if payload.data is not ABSENT:
        wire["data"] = payload.data
    wire.update(payload.extra)
    return wire


def _log_payload_json(payload: LogPayload) -> dict[str, Any]:
    wire: dict[str, Any] = {} if payload.log is None else {"log": payload.log}
    wire.update(payload.extra)
    return wire


def _feedback_payload_json(payload: FeedbackPayload) -> dict[str, Any]:
    wire: dict[str, Any] = {"state": payload.state, "subject": payload.subject}
    if payload.input is not None:
        wire["input"] = payload.input
    wire.update(payload.extra)
    return wire


# Events' payloads as stored, by class: the store calls these directly for
# every event (cattrs' own dispatch costs more than the hook).
EVENT_PAYLOAD_JSON: dict[type, Callable[[Any], dict[str, Any]]] = {
    AnalyticsPayload: _analytics_payload_json,
    LogPayload: _log_payload_json,
    FeedbackPayload: _feedback_payload_json,
}


def _request_payload_json_hook(cls: type) -> Callable[[Any], dict[str, Any]]:
    """``{"content": <tag>, <fields that are not None>}``."""
    names = [a.name for a in attrs.fields(cls)]
    content = cls.CONTENT

    def request_payload_json(payload: Any) -> dict[str, Any]:
        wire: dict[str, Any] = {"content": content}
        for name in names:
            value = getattr(payload, name)
            if value is not None:
                wire[name] = value
        return wire

    return request_payload_json


def _message_json_hook(converter: Converter, cls: type) -> Callable[[Any], dict[str, Any]]:
    """The whole message as it came, minus unknown top-level keys."""
    tag = cls.TYPE

    def message_json(msg: Any) -> dict[str, Any]:
        wire: dict[str, Any] = {"user": msg.user}
        if msg.t is not None:
            wire["t"] = msg.t
        wire["type"] = tag
        wire["exp"] = msg.exp
        wire["course"] = msg.course
        if msg.hardware is not None:
            wire["hardware"] = msg.hardware
        if type(msg) is Request and msg.id is not None:
            wire["id"] = msg.id
        wire["payload"] = converter.unstructure(msg.payload)
        return wire

    return message_json


def _response(reply: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The response envelope around ``fields``; ``id`` only when the request had one."""
    wire = {
        "user": reply.user,
        "type": "response",
        "exp": reply.exp,
        "course": reply.course,
        "content": reply.CONTENT,
        **fields,
    }
    if reply.id is not None:
        wire["id"] = reply.id
    return wire


def _graph_reply_json(reply: StudentGraphReply | ComparisonGraphReply) -> dict[str, Any]:
    return _response(
        reply,
        {
            "nodes": reply.nodes,
            "edges": reply.edges,
            "node_info": {"in_centrality": reply.in_centrality},
        },
    )


def _task_identification_reply_json(reply: TaskIdentificationReply) -> dict[str, Any]:
    return _response(reply, {"tasks": reply.tasks})


def _indicators_reply_json(reply: IndicatorsReply) -> dict[str, Any]:
    indicators = {
        "exploration": reply.exploration,
        "enjoyment": reply.enjoyment,
        "edges": reply.edges,
    }
    return _response(reply, {"indicators": indicators})


def _centroids_reply_json(reply: CentroidsReply) -> dict[str, Any]:
    return _response(reply, {"centroids": reply.centroids})


def _task_feedback_reply_json(reply: TaskFeedbackReply) -> dict[str, Any]:
    feedback = {
        "hardware": reply.hardware,
        "hardware_freq": reply.hardware_freq,
        "transition": reply.transition,
        "transition_freq": reply.transition_freq,
    }
    return _response(reply, {"feedback": feedback})


def _error_reply_json(reply: ErrorReply) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": "error"}
    if reply.user is not None:
        wire["user"] = reply.user
    if reply.id is not None:
        wire["id"] = reply.id
    wire["error"] = {"code": reply.code.value, "message": reply.message}
    return wire
