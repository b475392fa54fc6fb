"""A whole access-controlled flow, every log line captured: no secret, token or password in any.

Valid and invalid booking tokens, the UI credential right and wrong, persons'
tokens in headers and in the query, a researcher's password right and wrong,
an admin's forget, then the ``forget`` command: the main log (DEBUG) and the
audit file are scanned for every credential that went by, whole and in parts.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from access.audit import AUDIT_LOGGER
from cli.main import main
from store import EventRow, SqliteStore
from telemetry.logs import configure_logging, send_to_file
from tests.access.jwts import SECRET, access_settings, booking_token, person_token
from tests.web.conftest import (
    RESEARCHER,
    RESEARCHER_PASSWORD,
    UI_HASH,
    UI_TOKEN,
    FakeBackend,
    FakeOps,
    asgi_client,
    basic,
    researchers_file,
)
from web.access import open_access
from web.app import build_app

LH = "/analytics/logging/api/v1"
TH = "/analytics/taskcompare/api/v1"
WHO = "username=ana&course=cie3&hardware=spinner"
STATEMENT = b'{"timestamp": 1700000000000, "verb": {"name": "clicked"}}'


def pieces(credential: str) -> list[str]:
    """The credential and the parts of it that would give it away (a JWT's segments)."""
    parts = [credential]
    if credential.count(".") == 2:
        parts += [segment for segment in credential.split(".") if len(segment) > 10]
    return parts


async def _http_flow(tmp_path: Path) -> list[str]:
    """Every request of the flow; returns the credentials that went by (and codes issued)."""
    settings = access_settings(
        tmp_path,
        ui_credential_hash=UI_HASH,
        researchers_file=researchers_file(tmp_path),
        require_read_token=True,
    )
    app = build_app(FakeOps(), settings, FakeBackend(lines=[b"{}\n"]), access=open_access(settings))
    good = booking_token()
    tokens = {
        "booking": good,
        "expired": booking_token(exp=int(time.time()) - 100),
        "forged": booking_token(secret="not-the-booking-systems-secret-0123456789"),
        "ana": person_token("ana"),
        "bob": person_token("bob"),
        "researcher": person_token("r1", role="researcher"),
        "admin": person_token("root", role="admin"),
    }
    wrong_basic = basic(RESEARCHER, "wrong password 123")
    seen = [*tokens.values(), wrong_basic, basic(RESEARCHER, RESEARCHER_PASSWORD)]
    async with asgi_client(app) as http:
        for name in ("booking", "expired", "forged"):
            reply = await http.post("/session/spin30-log", headers={"Authorization": tokens[name]})
            if reply.status_code == 200:
                seen += parse_qs(urlsplit(reply.json()["uri"]).query)["code"]
        for authorization in (
            f"Basic {UI_TOKEN}",
            "Basic d3JvbmctdWktdG9rZW4=",
            "Bearer " + tokens["ana"],
            "Bearer " + tokens["bob"],
        ):
            await http.post(
                f"{LH}/addLog?{WHO}", content=STATEMENT, headers={"Authorization": authorization}
            )
        await http.get(f"{TH}/studentGraph?{WHO}&token={tokens['ana']}")
        await http.get(f"{TH}/studentGraph?{WHO}&token={tokens['bob']}")
        await http.get(
            f"{TH}/usageStats?{WHO}", headers={"Authorization": "Bearer " + tokens["ana"]}
        )
        for authorization in (basic(RESEARCHER, RESEARCHER_PASSWORD), wrong_basic):
            await http.get(f"{LH}/download-logs", headers={"Authorization": authorization})
        await http.get(
            f"{LH}/download-logs", headers={"Authorization": "Bearer " + tokens["researcher"]}
        )
        await http.post("/admin/forget/ana", headers={"Authorization": "Bearer " + tokens["admin"]})
        await http.post("/admin/forget/ana", headers={"Authorization": "Bearer " + tokens["ana"]})
    return [*seen, UI_TOKEN, base64.b64decode(UI_TOKEN).decode(), "d3JvbmctdWktdG9rZW4="]


async def test_no_credential_appears_in_any_log_line(tmp_path, capsys, monkeypatch):
    # The test's own HTTP client logs its URLs (a ?token= with them); the service has none.
    monkeypatch.setattr(logging.getLogger("httpx"), "disabled", True)
    main_log = io.StringIO()
    audit_file = tmp_path / "audit.jsonl"
    configure_logging("DEBUG", stream=main_log)
    send_to_file(AUDIT_LOGGER, audit_file)
    try:
        seen = await _http_flow(tmp_path)
    finally:
        send_to_file(AUDIT_LOGGER, None)
        logging.getLogger().handlers.clear()

    # The forget command, with its audit stream sent to the same file.
    data = tmp_path / "data"
    with SqliteStore(data) as store:
        store.write_batch([EventRow(1, "ana", "analytics", "spinner", "cie3", None, 1, 1, {})], [])
    monkeypatch.setenv("LA_AUDIT_LOG", str(audit_file))
    try:
        assert main(["forget", "ana", "--data", str(data)]) == 0
    finally:
        send_to_file(AUDIT_LOGGER, None)
        logging.getLogger().handlers.clear()
    cli_err = capsys.readouterr().err

    texts = {"main log": main_log.getvalue(), "audit log": audit_file.read_text(), "cli": cli_err}
    secrets = [SECRET, RESEARCHER_PASSWORD, "wrong password 123"]
    secrets += [piece for credential in seen for piece in pieces(credential)]
    secrets += [value.removeprefix("Basic ") for value in seen if value.startswith("Basic ")]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{where} holds a credential: {secret[:12]}..."
        assert "authorization" not in text.lower(), where

    audit = [json.loads(line) for line in audit_file.read_text().splitlines()]
    events = [line["event"] for line in audit]
    # expired + forged; wrong UI; bob as ana; bob's read; wrong password; ana as admin.
    assert events.count("audit.credential_refused") == 7
    assert events.count("audit.download_logs") == 2
    assert events.count("audit.forget") == 2  # the HTTP one (503) and the command's
    assert all(line["logger"] == AUDIT_LOGGER for line in audit)
    assert "audit." not in main_log.getvalue()  # its own stream
