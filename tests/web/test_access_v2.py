"""The v2 routes with access control on: who may write, read and download (issue 15).

Persons' tokens are made with PyJWT (``tests.access.jwts``); the backend is
the fake that records what reaches it, so "nothing stored" is checked there.
"""

from __future__ import annotations

import logging

import pytest

from messages import Identity
from tests.access.jwts import access_settings, person_token
from tests.web.conftest import (
    RESEARCHER,
    RESEARCHER_PASSWORD,
    UI_HASH,
    UI_TOKEN,
    FakeBackend,
    FakeOps,
    asgi_client,
    basic,
    make_app,
    researchers_file,
    web_settings,
)
from web.access import open_access
from web.app import build_app

LH = "/analytics/logging/api/v1"
TH = "/analytics/taskcompare/api/v1"
STATEMENT = b'{"timestamp": 1700000000000, "verb": {"name": "clicked"}}'
FEEDBACK = b'{"user_completion": {"ed1-01": true}}'


def who(user: str, course: str = "cie3", exp: str = "spinner") -> str:
    return f"username={user}&course={course}&hardware={exp}"


def bearer(sub: str, **claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + person_token(sub, **claims)}


def app_on(tmp_path, backend: FakeBackend, **overrides):
    settings = access_settings(
        tmp_path,
        ui_credential_hash=UI_HASH,
        researchers_file=researchers_file(tmp_path),
        **overrides,
    )
    return build_app(FakeOps(), settings, backend, access=open_access(settings))


def refused(caplog) -> list[tuple[str, str, int]]:
    return [
        (r.who, r.route, r.status)
        for r in caplog.records
        if r.getMessage() == "audit.credential_refused"
    ]


@pytest.mark.parametrize("route", ["addLog", "submitUserFeedback"])
@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "Basic"),
        ({"Authorization": ""}, "Basic"),  # what the dashboard sends on submitUserFeedback
        ({"Authorization": "Basic d3Jvbmc="}, "wrong credential"),
        ({"Authorization": "Bearer not.a.token"}, "not a valid token"),
    ],
)
async def test_writes_without_a_good_credential_are_401_and_store_nothing(
    tmp_path, caplog, route, headers, why
):
    caplog.set_level(logging.INFO)
    backend = FakeBackend()
    path = f"{LH}/addLog" if route == "addLog" else f"{TH}/submitUserFeedback"
    async with asgi_client(app_on(tmp_path, backend)) as http:
        reply = await http.post(f"{path}?{who('ana')}", content=STATEMENT, headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "forbidden"
    assert why in reply.json()["error"]["message"]
    assert backend.statements == backend.feedback == []
    assert refused(caplog) == [("unauthenticated", route, 401)]


async def test_the_ui_credential_and_a_persons_own_token_may_write(tmp_path):
    backend = FakeBackend()
    async with asgi_client(app_on(tmp_path, backend)) as http:
        ui = await http.post(
            f"{LH}/addLog?{who('ana')}",
            content=STATEMENT,
            headers={"Authorization": f"Basic {UI_TOKEN}"},
        )
        own = await http.post(f"{LH}/addLog?{who('ana')}", content=STATEMENT, headers=bearer("ana"))
        feedback = await http.post(
            f"{TH}/submitUserFeedback?{who('ana')}", content=FEEDBACK, headers=bearer("ana")
        )
    assert (ui.status_code, own.status_code, feedback.status_code) == (200, 200, 200)
    assert [identity for identity, _ in backend.statements] == [
        Identity("ana", "cie3", "spinner")
    ] * 2
    assert backend.feedback == [(Identity("ana", "cie3", "spinner"), FEEDBACK)]


@pytest.mark.parametrize(
    ("token_of", "claims", "why"),
    [
        ("bob", {}, "subject is not username"),
        ("bob", {"role": "instructor", "courses": ["cie3"]}, "subject is not username"),
        ("ana", {"scopes": ["read"]}, "no write scope"),
    ],
)
async def test_a_token_writes_only_as_its_subject_with_write_scope(
    tmp_path, caplog, token_of, claims, why
):
    caplog.set_level(logging.INFO)
    backend = FakeBackend()
    async with asgi_client(app_on(tmp_path, backend)) as http:
        log = await http.post(
            f"{LH}/addLog?{who('ana')}", content=STATEMENT, headers=bearer(token_of, **claims)
        )
        feedback = await http.post(
            f"{TH}/submitUserFeedback?{who('ana')}",
            content=FEEDBACK,
            headers=bearer(token_of, **claims),
        )
    assert (log.status_code, feedback.status_code) == (403, 403)
    assert why in log.json()["error"]["message"]
    assert backend.statements == backend.feedback == []
    role = claims.get("role", "student")
    assert refused(caplog) == [
        (f"{role}:{token_of}", "addLog", 403),
        (f"{role}:{token_of}", "submitUserFeedback", 403),
    ]


async def test_without_a_ui_credential_writes_take_bearer_tokens_only(tmp_path):
    backend = FakeBackend()
    settings = access_settings(tmp_path)
    app = build_app(FakeOps(), settings, backend, access=open_access(settings))
    async with asgi_client(app) as http:
        basic_reply = await http.post(
            f"{LH}/addLog?{who('ana')}",
            content=STATEMENT,
            headers={"Authorization": f"Basic {UI_TOKEN}"},
        )
        bearer_reply = await http.post(
            f"{LH}/addLog?{who('ana')}", content=STATEMENT, headers=bearer("ana")
        )
    assert (basic_reply.status_code, bearer_reply.status_code) == (401, 200)
    assert len(backend.statements) == 1


async def test_with_access_control_off_writes_are_as_before():
    backend = FakeBackend()
    app = make_app(web_settings(ui_credential_hash=UI_HASH), backend=backend)
    async with asgi_client(app) as http:
        # No verifier: a Bearer token is no UI credential.
        log = await http.post(f"{LH}/addLog?{who('ana')}", content=STATEMENT, headers=bearer("ana"))
        feedback = await http.post(
            f"{TH}/submitUserFeedback?{who('ana')}", content=FEEDBACK, headers={"Authorization": ""}
        )
    assert (log.status_code, feedback.status_code) == (401, 200)


async def test_reads_stay_open_by_default(tmp_path):
    backend = FakeBackend()
    async with asgi_client(app_on(tmp_path, backend)) as http:
        reply = await http.get(f"{TH}/studentGraph?{who('ana')}")
    assert reply.status_code == 200
    assert backend.reads == [("studentGraph", Identity("ana", "cie3", "spinner"), None)]


@pytest.mark.parametrize(
    ("reader", "claims", "user", "course", "status"),
    [
        (None, {}, "ana", "cie3", 401),
        ("ana", {}, "ana", "cie3", 200),
        ("ana", {}, "bob", "cie3", 403),
        ("ana", {"scopes": ["write"]}, "ana", "cie3", 403),
        ("t1", {"role": "instructor", "courses": ["spinner-cie3"]}, "bob", "cie3", 200),
        ("t1", {"role": "instructor", "courses": ["spinner-cie3"]}, "bob", "engdes1", 403),
        ("t1", {"role": "instructor", "courses": ["cie3"]}, "bob", "cie3", 200),
        ("r1", {"role": "researcher"}, "bob", "cie3", 403),
        ("root", {"role": "admin"}, "bob", "engdes1", 200),
    ],
)
async def test_a_required_read_token_reads_whom_its_grant_may(
    tmp_path, caplog, reader, claims, user, course, status
):
    caplog.set_level(logging.INFO)
    backend = FakeBackend()
    app = app_on(tmp_path, backend, require_read_token=True)
    headers = {} if reader is None else bearer(reader, **claims)
    async with asgi_client(app) as http:
        reply = await http.get(f"{TH}/usageStats?{who(user, course)}", headers=headers)
    assert reply.status_code == status
    assert len(backend.reads) == (status == 200)
    if status != 200:
        assert reply.json()["error"]["code"] == "forbidden"
        assert [status for *_, status in refused(caplog)] == [status]


async def test_a_read_token_may_come_in_the_query_and_never_reaches_the_backend(tmp_path):
    backend = FakeBackend()
    app = app_on(tmp_path, backend, require_read_token=True)
    token = person_token("ana")
    async with asgi_client(app) as http:
        reply = await http.get(f"{TH}/comparisonGraph?taskcode=ed1-01&{who('ana')}&token={token}")
        other = await http.get(f"{TH}/comparisonGraph?{who('bob')}&token={token}")
    assert (reply.status_code, other.status_code) == (200, 403)
    assert backend.reads == [("comparisonGraph", Identity("ana", "cie3", "spinner"), "ed1-01")]


@pytest.mark.parametrize(
    ("headers", "status", "audited_as"),
    [
        (
            {"Authorization": basic(RESEARCHER, RESEARCHER_PASSWORD)},
            200,
            f"researcher:{RESEARCHER}",
        ),
        (bearer("r1", role="researcher"), 200, "researcher:r1"),
        (bearer("root", role="admin"), 200, "admin:root"),
        (bearer("ana"), 403, None),
        (bearer("t1", role="instructor", courses=["cie3"]), 403, None),
        ({"Authorization": basic(RESEARCHER, "wrong")}, 401, None),
    ],
)
async def test_download_logs_for_researchers_by_password_or_token(
    tmp_path, caplog, headers, status, audited_as
):
    caplog.set_level(logging.INFO)
    backend = FakeBackend(lines=[b'{"a": 1}\n'])
    async with asgi_client(app_on(tmp_path, backend)) as http:
        reply = await http.get(f"{LH}/download-logs", headers=headers)
    assert reply.status_code == status
    downloads = [r.who for r in caplog.records if r.getMessage() == "audit.download_logs"]
    if audited_as is None:
        assert downloads == []
        assert len(refused(caplog)) == 1
    else:
        assert downloads == [audited_as]


async def test_open_feedback_lets_the_deployed_dashboard_submit_and_still_checks_tokens(tmp_path):
    backend = FakeBackend()
    app = app_on(tmp_path, backend, open_feedback=True)
    feedback = f"{TH}/submitUserFeedback?{who('ana')}"
    async with asgi_client(app) as http:
        dashboard = await http.post(feedback, content=FEEDBACK, headers={"Authorization": ""})
        forged = await http.post(feedback, content=FEEDBACK, headers=bearer("bob"))
        log = await http.post(f"{LH}/addLog?{who('ana')}", content=STATEMENT)
    # The dashboard's request is taken; a token sent is still its subject's only;
    # addLog still needs the UI credential.
    assert (dashboard.status_code, forged.status_code, log.status_code) == (200, 403, 401)
    assert backend.feedback == [(Identity("ana", "cie3", "spinner"), FEEDBACK)]
    assert backend.statements == []
