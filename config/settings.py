"""The one typed configuration object, and where each value comes from.

Precedence: command-line flags > environment > defaults. The old service's
variables keep their names (``LOG_URL``, ``DATA_PATH``, ``COMP_PATH``); every
new setting reads ``LA_<NAME>`` (for example ``LA_WORKERS=4``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs

from config.credentials import (
    CredentialError,
    CredentialHash,
    load_researchers,
    read_secret_file,
)

# Old variable names that deployments already set.
LEGACY_ENV = {"connect": "LOG_URL", "data_path": "DATA_PATH", "comparison_graphs": "COMP_PATH"}


class SettingsError(ValueError):
    """An invalid setting; the message names it and where it came from."""


class AccessControl(StrEnum):
    """``--access-control``: ``auto`` is off when every listener binds loopback, else on."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


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


def _base_url(*schemes: str) -> Callable[[Any, attrs.Attribute, str | None], None]:
    """A URL of one of ``schemes`` with a host and at most a path (no query, no user)."""

    def check(_: Any, attribute: attrs.Attribute, value: str | None) -> None:
        if value is None:
            return
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if (
            parts is None
            or not port_ok
            or parts.scheme not in schemes
            or not parts.hostname
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise ValueError(
                f"{attribute.name}: expected {' or '.join(schemes)}://HOST[:PORT][/PATH], "
                f"got {value!r}"
            )

    return check


def _credential_hash(_: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None:
        try:
            CredentialHash.parse(value)
        except CredentialError as exc:  # the message never echoes the value
            raise ValueError(f"{attribute.name}: {exc}") from None


def _researchers_file(_: Any, attribute: attrs.Attribute, value: Path | None) -> None:
    if value is not None:
        try:
            load_researchers(value)
        except CredentialError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _secret_file(_: Any, attribute: attrs.Attribute, value: Path | None) -> None:
    if value is not None:
        try:
            read_secret_file(value)
        except ValueError as exc:  # the message never echoes the file's content
            raise ValueError(f"{attribute.name}: {exc}") from None


def _origins(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if value == ("*",):
        return
    for origin in value:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(
                f"{attribute.name}: expected * or origins like https://lab.example.org, "
                f"got {origin!r}"
            )


def _time_zone(_: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{attribute.name}: not an IANA time zone, got {value!r}") from None


def _fraction(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{attribute.name}: must be > 0 and <= 1, got {value!r}")


def _not_negative(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not value >= 0:  # NaN too
        raise ValueError(f"{attribute.name}: must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the service reads at start-up; passed explicitly, never global."""

    listen: str | None = attrs.field(default="127.0.0.1:8000", validator=_address)
    connect: tuple[str, ...] = ()
    http_listen: str | None = attrs.field(default=None, validator=_address)
    # The service as browsers reach it (https://la.example.org, maybe behind a
    # proxy). POST /session/<stream> answers its ws(s) form plus the stream;
    # unset, the hub's own address. Never the request's Host (issue 12).
    public_url: str | None = attrs.field(default=None, validator=_base_url("http", "https"))
    # Deprecated: the ws(s) URL itself (LA_PUBLIC_WS_URL); public_url wins.
    public_ws_url: str | None = attrs.field(default=None, validator=_base_url("ws", "wss"))
    # The lab UIs' shared addLog credential, as `hash-credential` prints it.
    ui_credential_hash: str | None = attrs.field(
        default=None, validator=_credential_hash, repr=False
    )
    # user:hash lines, one per researcher allowed to download the logs.
    researchers_file: Path | None = attrs.field(default=None, validator=_researchers_file)
    # Origins whose pages may call the HTTP API (CORS); reads carry no credentials.
    allowed_origins: tuple[str, ...] = attrs.field(default=("*",), validator=_origins)
    # Dates and times of the v2 usage statistics.
    time_zone: str = attrs.field(default="UTC", validator=_time_zone)
    # task_decision: task_completion at or above this.
    completion_threshold: float = attrs.field(default=0.8, validator=_fraction)
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
    # The commit buffer in bytes too: payloads may be up to max_frame_bytes each.
    max_buffered_mb: int = attrs.field(default=128, validator=_positive)
    # Events handled while one commit is written (and per transaction): past
    # it, reading waits for the writer, so kill -9 loses at most about twice this.
    commit_window_events: int = attrs.field(default=10_000, validator=_positive)
    # Sessions in memory, about; the least recently active flushed ones leave early.
    max_resident_mb: int = attrs.field(default=256, validator=_positive)
    # One full garbage collection this often instead of CPython's rule (a full
    # pass every time the heap grows by a quarter stops the loop again and
    # again while a cohort arrives; actors.collector); 0: CPython's rule.
    full_gc_interval_s: float = attrs.field(default=60.0, validator=_not_negative)
    # How long a stop keeps retrying to write what is buffered before giving up.
    final_flush_s: float = attrs.field(default=10.0, validator=_positive)
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
    # Relay mode: requests on relay streams go unanswered (everyone on a stream
    # would see every reply); only hub connections are answered.
    answer_on_hub_only: bool = False
    # Access control (issue 15; config.access decides and checks, SECURITY.md).
    access_control: AccessControl = AccessControl.AUTO
    # Serve beyond loopback with access control off: everyone who reaches the port.
    insecure_open: bool = False
    # HS256 secrets of the booking system's and persons' tokens, one per line.
    access_secret_file: Path | None = attrs.field(default=None, validator=_secret_file)
    # v2 reads need a Bearer JWT or ?token= (clients that can send one).
    require_read_token: bool = False
    # v2 submitUserFeedback without a credential with access control on: the
    # deployed v2 dashboard sends ``Authorization: ''`` (SECURITY.md: what it opens).
    open_feedback: bool = False
    # The audit stream (forget, export, downloads, refused credentials) to this
    # file as JSON lines; unset: in the main log.
    audit_log: Path | None = None
    # Raw events older than this many days are erased (off: they are research data).
    retention_days: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_at_least(1))
    )

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
    converter.register_structure_hook(bool, _flag)
    return converter


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def _flag(value: Any, _: type) -> bool:
    """A flag given (True) or a variable's word; ``bool("false")`` would be True."""
    if type(value) is bool:
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"expected one of {sorted(TRUE_WORDS | FALSE_WORDS - {''})}")


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


# Settings an empty variable turns off.
NONE_WHEN_EMPTY = frozenset(
    {"listen", "http_listen", "comparison_graphs", "public_url", "public_ws_url"}
    | {"ui_credential_hash", "researchers_file"}
    | {"access_secret_file", "audit_log", "retention_days"}
)


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
        if value == "" and name in NONE_WHEN_EMPTY:
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
    """The effective configuration as JSON-able values, for ``learning-analytics config``.

    No secret is shown, nor a hash of one: a credential shows as set or not.
    """
    return _CONVERTER.unstructure(settings) | {
        "data_path": str(settings.data_path),
        "comparison_graphs": _path_or_none(settings.comparison_graphs),
        "researchers_file": _path_or_none(settings.researchers_file),
        "access_secret_file": _path_or_none(settings.access_secret_file),
        "audit_log": _path_or_none(settings.audit_log),
        "ui_credential_hash": "(set)" if settings.ui_credential_hash else None,
    }


def _path_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)
