"""The deployed clients' calls, made by a real browser (headless Chromium driven by Playwright).

What only a browser checks: CORS. The page is served from another origin
than the service, so each ``fetch`` with ``Authorization`` or a JSON body is
preflighted, and a reply without the right ``Access-Control-*`` headers is
a ``TypeError`` in the page, as it would be in the lab. The page's script
makes the calls the deployed clients make (PROTOCOL.md, PROTOCOL-V2.md) and
hands back what it received; the expected replies are the golden ones.

Chromium is Debian's (``/usr/bin/chromium``; Playwright cannot download its
own here). Without it the tests are skipped, unless ``REQUIRE_BROWSER_TESTS=1``
(``.ci/run`` installs Chromium and sets it): then its absence is a failure.
"""

from __future__ import annotations

import os
import socket
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.access.jwts import access_settings, booking_token
from tests.actors.conftest import request, running_service, service_settings
from tests.actors.test_hub_protocol import assert_matches
from tests.analytics.test_v2_golden import ENDPOINTS
from tests.conftest import golden
from tests.web.conftest import UI_HASH, UI_TOKEN
from tests.web.test_v2_e2e import LH, TH, assert_reference

CHROMIUM = Path(os.environ.get("LA_CHROMIUM", "/usr/bin/chromium"))
# The probe's flags: no sandbox as root, and no background traffic the closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE = b"<!doctype html><title>dashboard</title>"

if not CHROMIUM.exists() and os.environ.get("REQUIRE_BROWSER_TESTS") != "1":
    pytest.skip(
        f"no browser at {CHROMIUM} (.ci/run installs Debian's chromium)", allow_module_level=True
    )


def in_browser(page_url: str, script: str, argument: Any) -> Any:
    """Open ``page_url`` in a fresh headless Chromium, run ``script`` there, return its value.

    No ``page.route``: with interception on, Playwright answers CORS preflights
    itself, and the service's own answers would go unchecked.
    """
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  # only where a browser runs

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(page_url)
            return page.evaluate(script, argument)
        finally:
            browser.close()


async def _serve_page(stream: trio.SocketStream) -> None:
    with trio.move_on_after(10):
        await stream.receive_some(65536)  # one GET; its content does not matter
        head = f"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {len(PAGE)}\r\n"
        await stream.send_all(head.encode() + b"connection: close\r\n\r\n" + PAGE)
    await stream.aclose()


async def browse(script: str, argument: Any) -> Any:
    """Run ``script`` in a page of another origin (``localhost``) than the service (127.0.0.1)."""
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, _serve_page, 0, host="127.0.0.1"))
        page_url = f"http://localhost:{listener.socket.getsockname()[1]}/dashboard"
        try:
            return await trio.to_thread.run_sync(partial(in_browser, page_url, script, argument))
        finally:
            nursery.cancel_scope.cancel()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The v1 dashboard: POST the booking system's stream entry, open the answer's uri,
# send its frames, ask, and collect ``expected`` replies (or stop after 10 s).
V1_DASHBOARD = """
async ({url, token, frames, asks, expected}) => {
  const answer = await fetch(url, {method: "POST", headers: {Authorization: token}});
  if (!answer.ok) return {status: answer.status};
  const {uri} = await answer.json();
  const ws = new WebSocket(uri);
  const replies = [];
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  ws.onmessage = (m) => {
    replies.push(JSON.parse(m.data));
    if (replies.length === expected) finish();
  };
  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
  });
  if (!opened) return {status: answer.status, uri, opened};
  for (const frame of frames) ws.send(JSON.stringify(frame));
  for (const ask of asks) ws.send(JSON.stringify(ask));
  await Promise.race([finished, new Promise((r) => setTimeout(r, 10000))]);
  ws.close();
  return {status: answer.status, uri, opened, replies};
}
"""


async def test_the_v1_dashboard_gets_a_uri_for_its_token_and_its_replies(tmp_path) -> None:
    session = golden("wire_sessions")[1]
    hub = free_port()
    public = f"http://127.0.0.1:{hub}"  # where this browser reaches the hub
    settings = access_settings(tmp_path, listen=f"127.0.0.1:{hub}", public_url=public)
    asks = [
        request(session["user"], exp=session["exp"], course=session["course"], id=n, **r["payload"])
        for n, r in enumerate(session["requests"])
    ]
    async with running_service(settings) as service:
        result = await browse(
            V1_DASHBOARD,
            {
                "url": f"http://127.0.0.1:{service.http_port}/session/spin30-log",
                "token": booking_token(aud=public),
                "frames": session["frames"],
                "asks": asks,
                "expected": sum(len(r["expected"]) for r in session["requests"]),
            },
        )
    assert result["status"] == 200
    assert result["uri"].startswith(f"ws://127.0.0.1:{hub}/spin30-log?code=")
    assert result["opened"] is True
    by_id: dict[int, list[dict[str, Any]]] = {}
    for reply in result["replies"]:
        by_id.setdefault(reply["id"], []).append(reply)
    assert_matches(session, [by_id.get(n, []) for n in range(len(asks))])


# A v2 lab UI posts its statements with the deployment's credential; the v2 dashboard
# reads every panel (no credential), then submits feedback with ``Authorization: ''``.
V2_CLIENTS = """
async ({lh, th, who, credential, statements, reads, feedback}) => {
  for (const statement of statements) {
    const r = await fetch(`${lh}/addLog?${who}`, {
      method: "POST",
      headers: {Authorization: `Basic ${credential}`, "Content-Type": "application/json"},
      body: JSON.stringify(statement),
    });
    if (r.status !== 200) return {failed: r.status};
  }
  const panels = {};
  for (const name of reads) panels[name] = await (await fetch(`${th}/${name}?${who}`)).json();
  const submitted = await fetch(`${th}/submitUserFeedback?${who}`, {
    method: "POST",
    headers: {Authorization: "", "Content-Type": "application/json"},
    body: JSON.stringify(feedback),
  });
  const back = await (await fetch(`${th}/getUserFeedback?${who}`)).json();
  return {panels, submitted: submitted.status, back};
}
"""


async def test_a_v2_lab_ui_and_dashboard_from_another_origin(tmp_path) -> None:
    session = next(s for s in golden("v2_sessions") if s["name"] == "v2-1-00")
    settings = service_settings(
        tmp_path, http_listen="127.0.0.1:0", flush_interval_s=0.01, ui_credential_hash=UI_HASH
    )
    task = "spinner-ed1-1-core"
    async with running_service(settings) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        result = await browse(
            V2_CLIENTS,
            {
                "lh": base + LH,
                "th": base + TH,
                "who": f"username={session['username']}&course=ed1&hardware=spinner",
                "credential": UI_TOKEN,
                "statements": session["statements"],
                "reads": list(ENDPOINTS),
                "feedback": {"user_difficulty": {task: 4}},
            },
        )
    assert "failed" not in result, result
    assert_reference(result["panels"], session)
    assert result["submitted"] == 200
    assert result["back"] == {"feedback": {"difficulty": {task: 4}, "completion": {}}}
