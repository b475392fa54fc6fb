"""Credential hashes and the HTTP settings: what `config` and `hash-credential` show."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest

from cli.main import main
from config.credentials import CredentialError, CredentialHash, hash_secret, parse_researchers
from config.settings import Settings
from tests.web.conftest import RESEARCHER, RESEARCHER_PASSWORD, UI_HASH, UI_TOKEN, researchers_file


def test_a_hash_is_scrypt_of_the_secret_with_its_parameters_spelled_out() -> None:
    salt = b"0123456789abcdef"
    hashed = hash_secret(b"s3cret", salt=salt)
    # The reference: hashlib directly, with the parameters the text names.
    scheme, n, r, p, salt_b64, key_b64 = str(hashed).split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert base64.b64decode(salt_b64) == salt
    expected = hashlib.scrypt(b"s3cret", salt=salt, n=16384, r=8, p=1, dklen=32)
    assert base64.b64decode(key_b64) == expected
    again = CredentialHash.parse(str(hashed))
    assert again.matches(b"s3cret")
    assert not again.matches(b"s3cret ")
    assert "s3cret" not in repr(again)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "s3cret",
        "bcrypt$16384$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
        "scrypt$1000$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,  # n not a power of 2
        "scrypt$1048576$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,  # 1 GB per check
        "scrypt$16384$8$1$not base64!$" + "A" * 44,
    ],
)
def test_what_is_no_hash_of_ours_is_refused_without_echoing_it(text) -> None:
    with pytest.raises(CredentialError) as caught:
        CredentialHash.parse(text)
    assert text == "" or text not in str(caught.value)


def test_the_researchers_file_names_the_line_at_fault() -> None:
    good = str(hash_secret(b"pw", salt=b"saltsalt"))
    assert set(parse_researchers(f"# comment\n\nada:{good}\nbob : {good}\n")) == {"ada", "bob"}
    for text, line in [(f"ada:{good}\nno-colon\n", 2), (f"ada:{good}\nada:{good}\n", 2)]:
        with pytest.raises(CredentialError, match=f"line {line}"):
            parse_researchers(text)


def test_hash_credential_reads_the_secret_from_stdin(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(UI_TOKEN + "\n"))
    assert main(["hash-credential"]) == 0
    printed = capsys.readouterr().out.strip()
    assert CredentialHash.parse(printed).matches(UI_TOKEN.encode())
    monkeypatch.setattr("sys.stdin", io.StringIO(RESEARCHER_PASSWORD + "\n"))
    assert main(["hash-credential", "--user", RESEARCHER]) == 0
    [(user, hashed)] = parse_researchers(capsys.readouterr().out).items()
    assert user == RESEARCHER
    assert hashed.matches(RESEARCHER_PASSWORD.encode())


def test_config_shows_the_http_settings_and_no_secret(tmp_path, monkeypatch, capsys) -> None:
    path = researchers_file(tmp_path)
    monkeypatch.setenv("LA_UI_CREDENTIAL_HASH", UI_HASH)
    monkeypatch.setenv("LA_RESEARCHERS_FILE", str(path))
    monkeypatch.setenv("LA_ALLOWED_ORIGINS", "https://a.example, http://localhost:5173")
    monkeypatch.setenv("LA_TIME_ZONE", "Europe/London")
    monkeypatch.setenv("LA_PUBLIC_WS_URL", "wss://old.example.org")  # deprecated, still read
    assert (
        main(["config", "--public-url", "https://la.example.org", "--completion-threshold", "0.75"])
        == 0
    )
    shown = capsys.readouterr().out
    effective = json.loads(shown)
    assert effective["public_url"] == "https://la.example.org"
    assert effective["public_ws_url"] == "wss://old.example.org"
    assert effective["allowed_origins"] == ["https://a.example", "http://localhost:5173"]
    assert effective["time_zone"] == "Europe/London"
    assert effective["completion_threshold"] == 0.75
    assert effective["researchers_file"] == str(path)
    assert effective["ui_credential_hash"] == "(set)"
    assert UI_HASH.split("$")[-1] not in shown
    assert UI_TOKEN not in shown


def test_the_http_defaults() -> None:
    settings = Settings()
    assert settings.allowed_origins == ("*",)
    assert settings.time_zone == "UTC"
    assert settings.completion_threshold == 0.8
    assert settings.public_url is settings.ui_credential_hash is settings.researchers_file is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LA_TIME_ZONE": "Mars/Olympus"}, "LA_TIME_ZONE"),
        ({"LA_PUBLIC_URL": "ftp://la.example.org"}, "LA_PUBLIC_URL"),
        ({"LA_PUBLIC_URL": "https://la.example.org/?x=1"}, "LA_PUBLIC_URL"),
        ({"LA_PUBLIC_URL": "https://user:pw@la.example.org"}, "LA_PUBLIC_URL"),
        ({"LA_PUBLIC_WS_URL": "https://la.example.org"}, "LA_PUBLIC_WS_URL"),
        ({"LA_UI_CREDENTIAL_HASH": "plaintext-secret"}, "LA_UI_CREDENTIAL_HASH"),
        ({"LA_RESEARCHERS_FILE": "/nonexistent/researchers"}, "LA_RESEARCHERS_FILE"),
        ({"LA_ALLOWED_ORIGINS": "https://a.example/path"}, "LA_ALLOWED_ORIGINS"),
        ({"LA_COMPLETION_THRESHOLD": "1.5"}, "LA_COMPLETION_THRESHOLD"),
        ({"LA_COMPLETION_THRESHOLD": "0"}, "LA_COMPLETION_THRESHOLD"),
    ],
)
def test_an_invalid_http_setting_stops_with_exit_code_2_naming_it(
    env, named, monkeypatch, capsys
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["config"]) == 2
    error = capsys.readouterr().err
    assert named in error
    assert "plaintext-secret" not in error
