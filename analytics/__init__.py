"""Pure, sans-io analytics on numpy: no trio, no files, no sockets.

The public API is the stable contract of DESIGN.md; each function maps onto
one kind of golden reference case. The v2 (HTTP) side lives in its modules:
``analytics.timeline`` and ``analytics.usage`` (a session key's statements),
``analytics.v2_session`` (its state) and ``analytics.v2_replies`` (the replies).
"""

from analytics.distance import ged, task_distance, task_distances, total_edges
from analytics.euler import euler_trail
from analytics.feedback import enjoyment, task_feedback
from analytics.graph import centroid, in_centrality, vis_graph
from analytics.transitions import TransitionCounter, UiEvent

__all__ = [
    "TransitionCounter",
    "UiEvent",
    "centroid",
    "enjoyment",
    "euler_trail",
    "ged",
    "in_centrality",
    "task_distance",
    "task_distances",
    "task_feedback",
    "total_edges",
    "vis_graph",
]
