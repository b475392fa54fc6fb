"""Access control on or off: the settings, the start-up check, the start-up log, ``config``."""

from __future__ import annotations

import json
import logging

import attrs
import pytest

from cli.main import main
from config.access import AccessMode, check_access, effective_access
from config.settings import AccessControl, Settings, SettingsError, load_settings
from tests.access.jwts import PUBLIC_URL, SECRET, secret_file
from web.access import open_access


@pytest.mark.parametrize(
    ("listen", "http_listen", "expected"),
    [
        ("127.0.0.1:8000", None, AccessMode.OFF),
        ("127.0.0.1:8000", "127.0.0.1:9000", AccessMode.OFF),
        ("[::1]:8000", "localhost:9000", AccessMode.OFF),
        ("127.8.9.10:8000", None, AccessMode.OFF),  # all of 127/8 is loopback
        (None, None, AccessMode.OFF),  # relay mode alone: nothing listens
        ("0.0.0.0:8000", None, AccessMode.ON),
        ("127.0.0.1:8000", "0.0.0.0:9000", AccessMode.ON),  # one listener out is enough
        ("[::]:8000", None, AccessMode.ON),
        ("10.1.2.3:8000", None, AccessMode.ON),
        ("lab-server:8000", None, AccessMode.ON),  # a name may resolve to anything
    ],
)
def test_auto_is_off_only_when_every_listener_is_loopback(listen, http_listen, expected):
    settings = Settings(listen=listen, http_listen=http_listen)
    assert effective_access(settings) is expected


@pytest.mark.parametrize("setting", [AccessControl.ON, AccessControl.OFF])
def test_on_and_off_are_what_they_say(setting):
    for listen in ("127.0.0.1:8000", "0.0.0.0:8000"):
        settings = Settings(listen=listen, access_control=setting)
        assert effective_access(settings).value == setting.value


def test_off_beyond_loopback_is_refused_unless_insecure_open():
    settings = Settings(listen="0.0.0.0:8000", access_control=AccessControl.OFF)
    with pytest.raises(SettingsError, match=r"hub 0\.0\.0\.0:8000.*--insecure-open"):
        check_access(settings)
    assert check_access(attrs.evolve(settings, insecure_open=True)) is AccessMode.OFF
    assert check_access(Settings(access_control=AccessControl.OFF)) is AccessMode.OFF


def test_on_needs_the_secret_file_and_the_public_url(tmp_path):
    exposed = Settings(listen="0.0.0.0:8000")
    with pytest.raises(SettingsError, match=r"LA_ACCESS_SECRET_FILE.*LA_PUBLIC_URL"):
        check_access(exposed)
    with pytest.raises(SettingsError, match="LA_PUBLIC_URL"):
        check_access(attrs.evolve(exposed, access_secret_file=secret_file(tmp_path)))
    with pytest.raises(SettingsError, match="LA_ACCESS_SECRET_FILE"):
        check_access(attrs.evolve(exposed, public_url=PUBLIC_URL))
    ready = attrs.evolve(exposed, public_url=PUBLIC_URL, access_secret_file=secret_file(tmp_path))
    assert check_access(ready) is AccessMode.ON


def test_a_read_token_cannot_be_required_with_access_control_off():
    with pytest.raises(SettingsError, match="require_read_token"):
        check_access(Settings(require_read_token=True))


def test_settings_come_from_flags_and_the_environment(tmp_path):
    path = secret_file(tmp_path)
    environ = {
        "LA_ACCESS_CONTROL": "on",
        "LA_ACCESS_SECRET_FILE": str(path),
        "LA_INSECURE_OPEN": "false",  # a word, not Python's truth of a non-empty string
        "LA_REQUIRE_READ_TOKEN": "yes",
        "LA_RETENTION_DAYS": "30",
        "LA_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    settings = load_settings({}, environ)
    assert settings.access_control is AccessControl.ON
    assert settings.access_secret_file == path
    assert settings.insecure_open is False
    assert settings.require_read_token is True
    assert settings.retention_days == 30
    assert settings.audit_log == tmp_path / "audit.jsonl"
    flagged = load_settings({"insecure_open": True, "access_control": "off"}, environ)
    assert (flagged.insecure_open, flagged.access_control) == (True, AccessControl.OFF)
    assert load_settings({}, {"LA_RETENTION_DAYS": ""}).retention_days is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"LA_ACCESS_CONTROL": "maybe"}, "LA_ACCESS_CONTROL"),
        ({"LA_INSECURE_OPEN": "perhaps"}, "LA_INSECURE_OPEN"),
        ({"LA_RETENTION_DAYS": "0"}, "retention_days"),
        ({"LA_ACCESS_SECRET_FILE": "/nonexistent/secret"}, "access_secret_file"),
    ],
)
def test_bad_access_settings_name_themselves(environ, named):
    with pytest.raises(SettingsError, match=named):
        load_settings({}, environ)


def test_a_secret_file_without_a_secret_is_refused_without_echoing_it(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n   \n")
    with pytest.raises(SettingsError, match="holds no secret"):
        load_settings({}, {"LA_ACCESS_SECRET_FILE": str(empty)})


def test_serve_refuses_to_listen_beyond_loopback_with_access_off(capsys, tmp_path):
    argv = ["serve", "--listen", "0.0.0.0:0", "--access-control", "off", "--data", str(tmp_path)]
    try:
        assert main(argv) == 2
    finally:
        logging.getLogger().handlers.clear()
    assert "--insecure-open" in capsys.readouterr().err
    assert not (tmp_path / "analytics.sqlite3").exists()  # nothing opened, nothing listened


def test_config_shows_the_mode_and_never_a_secret(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LA_ACCESS_SECRET_FILE", str(secret_file(tmp_path)))
    monkeypatch.setenv("LA_PUBLIC_URL", PUBLIC_URL)
    try:
        assert main(["config", "--listen", "0.0.0.0:8000", "--require-read-token"]) == 0
    finally:
        logging.getLogger().handlers.clear()
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["access"]["mode"] == "on"
    assert "0.0.0.0:8000" in shown["access"]["why"]
    assert shown["require_read_token"] is True
    assert shown["access_secret_file"] == str(tmp_path / "access-secret")
    assert SECRET not in out


def test_config_says_why_a_start_would_be_refused(capsys):
    try:
        assert main(["config", "--listen", "0.0.0.0:8000"]) == 0
    finally:
        logging.getLogger().handlers.clear()
    shown = json.loads(capsys.readouterr().out)
    assert shown["access"]["mode"] == "on"
    assert "LA_ACCESS_SECRET_FILE" in shown["access"]["refused"]


def test_the_start_logs_the_mode_and_warns_once_about_weak_secrets(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    short = secret_file(tmp_path, SECRET, "short-secret")
    short.chmod(0o644)
    settings = Settings(
        listen="0.0.0.0:8000",
        access_secret_file=short,
        public_url=PUBLIC_URL,
    )
    kit = open_access(settings)
    assert kit is not None
    events = [r.getMessage() for r in caplog.records]
    assert events.count("access.mode") == 1
    assert events.count("access.short_secret") == 1
    assert events.count("access.secret_file_readable") == 1
    [mode] = [r for r in caplog.records if r.getMessage() == "access.mode"]
    assert mode.mode == "on"
    [short_record] = [r for r in caplog.records if r.getMessage() == "access.short_secret"]
    assert short_record.lines == [2]
    assert all("short-secret" not in r.getMessage() + str(r.__dict__) for r in caplog.records)


def test_off_gives_no_kit_and_insecure_open_is_said_out_loud(caplog):
    caplog.set_level(logging.INFO)
    settings = Settings(listen="0.0.0.0:8000", access_control=AccessControl.OFF, insecure_open=True)
    assert open_access(settings) is None
    assert open_access(Settings()) is None
    events = [r.getMessage() for r in caplog.records]
    assert events.count("access.insecure_open") == 1
    assert events.count("access.mode") == 2
