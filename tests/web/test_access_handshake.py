"""``POST /session/<stream>`` with access control on: the booking token in, a single-use code out.

Tokens are made with PyJWT in ``tests.access.jwts``, as the booking system
makes them; the app is built with the kit the wiring builds (``open_access``).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from access.grants import READ, WRITE, Grant
from tests.access.jwts import OLD_SECRET, PUBLIC_URL, access_settings, booking_token, secret_file
from tests.web.conftest import FakeOps, asgi_client, make_app, web_settings
from web.access import open_access
from web.app import build_app

NEW_SECRET = "the-new-secret-0123456789abcdef-0123"


def kit_and_app(tmp_path, **overrides):
    settings = access_settings(tmp_path, **overrides)
    kit = open_access(settings)
    assert kit is not None
    return kit, build_app(FakeOps(), settings, access=kit)


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "audit.credential_refused"]


async def test_a_valid_token_gets_a_uri_with_a_code_for_its_grant(tmp_path):
    kit, app = kit_and_app(tmp_path)
    async with asgi_client(app) as http:
        reply = await http.post("/session/spin30-log", headers={"Authorization": booking_token()})
    assert reply.status_code == 200
    uri = urlsplit(reply.json()["uri"])
    # From the configured public URL, never the request's Host (http://t here).
    assert (uri.scheme, uri.netloc, uri.path) == ("wss", "la.example.org", "/spin30-log")
    [code] = parse_qs(uri.query)["code"]
    expected = Grant(frozenset({READ, WRITE}), stream="spin30-log", booking_id="b-77")
    assert kit.codes.redeem(code, "spin30-log") == expected
    assert kit.codes.redeem(code, "spin30-log") is None  # single use


async def test_each_post_gets_its_own_code_and_the_scopes_of_its_token(tmp_path):
    kit, app = kit_and_app(tmp_path)
    async with asgi_client(app) as http:
        lab_ui = await http.post(
            "/session/spin30-log",
            headers={"Authorization": "Bearer " + booking_token(scopes=["write"])},
        )
        dashboard = await http.post(
            "/session/spin30-log", headers={"Authorization": booking_token()}
        )
    codes = [parse_qs(urlsplit(r.json()["uri"]).query)["code"][0] for r in (lab_ui, dashboard)]
    assert codes[0] != codes[1]
    assert kit.codes.redeem(codes[0], "spin30-log").scopes == {WRITE}
    assert kit.codes.redeem(codes[1], "spin30-log").scopes == {READ, WRITE}


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "no token"),
        ("", "no token"),
        (booking_token(exp=int(time.time()) - 120), "expired"),
        (booking_token(nbf=int(time.time()) + 600), "not valid yet"),
        (booking_token(secret="another-secret-of-someone-else-0123456789"), "signature"),
        (booking_token(aud="https://evil.example.org"), "another service"),
        (booking_token(topic="spin31-log"), "for stream 'spin31-log'"),
        (booking_token(prefix="admin"), "prefix"),
        (booking_token(scopes=[]), "no scope"),
        ("Basic dXNlcjpwYXNz", "not a valid token"),
    ],
)
async def test_a_bad_token_is_401_audited_and_never_logged(tmp_path, caplog, authorization, why):
    caplog.set_level(logging.DEBUG)
    kit, app = kit_and_app(tmp_path)
    headers = {} if authorization is None else {"Authorization": authorization}
    async with asgi_client(app) as http:
        reply = await http.post("/session/spin30-log", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "forbidden"
    assert why in reply.json()["error"]["message"]
    assert "uri" not in reply.json()
    assert len(kit.codes) == 0  # no code was issued
    [record] = refusals(caplog)
    assert (record.who, record.route, record.status) == ("unauthenticated", "session", 401)
    assert why in record.reason
    assert record.peer == "127.0.0.1"
    if authorization:
        for line in caplog.records:
            text = line.getMessage() + repr(line.__dict__)
            assert authorization not in text
            assert all(part not in text for part in authorization.split(".") if len(part) > 8)


async def test_during_a_rotation_both_secrets_are_taken(tmp_path):
    _, app = kit_and_app(
        tmp_path,
        access_secret_file=secret_file(tmp_path, NEW_SECRET, OLD_SECRET, name="rotating"),
    )
    async with asgi_client(app) as http:
        old = await http.post(
            "/session/spin30-log", headers={"Authorization": booking_token(OLD_SECRET)}
        )
        new = await http.post(
            "/session/spin30-log",
            headers={"Authorization": booking_token(NEW_SECRET)},
        )
        retired = await http.post("/session/spin30-log", headers={"Authorization": booking_token()})
    assert (old.status_code, new.status_code, retired.status_code) == (200, 200, 401)


async def test_the_audience_is_the_public_url_with_its_path(tmp_path):
    base = "https://lab.example.org/analytics"
    _, app = kit_and_app(tmp_path, public_url=base)
    async with asgi_client(app) as http:
        ours = await http.post(
            "/session/spin30-log", headers={"Authorization": booking_token(aud=base)}
        )
        bare = await http.post("/session/spin30-log", headers={"Authorization": booking_token()})
    assert ours.status_code == 200
    assert ours.json()["uri"].startswith("wss://lab.example.org/analytics/spin30-log?code=")
    assert bare.status_code == 401  # https://la.example.org is another service


async def test_with_access_control_off_any_authorization_gets_the_plain_uri():
    settings = web_settings(public_url=PUBLIC_URL)
    async with asgi_client(make_app(settings)) as http:
        reply = await http.post("/session/spin30-log", headers={"Authorization": "anything"})
    assert reply.json() == {"uri": "wss://la.example.org/spin30-log"}
