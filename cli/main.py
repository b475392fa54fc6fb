"""``learning-analytics``: the command line of the service.

    learning-analytics serve [--listen HOST:PORT] [--data DIR] [--connect URL ...]
    learning-analytics config            # the effective configuration, as JSON
    learning-analytics hash-credential [--user NAME]  # a secret (stdin) -> its scrypt hash
    learning-analytics import-legacy PATH [--data DIR]
    learning-analytics backup FILE [--data DIR]   # SQLite online backup, while serving
    learning-analytics export-events FILE [--format csv|jsonl] [--course C] [--since T] [--until T]
    learning-analytics export-legacy DIR [--data DIR]   # the old service's layout again
    learning-analytics forget USER [--data DIR] [--dry-run] [--vacuum]  # service stopped
    learning-analytics export-user USER FILE [--data DIR]   # a subject access request
    learning-analytics relay [--listen HOST:PORT] # a test relay
    learning-analytics loadtest --spawn --users 200 --duration 30

Settings come from flags, then the environment, then defaults
(``config.settings``); an invalid value stops with a message naming the
setting and exit code 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

import attrs
import trio

from access.audit import AUDIT_LOGGER
from cli.exports import add_export_commands, run_export_events, run_export_legacy
from cli.rights import add_rights_commands, run_export_user, run_forget
from config.access import check_access, describe_access
from config.settings import (
    Settings,
    SettingsError,
    describe,
    env_name,
    load_settings,
    split_address,
    unknown_variables,
)
from telemetry.logs import configure_logging, send_to_file

log = logging.getLogger("learning_analytics")

EXIT_USAGE = 2
EXIT_STARTUP = 1
# The stop could not store everything it had read (the log says how many).
EXIT_EVENTS_LOST = 3

# Flags whose names differ from the setting they set.
FLAG_NAMES = {"data_path": "data", "comparison_graphs": "comparison-graphs"}


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for field in attrs.fields(Settings):
        flag = "--" + FLAG_NAMES.get(field.name, field.name.replace("_", "-"))
        help_text = f"(env {env_name(field.name)}; default {field.default!r})"
        if field.name == "connect":
            parser.add_argument(
                flag,
                dest=field.name,
                action="append",
                metavar="URL",
                help=f"relay stream URL, repeatable {help_text}",
            )
        elif field.type is bool:  # a flag: given means on
            parser.add_argument(
                flag, dest=field.name, action="store_const", const=True, help=help_text
            )
        elif isinstance(field.type, type) and issubclass(field.type, Enum):
            choices = [member.value for member in field.type]
            parser.add_argument(flag, dest=field.name, choices=choices, help=help_text)
        else:
            parser.add_argument(flag, dest=field.name, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learning-analytics", description="Live analytics for remote lab dashboards."
    )
    parser.add_argument("--log-level", default=os.environ.get("LA_LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service (hub on 127.0.0.1:8000 by default)")
    _add_setting_flags(serve)
    config = commands.add_parser("config", help="print the effective configuration as JSON")
    _add_setting_flags(config)
    backup = commands.add_parser("backup", help="copy the store to FILE, also while serving")
    backup.add_argument("destination", type=Path, help="file to write (SQLite database)")
    backup.add_argument(
        "--data", dest="data_path", default=None, help="store to copy (env DATA_PATH)"
    )
    backup.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    commands.add_parser(
        "loadtest",
        help="scripted fake students and dashboards (see loadtest --help)",
        add_help=False,
    )
    hashing = commands.add_parser(
        "hash-credential",
        help="read a secret from stdin, print its hash for LA_UI_CREDENTIAL_HASH "
        "(the secret: what the UIs send after 'Basic ') or, with --user, a "
        "researchers-file line (the secret: that researcher's password)",
    )
    hashing.add_argument("--user", default=None, help="a researcher's user name")
    relay = commands.add_parser("relay", help="run a test relay (frames fan out per URL path)")
    relay.add_argument("--listen", dest="relay_listen", default="127.0.0.1:9100")
    legacy = commands.add_parser("import-legacy", help="import an old service's data directory")
    legacy.add_argument("path", type=Path, help="directory of the old service's files")
    legacy.add_argument(
        "--data", dest="data_path", default=None, help="store to fill (env DATA_PATH)"
    )
    legacy.add_argument("--comparison-graphs", dest="comparison_graphs", default=None)
    add_export_commands(commands)
    add_rights_commands(commands)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    flags = {field.name: getattr(args, field.name, None) for field in attrs.fields(Settings)}
    return load_settings(flags, os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["loadtest"]:  # the load tester has its own flags
        from loadtest import cli_main  # noqa: PLC0415

        return cli_main(argv[1:])
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level.upper())
    if args.command == "relay":
        return run_relay(args.relay_listen)
    if args.command == "hash-credential":
        return run_hash_credential(args.user)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"learning-analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for name, why in unknown_variables(os.environ).items():
        log.warning("settings.ignored_variable", extra={"variable": name, "why": why})
    try:
        send_to_file(AUDIT_LOGGER, settings.audit_log)
    except OSError as exc:
        print(f"learning-analytics: setting audit_log: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return COMMANDS[args.command](args, settings)


def run_config(_: argparse.Namespace, settings: Settings) -> int:
    """The settings, and the access mode they give (or why a start would be refused)."""
    effective = describe(settings)
    try:
        check_access(settings)
        effective["access"] = describe_access(settings).to_json()
    except SettingsError as exc:
        effective["access"] = describe_access(settings).to_json() | {"refused": str(exc)}
    print(json.dumps(effective, indent=2))
    return 0


def run_hash_credential(user: str | None) -> int:
    """Never takes the secret as an argument: the command line is visible to every user."""
    from config.credentials import hash_secret  # noqa: PLC0415

    if user is not None and (not user.isprintable() or ":" in user or not user.strip()):
        print("learning-analytics: --user: printable, without ':'", file=sys.stderr)
        return EXIT_USAGE
    if sys.stdin.isatty():
        secret = getpass.getpass("secret: ")
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        print("learning-analytics: an empty secret is no credential", file=sys.stderr)
        return EXIT_USAGE
    hashed = str(hash_secret(secret.encode()))
    print(hashed if user is None else f"{user.strip()}:{hashed}")
    return 0


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    """The backup, recorded beside the store so that ``forget`` can list it."""
    from store.backup import BackupError, backup_store  # noqa: PLC0415
    from store.backup_log import record_backup  # noqa: PLC0415

    try:
        report = backup_store(settings.data_path, args.destination, overwrite=args.overwrite)
    except BackupError as exc:
        print(f"learning-analytics backup: {exc}", file=sys.stderr)
        return 1
    try:
        record_backup(settings.data_path, report.destination, report.events)
    except OSError as exc:
        log.warning(
            "backup.not_recorded",
            extra={"error": str(exc), "why": "forget cannot list this backup"},
        )
    print(json.dumps(report.to_json(), indent=2))
    return 0


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from legacy.cli import run_import_legacy  # noqa: PLC0415 - pulls the importer in

    return run_import_legacy(args.path, settings)


def run_serve(settings: Settings) -> int:
    from actors.service import serve  # noqa: PLC0415 - keeps `config` and `--help` light

    try:
        check_access(settings)  # before anything listens
    except SettingsError as exc:
        print(f"learning-analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        lost = trio.run(lambda: serve(settings, handle_signals=True))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        log.critical(
            "service.failed", extra={"error": f"{type(exc).__name__}: {exc}"}, exc_info=True
        )
        return EXIT_STARTUP
    return EXIT_EVENTS_LOST if lost else 0


def run_relay(listen: str) -> int:
    from websocket.broadcast_relay import BroadcastRelay  # noqa: PLC0415

    address = split_address(listen)
    if address is None:
        return EXIT_USAGE
    try:
        trio.run(BroadcastRelay().serve, *address)
    except KeyboardInterrupt:
        return 0
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": lambda _, settings: run_serve(settings),
    "config": run_config,
    "backup": run_backup,
    "import-legacy": run_import,
    "export-events": run_export_events,
    "export-legacy": run_export_legacy,
    "forget": run_forget,
    "export-user": run_export_user,
}


if __name__ == "__main__":
    sys.exit(main())
