"""Whether access control is on, and whether the settings allow serving that way.

``--access-control auto`` (the default) is off when every listener (the hub,
the HTTP port) binds loopback, on otherwise: a service that only this host
can reach trusts this host, as the original did; one that others can reach
checks who they are. ``off`` beyond loopback is refused unless
``--insecure-open`` says so out loud; ``on`` needs the secrets and the public
URL (the ``aud`` of every token we accept). Pure: the wiring calls
``check_access`` at start and logs ``describe_access``.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

import attrs

from config.settings import AccessControl, Settings, SettingsError


class AccessMode(StrEnum):
    """What the service enforces: tokens and credentials (``on``), or nothing (``off``)."""

    ON = "on"
    OFF = "off"


def is_loopback(host: str) -> bool:
    """``localhost`` and loopback addresses; a wildcard (``0.0.0.0``, ``::``) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposed_listeners(settings: Settings) -> list[str]:
    """The listeners others can reach: ``hub 0.0.0.0:8000``, ``http [::]:9000``; [] on loopback."""
    listening = (("hub", settings.listen_address), ("http", settings.http_address))
    exposed = []
    for name, address in listening:
        if address is not None and not is_loopback(address[0]):
            host, port = address
            exposed.append(f"{name} [{host}]:{port}" if ":" in host else f"{name} {host}:{port}")
    return exposed


def effective_access(settings: Settings) -> AccessMode:
    """``on``/``off`` as set; ``auto``: on as soon as one listener is beyond loopback."""
    if settings.access_control is AccessControl.AUTO:
        return AccessMode.ON if exposed_listeners(settings) else AccessMode.OFF
    return AccessMode(settings.access_control.value)


def check_access(settings: Settings) -> AccessMode:
    """The mode, if the settings can serve it; raises ``SettingsError`` saying what to set.

    Refused: access control off beyond loopback without ``--insecure-open``;
    on without ``--access-secret-file`` or ``--public-url``;
    ``--require-read-token`` with access control off (no token could be checked).
    """
    mode = effective_access(settings)
    exposed = exposed_listeners(settings)
    if mode is AccessMode.OFF:
        if exposed and not settings.insecure_open:
            raise SettingsError(
                f"access control is off but {', '.join(exposed)} can be reached beyond "
                "this host: anyone could read and write any student's data. Turn it on "
                "(LA_ACCESS_SECRET_FILE and LA_PUBLIC_URL; see SECURITY.md), or give "
                "--insecure-open (LA_INSECURE_OPEN=1) to serve everyone who reaches the port"
            )
        if settings.require_read_token:
            raise SettingsError(
                "require_read_token (--require-read-token) needs access control on "
                "(--access-control on, with LA_ACCESS_SECRET_FILE and LA_PUBLIC_URL)"
            )
        return mode
    missing = [
        name
        for name, value in (
            ("--access-secret-file (LA_ACCESS_SECRET_FILE)", settings.access_secret_file),
            ("--public-url (LA_PUBLIC_URL)", settings.public_url),
        )
        if value is None
    ]
    if missing:
        why = (
            f"{', '.join(exposed)} can be reached beyond this host"
            if settings.access_control is AccessControl.AUTO
            else "--access-control on"
        )
        raise SettingsError(
            f"access control is on ({why}) and needs {' and '.join(missing)}; "
            "or listen on 127.0.0.1 only (see SECURITY.md)"
        )
    return mode


@attrs.frozen
class AccessDescription:
    """What ``access.mode`` logs at start: the mode, why, and what is required."""

    mode: AccessMode
    why: str
    reads: str
    writes: str

    def to_json(self) -> dict[str, str]:
        return {
            "mode": self.mode.value,
            "why": self.why,
            "reads": self.reads,
            "writes": self.writes,
        }


def describe_access(settings: Settings) -> AccessDescription:
    """The mode in words, for the start-up log and ``learning-analytics config``."""
    mode = effective_access(settings)
    exposed = exposed_listeners(settings)
    if settings.access_control is AccessControl.AUTO:
        why = f"auto: {', '.join(exposed)} beyond loopback" if exposed else "auto: loopback only"
    else:
        why = f"--access-control {settings.access_control.value}"
    if mode is AccessMode.OFF:
        open_to = "everyone who reaches the port" if exposed else "this host"
        return AccessDescription(mode, why, f"open to {open_to}", f"open to {open_to}")
    reads = "a Bearer token or ?token= (v2)" if settings.require_read_token else "open (v2)"
    writes = "a booking token (v1), the UI credential or a Bearer token (v2)"
    if settings.open_feedback:
        writes += "; v2 feedback open (--open-feedback)"
    return AccessDescription(mode, why, reads, writes)
