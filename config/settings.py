"""The one typed configuration object, and where each value comes from.

Precedence: command-line flags > environment > defaults. The old service's
variables keep their names (``LOG_URL``, ``DATA_PATH``, ``COMP_PATH``); every
new setting reads ``LA_<NAME>`` (for example ``LA_WORKERS=4``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs

# Old variable names that deployments already set.
LEGACY_ENV = {"connect": "LOG_URL", "data_path": "DATA_PATH", "comparison_graphs": "COMP_PATH"}


class SettingsError(ValueError):
    """An invalid setting; the message names it and where it came from."""


def _address(_: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is None:
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{attribute.name}: expected HOST:PORT, got {value!r}")


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute, int], None]:
    def check(_: Any, attribute: attrs.Attribute, value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name}: must be >= {minimum}, got {value!r}")

    return check


def _positive(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name}: must be > 0, got {value!r}")


def _not_negative(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not value >= 0:  # NaN too
        raise ValueError(f"{attribute.name}: must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the service reads at start-up; passed explicitly, never global."""

    listen: str | None = attrs.field(default="127.0.0.1:8000", validator=_address)
    connect: tuple[str, ...] = ()
    http_listen: str | None = attrs.field(default=None, validator=_address)
    # What POST /session/<stream> answers when a proxy fronts the hub
    # (e.g. wss://lab.example.org/analytics); else ws://<Host>:<hub port>.
    public_ws_url: str | None = None
    data_path: Path = Path("./data")
    comparison_graphs: Path | None = None
    workers: int = attrs.field(default=2, validator=_positive)
    flush_interval_s: float = attrs.field(default=0.05, validator=_positive)
    snapshot_interval_s: float = attrs.field(default=1.0, validator=_positive)
    idle_timeout_s: float = attrs.field(default=600.0, validator=_positive)
    max_frame_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    jobs_size: int = attrs.field(default=256, validator=_positive)
    # At least the five replies of one all_feedback.
    outbound_size: int = attrs.field(default=64, validator=_at_least(5))
    send_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    max_buffered_events: int = attrs.field(default=200_000, validator=_positive)
    grace_s: float = attrs.field(default=5.0, validator=_positive)
    # Limits on what one client can make us hold (SECURITY.md, "Limits").
    # 0: derived from the process's file descriptor limit at start.
    max_connections: int = attrs.field(default=0, validator=_at_least(0))
    # Per IPv4 address or IPv6 /64; 0: no limit (behind a proxy, every client
    # has the proxy's address).
    max_connections_per_address: int = attrs.field(default=256, validator=_at_least(0))
    handshake_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    # From the first byte of a message (or frame) to its last.
    message_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    max_message_frames: int = attrs.field(default=1024, validator=_positive)
    # A quiet connection is pinged after this; one that sent nothing at all,
    # not even a pong, for idle_close_s is closed (1001).
    ping_interval_s: float = attrs.field(default=20.0, validator=_positive)
    idle_close_s: float = attrs.field(default=60.0, validator=_positive)
    # Per hub connection, counted in replies (all_feedback is five); 0: no limit.
    reply_rate_per_s: float = attrs.field(default=100.0, validator=_not_negative)
    reply_burst: int = attrs.field(default=200, validator=_at_least(5))
    relay_backoff_first_s: float = attrs.field(default=0.1, validator=_positive)
    # A returning relay is answered within about this long; a dead one costs one
    # refused connect per stream per period, which is nothing.
    relay_backoff_max_s: float = attrs.field(default=1.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.idle_close_s <= self.ping_interval_s:
            raise ValueError(
                f"idle_close_s: must be > ping_interval_s ({self.ping_interval_s!r}) so that "
                f"a client has the time to answer a ping, got {self.idle_close_s!r}"
            )

    @property
    def listen_address(self) -> tuple[str, int] | None:
        return split_address(self.listen)

    @property
    def http_address(self) -> tuple[str, int] | None:
        return split_address(self.http_listen)


attrs.resolve_types(Settings)


def split_address(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(Path, lambda value, _: Path(value))
    converter.register_structure_hook_func(lambda cls: cls == tuple[str, ...], _url_list)
    return converter


def _url_list(value: str | Sequence[str], _: type) -> tuple[str, ...]:
    """``LOG_URL`` holds one URL or several separated by commas."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip() for part in parts if part.strip())


_CONVERTER = _converter()


def env_name(field: str) -> str:
    return LEGACY_ENV.get(field, f"LA_{field.upper()}")


# Settings that existed once: a deployment may still set them.
RETIRED_ENV = {
    "LA_SHARDS": "sessions are applied by the router in each connection's task (no shards)",
    "LA_INBOX_SIZE": "there is no shard inbox any more (no channel hop per event)",
}


def unknown_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """``LA_*`` variables that are no setting, each with why it does nothing."""
    known = {env_name(field.name) for field in attrs.fields(Settings)}
    return {
        name: RETIRED_ENV.get(name, "not a setting (a typo?)")
        for name in sorted(environ)
        if name.startswith("LA_") and name not in known
    }


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge ``flags`` (None = not given) over ``environ`` over the defaults.

    Raises ``SettingsError`` naming the setting (flag and variable) on a bad value.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field in attrs.fields(Settings):
        flag_value = flags.get(field.name)
        if flag_value is not None and flag_value != ():
            values[field.name] = flag_value
            sources[field.name] = f"--{field.name.replace('_', '-')}"
        elif env_name(field.name) in environ:
            values[field.name] = environ[env_name(field.name)]
            sources[field.name] = env_name(field.name)
    # Relay mode alone: no hub unless --listen (or LA_LISTEN) asks for one too.
    if values.get("connect") and "listen" not in values:
        values["listen"] = None
    for name, value in values.items():
        if value == "" and name in ("listen", "http_listen", "comparison_graphs", "public_ws_url"):
            values[name] = None
    types = {field.name: field.type for field in attrs.fields(Settings)}
    structured: dict[str, Any] = {}
    for name, value in values.items():
        try:
            structured[name] = _CONVERTER.structure(value, types[name])
        except (cattrs.BaseValidationError, ValueError, TypeError):
            raise SettingsError(
                f"setting {name} (from {sources.get(name)}): {value!r} is not a valid "
                f"{getattr(types[name], '__name__', types[name])}"
            ) from None
    try:
        return Settings(**structured)
    except ValueError as exc:
        name = str(exc).partition(":")[0]
        raise SettingsError(f"setting {exc} (from {sources.get(name, 'default')})") from None


def describe(settings: Settings) -> dict[str, Any]:
    """The effective configuration as JSON-able values, for ``learning-analytics config``."""
    return _CONVERTER.unstructure(settings) | {
        "data_path": str(settings.data_path),
        "comparison_graphs": None
        if settings.comparison_graphs is None
        else str(settings.comparison_graphs),
    }
