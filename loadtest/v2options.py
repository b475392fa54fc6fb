"""What a v2 (HTTP) load run is asked to do, and the checks made before anything connects.

Frozen like ``LoadOptions``: one value describes a run completely (with the
seed, the same students post the same statements).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from loadtest.options import LoadTestError, Pacing, is_loopback, request_mix_field
from loadtest.v2asks import FEEDBACK, READS

LOGGING: Final = "/analytics/logging/api/v1"
TASKCOMPARE: Final = "/analytics/taskcompare/api/v1"
# Mostly the panels a student opens; feedback now and then.
DEFAULT_V2_MIX: Final = (
    ("studentGraph", 0.25),
    ("taskCompletion", 0.2),
    ("comparisonGraph", 0.1),
    ("otherIndicators", 0.1),
    ("taskExploration", 0.1),
    ("usageStats", 0.1),
    ("getUserFeedback", 0.1),
    (FEEDBACK, 0.05),
)
V2_KINDS: Final = frozenset((*READS, FEEDBACK))
DEFAULT_OVERTAKE_SHARE: Final = 0.05


def _mix(_: Any, attribute: attrs.Attribute, value: tuple[tuple[str, float], ...]) -> None:
    unknown = {kind for kind, _ in value} - V2_KINDS
    if unknown or not value or any(w < 0 for _, w in value) or sum(w for _, w in value) <= 0:
        raise ValueError(
            f"{attribute.name}: kinds among {sorted(V2_KINDS)} with weights >= 0, "
            f"at least one > 0, got {value!r}"
        )


def _share(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name}: must be within 0..1, got {value!r}")


def _http_url(_: Any, attribute: attrs.Attribute, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{attribute.name}: expected http://HOST:PORT[/prefix], got {value!r}")


def _zone(_: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{attribute.name}: unknown time zone {value!r}") from None


@attrs.frozen(kw_only=True)
class V2Options(Pacing):
    """One v2 load run against ``url``, the service's HTTP listener (``http://HOST:PORT``,
    with a path prefix if a proxy puts one before ``/analytics/…``), besides the
    pacing (``Pacing``: its ``rate`` counts statements).

    ``request_mix``: what the dashboards ask, by weight.
    ``overtake_share``: share of steps that send two statements at once.
    ``credential``: the UIs' shared credential, sent as ``Authorization: Basic``.
    ``time_zone`` and ``completion_threshold``: the service's, for the reference.
    """

    url: str = attrs.field(validator=_http_url)
    request_mix: tuple[tuple[str, float], ...] = request_mix_field(DEFAULT_V2_MIX, _mix)
    overtake_share: float = attrs.field(default=DEFAULT_OVERTAKE_SHARE, validator=_share)
    credential: str | None = None
    time_zone: str = attrs.field(default="UTC", validator=_zone)
    completion_threshold: float = attrs.field(default=0.8, validator=_share)

    @property
    def host(self) -> str:
        return str(urlsplit(self.url).hostname)

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def host_header(self) -> str:
        return str(urlsplit(self.url).netloc)

    @property
    def prefix(self) -> str:
        return urlsplit(self.url).path.rstrip("/")

    @property
    def tz(self) -> dt.tzinfo:
        return dt.UTC if self.time_zone == "UTC" else zoneinfo.ZoneInfo(self.time_zone)


def check_v2_target(options: V2Options) -> None:
    """Refuse a host that is not loopback unless ``allow_remote``: ``LoadTestError``."""
    if not options.allow_remote and not is_loopback(options.host):
        raise LoadTestError(
            f"refusing to load remote host {options.host!r} ({options.url}): only loopback "
            "targets unless allow_remote (--allow-remote) is given"
        )
