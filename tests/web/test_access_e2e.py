"""The booking system's flow over real sockets, against a running service with access control on.

POST the stream token to ``/session/<stream>``, open the ``uri`` of the
answer, send events and ask for replies; an upgrade without a valid code
is refused. Then the whole access flow with every log line captured (the
main log at DEBUG, the audit file, the CLI's stderr): hub codes good,
reused and guessed, forbidden messages, an admin's forget while the user
is connected, a refused one, the ``forget`` command beside the running
service. No token, code or secret may appear in any line.
"""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qs, urlsplit

import trio

from access.audit import AUDIT_LOGGER
from cli.main import main
from telemetry.logs import configure_logging, send_to_file
from tests.access.jwts import SECRET, access_settings, booking_token, person_token
from tests.actors.conftest import connect, event, request, running_service
from tests.actors.test_access_hub import upgrade
from tests.actors.test_relay import http_call
from tests.web.test_no_secrets_in_logs import pieces


async def test_post_the_token_open_the_uri_get_replies(tmp_path) -> None:
    public = "http://127.0.0.1:1"  # the aud; the hub's real port is only known once it listens
    settings = access_settings(tmp_path, public_url=public)
    async with running_service(settings) as service:
        assert service.access is not None
        status, _, body = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "POST",
            "/session/spin30-log",
            {"Authorization": booking_token(aud=public), "Origin": "https://dashboard.example"},
        )
        assert status == 200
        uri = urlsplit(json.loads(body)["uri"])
        assert (uri.scheme, uri.path) == ("ws", "/spin30-log")
        assert uri.query.startswith("code=")
        refused, _, refusal = await trio.to_thread.run_sync(
            http_call,
            service.http_port,
            "POST",
            "/session/spin30-log",
            {"Authorization": booking_token(aud=public, topic="spin31-log")},
        )
        assert refused == 401
        assert json.loads(refusal)["error"]["code"] == "forbidden"
        assert service.hub_port is not None
        assert (await upgrade(service.hub_port, uri.path))[0] == 401  # no code, no hub
        # The URI's host is the configured public URL's; the test's hub is on its own port.
        async with connect(f"ws://127.0.0.1:{service.hub_port}{uri.path}?{uri.query}") as ws:
            for t, log in enumerate(["voltage", "speed", "voltage"]):
                await ws.send(event("ana", log, t))
            [reply] = await ws.ask(request("ana", "indicators", id=7), 1)
    assert reply["id"] == 7
    assert reply["content"] == "indicators"


async def _flow(service, seen: list[str]) -> None:
    """The hub and admin side of access control; every credential that goes by into ``seen``."""
    port, hub = service.http_port, service.hub_port

    async def post(path: str, authorization: str) -> tuple[int, bytes]:
        seen.append(authorization.removeprefix("Bearer "))
        status, _, body = await trio.to_thread.run_sync(
            http_call, port, "POST", path, {"Authorization": authorization}
        )
        return status, body

    codes = []
    for token in (booking_token(), booking_token(), booking_token(scopes=["write"])):
        status, body = await post("/session/spin30-log", token)
        assert status == 200
        codes.append(parse_qs(urlsplit(json.loads(body)["uri"]).query)["code"][0])
    seen += codes
    assert (await post("/session/spin30-log", booking_token(secret="x" * 40)))[0] == 401
    assert (await post("/session/spin30-log", booking_token(exp=1)))[0] == 401
    async with (
        connect(f"ws://127.0.0.1:{hub}/spin30-log?code={codes[0]}") as ana,
        connect(f"ws://127.0.0.1:{hub}/spin30-log?code={codes[2]}") as lab,
    ):
        await ana.send(event("ana", "voltage", 1))
        await ana.send(event("ana", "speed", 2))
        [error] = await ana.ask(event("bob", "voltage", 3), 1)  # bound to ana
        assert error["error"]["code"] == "forbidden"
        [error] = await lab.ask(request("ana", "indicators", id=1), 1)  # write only
        assert error["error"]["code"] == "forbidden"
        assert (await upgrade(hub, f"/spin30-log?code={codes[0]}"))[0] == 401  # spent
        assert (await upgrade(hub, "/spin30-log?code=guess"))[0] == 401
        status, body = await post("/admin/forget/ana", "Bearer " + person_token("ana"))
        assert status == 403
        status, body = await post(
            "/admin/forget/ana", "Bearer " + person_token("root", role="admin")
        )
        assert status == 200, body
        [reply] = await ana.ask(request("ana", "student_graph", id=2), 1)
        assert reply["edges"] == []


async def test_no_token_code_or_secret_in_any_log_line_of_the_flow(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("LA_AUDIT_LOG", str(tmp_path / "audit.jsonl"))  # the command's too
    main_log = io.StringIO()
    audit_file = tmp_path / "audit.jsonl"
    configure_logging("DEBUG", stream=main_log)
    send_to_file(AUDIT_LOGGER, audit_file)
    seen: list[str] = []
    settings = access_settings(tmp_path)
    try:
        async with running_service(settings) as service:
            await _flow(service, seen)
            # The command beside the running service: refused, pointing at the endpoint.
            assert main(["forget", "ana", "--data", str(settings.data_path)]) == 1
    finally:
        send_to_file(AUDIT_LOGGER, None)
        logging.getLogger().handlers.clear()
    cli_err = capsys.readouterr().err
    assert "POST /admin/forget/<user>" in cli_err

    texts = {"main log": main_log.getvalue(), "audit log": audit_file.read_text(), "cli": cli_err}
    secrets = [SECRET, *(piece for credential in seen for piece in pieces(credential))]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{where} holds a credential: {secret[:12]}..."
        assert "authorization" not in text.lower(), where
    audit = [json.loads(line) for line in audit_file.read_text().splitlines()]
    refused = [line for line in audit if line["event"] == "audit.credential_refused"]
    assert [line["route"] for line in refused] == [
        "session",
        "session",
        "hub",
        "hub",
        "admin/forget",
    ]
    forgets = [line for line in audit if line["event"] == "audit.forget"]
    assert [(line["who"], line["outcome"], line.get("via")) for line in forgets] == [
        ("admin:root", "done", "http"),
        (forgets[-1]["who"], "failed", "cli"),
    ]
    assert {line["user"] for line in forgets} == {"ana"}
