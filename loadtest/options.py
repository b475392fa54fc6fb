"""What a load run is asked to do, and the checks made before anything connects.

``LoadOptions`` is frozen: one value describes a run completely (with the
seed, the same students say the same things), so a report can quote it and
a benchmark can rerun it.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any, Protocol

import attrs

from websocket.client import split_ws_url

# A run is always bounded: a typo of "3600" for "360" is fine, a day is not.
MAX_DURATION_S = 24 * 3600.0
MAX_USERS = 100_000
# The deployed dashboard polls every few seconds.
DEFAULT_REQUEST_INTERVAL_S = 2.0
DEFAULT_THINK_TIME_S = (0.5, 3.0)
DEFAULT_REPLY_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
# What dashboards ask for, and how often: mostly the poll the deployed one sends.
DEFAULT_REQUEST_MIX: tuple[tuple[str, float], ...] = (
    ("all_feedback", 0.8),
    ("indicators", 0.1),
    ("task_feedback", 0.1),
)
REQUEST_KINDS = frozenset(kind for kind, _ in DEFAULT_REQUEST_MIX)


class LoadTestError(ValueError):
    """The run cannot be made as asked (a remote target, a bad URL); nothing was sent."""


def _positive(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name}: must be a finite number > 0, got {value!r}")


def _duration(_: Any, attribute: attrs.Attribute, value: float) -> None:
    _positive(_, attribute, value)
    if value > MAX_DURATION_S:
        raise ValueError(f"{attribute.name}: at most {MAX_DURATION_S:.0f} s, got {value!r}")


def _users(_: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 1 <= value <= MAX_USERS:
        raise ValueError(f"{attribute.name}: must be 1 to {MAX_USERS}, got {value!r}")


def _rate(_: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None:
        _positive(_, attribute, value)


def _think(_: Any, attribute: attrs.Attribute, value: tuple[float, float]) -> None:
    low, high = value
    if not (0 <= low <= high and math.isfinite(high)):
        raise ValueError(f"{attribute.name}: expected 0 <= min <= max, got {value!r}")


def _mix(_: Any, attribute: attrs.Attribute, value: tuple[tuple[str, float], ...]) -> None:
    unknown = {kind for kind, _ in value} - REQUEST_KINDS
    if unknown or not value or any(weight < 0 for _, weight in value):
        raise ValueError(
            f"{attribute.name}: kinds among {sorted(REQUEST_KINDS)} with weights >= 0, "
            f"got {value!r}"
        )
    if sum(weight for _, weight in value) <= 0:
        raise ValueError(f"{attribute.name}: at least one weight must be > 0")


def _urls(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: give at least one ws:// URL")


@attrs.frozen(kw_only=True)
class Pacing:
    """What every load run has, v1 or v2: how many students, for how long, at what pace.

    ``rate``: target events (statements) per second summed over all students
    (a shared schedule); ``None`` lets each student think ``think_time_s``
    between steps. ``dashboards``: how many students have a dashboard
    (``None``: all), each asking every ``request_interval_s``.
    """

    users: int = attrs.field(default=10, validator=_users)
    duration_s: float = attrs.field(default=10.0, validator=_duration)
    rate: float | None = attrs.field(default=None, validator=_rate)
    seed: int = 1
    allow_remote: bool = False
    request_interval_s: float = attrs.field(default=DEFAULT_REQUEST_INTERVAL_S, validator=_positive)
    think_time_s: tuple[float, float] = attrs.field(
        default=DEFAULT_THINK_TIME_S, converter=tuple, validator=_think
    )
    dashboards: int | None = None
    reply_timeout_s: float = attrs.field(default=DEFAULT_REPLY_TIMEOUT_S, validator=_positive)
    connect_timeout_s: float = attrs.field(default=DEFAULT_CONNECT_TIMEOUT_S, validator=_positive)
    # Students connect spread over this window (a lab does not start on one tick).
    ramp_s: float | None = None

    @property
    def dashboard_count(self) -> int:
        return dashboards_among(self.users, self.dashboards)

    @property
    def effective_ramp_s(self) -> float:
        return ramp_for(self.duration_s, self.ramp_s)

    def report_fields(self) -> dict[str, Any]:
        """What a report (v1 or v2) says of the pacing it was asked for, by its field names."""
        return {
            "users": self.users,
            "dashboards": self.dashboard_count,
            "duration_s": self.duration_s,
            "target_rate": self.rate,
            "think_time_s": self.think_time_s,
            "request_interval_s": self.request_interval_s,
            "reply_timeout_s": self.reply_timeout_s,
            "seed": self.seed,
        }


def request_mix_field(default: tuple[tuple[str, float], ...], validator: Any) -> Any:
    """The ``request_mix`` of a run: (kind, weight) pairs, ``validator`` knowing the kinds."""
    return attrs.field(
        default=default,
        converter=lambda pairs: tuple((str(k), float(w)) for k, w in pairs),
        validator=validator,
    )


@attrs.frozen(kw_only=True)
class LoadOptions(Pacing):
    """One v1 load run: who connects where, besides the pacing (``Pacing``).

    ``urls``: either one hub URL with no path (``ws://127.0.0.1:8000``: each
    student gets the stream path of its hardware, ``/spin3``), or stream URLs
    with a path (a relay's, or the hub's): students are dealt round robin over
    them and each dashboard joins its student's stream.
    """

    urls: tuple[str, ...] = attrs.field(converter=tuple, validator=_urls)
    request_mix: tuple[tuple[str, float], ...] = request_mix_field(DEFAULT_REQUEST_MIX, _mix)

    @property
    def hub_mode(self) -> bool:
        """One URL without a path: the hub, where each student picks its stream path."""
        return len(self.urls) == 1 and _path_of(self.urls[0]) in ("", "/")


def dashboards_among(users: int, dashboards: int | None) -> int:
    """How many of ``users`` students have a dashboard (``None``: all)."""
    return users if dashboards is None else max(0, min(dashboards, users))


def ramp_for(duration_s: float, ramp_s: float | None) -> float:
    """Seconds over which students start: ``ramp_s``, else a tenth of the run, at most 1 s."""
    return min(1.0, duration_s / 10) if ramp_s is None else max(0.0, ramp_s)


class Paced(Protocol):
    """What a student's pace is read from (``LoadOptions``, ``V2Options``)."""

    rate: float | None
    duration_s: float
    think_time_s: tuple[float, float]


def _path_of(url: str) -> str:
    _, _, _, resource = split_ws_url(url)
    return resource.split("?", 1)[0]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal; never resolves names (no DNS)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_targets(options: LoadOptions) -> None:
    """Refuse bad URLs and, unless ``allow_remote``, any host that is not loopback.

    A load tester pointed at a production service by mistake would hurt real
    students, so leaving the machine is an explicit choice.

    Raises ``LoadTestError`` naming the URL or host.
    """
    for url in options.urls:
        try:
            _, host, _, _ = split_ws_url(url)
        except ValueError as exc:
            raise LoadTestError(str(exc)) from None
        if not options.allow_remote and not is_loopback(host):
            raise LoadTestError(
                f"refusing to load remote host {host!r} ({url}): only loopback targets "
                "unless allow_remote (--allow-remote) is given"
            )
