"""The v2 routes' HTTP shell against a fake backend, in memory (no socket)."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest
import trio

from config.credentials import CredentialHash
from messages import DecodeError, ErrorCode, Identity
from tests.web.conftest import (
    RESEARCHER,
    RESEARCHER_PASSWORD,
    UI_HASH,
    UI_TOKEN,
    FakeBackend,
    asgi_client,
    basic,
    make_app,
    researchers_file,
    web_settings,
)
from web.replies import MAX_BODY_BYTES
from web.v2 import READS, OverloadedError

LH = "/analytics/logging/api/v1"
TH = "/analytics/taskcompare/api/v1"
WHO = "username=3f2a-77&course=ed1&hardware=spinner"
STATEMENT = b'{"timestamp": 1700000000000, "verb": {"name": "clicked"}}'


async def test_add_log_hands_the_body_and_the_identity_to_the_backend() -> None:
    backend = FakeBackend()
    async with asgi_client(make_app(backend=backend)) as http:
        reply = await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT)
    assert (reply.status_code, reply.json()) == (200, {"stored": True})
    assert backend.statements == [(Identity("3f2a-77", "ed1", "spinner"), STATEMENT)]


@pytest.mark.parametrize(
    ("query", "identity"),
    [
        # Unencoded, as the clients send it: taken as it is.
        ("username=a+b@uni.ac.uk&course=ed1&hardware=spinner", ("a+b@uni.ac.uk", "ed1", "spinner")),
        # Encoded: decoded.
        ("username=J%C3%B6rg%20K&course=ed1&hardware=spinner", ("Jörg K", "ed1", "spinner")),
        # A % that is no escape stays a %; a bad UTF-8 escape stays as it came.
        ("username=100%zz&course=ed1&hardware=spinner", ("100%zz", "ed1", "spinner")),
        ("username=x%C3&course=ed1&hardware=spinner", ("x%C3", "ed1", "spinner")),
        # Any order, extra keys ignored, "null" is a user.
        ("hardware=pendulum&x=1&username=null&course=", ("null", "", "pendulum")),
    ],
)  # fmt: skip
async def test_queries_are_read_leniently(query, identity) -> None:
    backend = FakeBackend()
    async with asgi_client(make_app(backend=backend)) as http:
        reply = await http.post(f"{LH}/addLog?{query}", content=STATEMENT)
    assert reply.status_code == 200
    assert backend.statements[0][0] == Identity(*identity)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("course=ed1&hardware=spinner", "username"),
        ("username=u&hardware=spinner", "course"),
        ("username=u&course=ed1&hardware=a/b", "hardware"),
        ("username=" + "u" * 129 + "&course=ed1&hardware=spinner", "username"),
        # Whose session would be ambiguous (a proxy may read the other one): refused.
        ("username=u&course=ed1&hardware=spinner&username=v", "username"),
    ],
)
async def test_a_missing_or_bad_identity_is_a_400_naming_it(query, named) -> None:
    backend = FakeBackend()
    async with asgi_client(make_app(backend=backend)) as http:
        reply = await http.post(f"{LH}/addLog?{query}", content=STATEMENT)
        read = await http.get(f"{TH}/studentGraph?{query}")
    for r in (reply, read):
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_message"
        assert named in r.json()["error"]["message"]
    assert backend.statements == []


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (DecodeError(ErrorCode.INVALID_MESSAGE, ["missing @ $.verb.name"]), 400, "invalid_message"),
        (OverloadedError(), 503, "overloaded"),
    ],
)  # fmt: skip
async def test_backend_errors_become_error_objects(error, status, code) -> None:
    backend = FakeBackend(fail_with=error)
    async with asgi_client(make_app(backend=backend)) as http:
        reply = await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code
    assert reply.headers["access-control-allow-origin"] == "*"


async def test_not_json_is_the_backends_400_and_the_next_request_is_served() -> None:
    backend = FakeBackend()
    async with asgi_client(make_app(backend=backend)) as http:
        bad = await http.post(f"{LH}/addLog?{WHO}", content=b"\xff not json")
        good = await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_json")
    assert good.status_code == 200


async def test_no_backend_wired_is_a_503() -> None:
    async with asgi_client(make_app(backend=None)) as http:
        replies = [
            await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT),
            await http.get(f"{TH}/usageStats?{WHO}"),
        ]
    assert [r.status_code for r in replies] == [503, 503]


async def test_add_log_answers_only_once_the_backend_says_durable() -> None:
    backend = FakeBackend(durable=trio.Event())
    answered = []
    async with asgi_client(make_app(backend=backend)) as http:

        async def post() -> None:
            answered.append(await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post)
            await trio.testing.wait_all_tasks_blocked()
            assert answered == []
            backend.durable.set()
    assert answered[0].status_code == 200


# Bodies: 64 KiB, read with a running limit.


async def test_a_body_over_64_kib_is_413_by_its_length() -> None:
    backend = FakeBackend()
    big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    async with asgi_client(make_app(backend=backend)) as http:
        declared = await http.post(f"{LH}/addLog?{WHO}", content=big)
        exactly = await http.post(f"{LH}/addLog?{WHO}", content=big[: MAX_BODY_BYTES - 1] + b"}")
        feedback = await http.post(f"{TH}/submitUserFeedback?{WHO}", content=big)
    for reply in (declared, feedback):
        assert reply.status_code == 413
        assert reply.json()["error"]["code"] == "too_large"
        assert reply.headers["access-control-allow-origin"] == "*"
    assert exactly.status_code == 200
    assert len(backend.statements) == 1


async def asgi_post(app, headers, chunks, *, ends=True) -> tuple[int, bytes, int]:
    """A raw ASGI POST (what a lying client reaches us as); (status, body, chunks read).

    With ``ends`` False the client never finishes its body.
    """
    sent = []
    pending = list(chunks)
    read = 0

    async def receive():
        nonlocal read
        if not pending:
            await trio.sleep_forever()
        read += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending) or not ends}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{LH}/addLog",
        "raw_path": f"{LH}/addLog".encode(),
        "query_string": WHO.encode(),
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


@pytest.mark.parametrize("headers", [{"content-length": "10"}, {"transfer-encoding": "chunked"}])
async def test_a_lying_or_absent_length_is_caught_by_the_running_limit(headers) -> None:
    backend = FakeBackend()
    chunks = [b"{" + b" " * 16_383] * 100  # 1.6 MB
    status, body, read = await asgi_post(make_app(backend=backend), headers, chunks)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    assert read == MAX_BODY_BYTES // 16_384 + 1  # stopped at the first chunk past the limit
    assert backend.statements == []


async def test_a_body_that_never_ends_is_408_after_the_body_timeout(autojump_clock) -> None:
    app = make_app(backend=FakeBackend())
    status, body, _ = await asgi_post(app, {"content-length": "100"}, [b"{"], ends=False)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "invalid_message"


# Credentials.


async def test_add_log_needs_the_ui_credential_once_one_is_configured(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FakeBackend()
    app = make_app(web_settings(ui_credential_hash=UI_HASH), backend=backend)
    wrong = basic("lab-ui", "guess")
    async with asgi_client(app) as http:

        async def post(headers):
            return await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT, headers=headers)

        missing = await post({})
        wrong_one = await post({"Authorization": wrong})
        other_scheme = await post({"Authorization": f"Bearer {UI_TOKEN}"})
        right = await post({"Authorization": f"Basic {UI_TOKEN}"})
        again = await post({"Authorization": f"basic  {UI_TOKEN} "})
        reads = await http.get(f"{TH}/studentGraph?{WHO}")  # GETs carry no credential
        feedback = await http.post(  # the dashboard sends Authorization: ''
            f"{TH}/submitUserFeedback?{WHO}", content=b"{}", headers={"Authorization": ""}
        )
    for reply in (missing, wrong_one, other_scheme):
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "forbidden"
        assert reply.headers["access-control-allow-origin"] == "*"
    assert [right.status_code, again.status_code] == [200, 200]
    assert [reads.status_code, feedback.status_code] == [200, 200]
    assert len(backend.statements) == 2
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (UI_TOKEN, wrong.split()[1], UI_HASH):
        assert secret not in logged


async def test_the_ui_credential_costs_one_scrypt_per_distinct_token(monkeypatch) -> None:
    checks = []
    original = CredentialHash.matches

    def counted(self, secret):
        checks.append(secret)
        return original(self, secret)

    monkeypatch.setattr(CredentialHash, "matches", counted)
    app = make_app(web_settings(ui_credential_hash=UI_HASH), backend=FakeBackend())
    statuses = []
    async with asgi_client(app) as http:

        async def post(token: str) -> None:
            headers = {"Authorization": f"Basic {token}"}
            reply = await http.post(f"{LH}/addLog?{WHO}", content=STATEMENT, headers=headers)
            statuses.append((token, reply.status_code))

        # Ten UIs at once with the right token, three with a wrong one: one scrypt each.
        async with trio.open_nursery() as nursery:
            for token in [UI_TOKEN] * 10 + ["wrong"] * 3:
                nursery.start_soon(post, token)
        for token in [UI_TOKEN, "wrong"]:
            await post(token)
    assert sorted(checks) == sorted([UI_TOKEN.encode(), b"wrong"])
    assert sorted(statuses) == sorted([(UI_TOKEN, 200)] * 11 + [("wrong", 401)] * 4)


async def test_download_logs_wants_a_researcher_and_streams_a_zip(tmp_path) -> None:
    lines = [b'{"seq": %d, "verb": {"name": "clicked"}}\n' % i for i in range(3000)]
    backend = FakeBackend(lines=lines)
    settings = web_settings(ui_credential_hash=UI_HASH, researchers_file=researchers_file(tmp_path))
    async with asgi_client(make_app(settings, backend=backend)) as http:

        async def download(authorization=None):
            headers = {} if authorization is None else {"Authorization": authorization}
            return await http.get(f"{LH}/download-logs", headers=headers)

        refused = [
            await download(),
            await download(f"Basic {UI_TOKEN}"),  # the UIs' shared credential is no researcher's
            await download(basic(RESEARCHER, "wrong")),
            await download(basic("mallory", RESEARCHER_PASSWORD)),
            await download("Basic !!!"),
        ]
        got = await download(basic(RESEARCHER, RESEARCHER_PASSWORD))
    for reply in refused:
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Basic ")
        assert reply.json()["error"]["code"] == "forbidden"
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert 'filename="logs.zip"' in got.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.testzip() is None
    assert archive.read("logs.jsonl") == b"".join(lines)


async def test_download_logs_without_researchers_refuses_everyone() -> None:
    async with asgi_client(make_app(backend=FakeBackend(lines=[b"{}\n"]))) as http:
        reply = await http.get(f"{LH}/download-logs", headers={"Authorization": basic("a", "b")})
    assert reply.status_code == 401


# Reads, verbs, feedback.


async def test_every_read_endpoint_reaches_the_backend_with_its_taskcode() -> None:
    backend = FakeBackend()
    async with asgi_client(make_app(backend=backend)) as http:
        replies = [await http.get(f"{TH}/{name}?{WHO}") for name in READS]
        comparison = await http.get(f"{TH}/comparisonGraph?taskcode=spinner-ed1-1-core&{WHO}")
        unknown = await http.get(f"{TH}/taskCompletion?username=u&course=nope&hardware=spinner")
    assert [r.json()["endpoint"] for r in replies] == list(READS)
    assert all(r.status_code == 200 for r in replies)
    assert comparison.status_code == 200
    assert backend.reads[-1][2] == "spinner-ed1-1-core"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "unknown_course",
        "message": "no course nope for spinner",
    }


async def test_submit_feedback_and_verbs() -> None:
    backend = FakeBackend()
    body = b'{"user_difficulty": {"spinner-ed1-2": "NA"}}'
    async with asgi_client(make_app(backend=backend)) as http:
        stored = await http.post(f"{TH}/submitUserFeedback?{WHO}", content=body)
        verb = await http.get(f"{LH}/verbs/pressed-hotkey")
        too_long = await http.get(f"{LH}/verbs/{'v' * 201}")
    assert stored.json() == {"stored": True}
    assert backend.feedback == [(Identity("3f2a-77", "ed1", "spinner"), body)]
    assert verb.json() == {"name": "pressed-hotkey"}
    assert too_long.status_code == 400
