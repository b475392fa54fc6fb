"""``POST /admin/forget/<user>``: admins only, audited, 503 until the actors implement it."""

from __future__ import annotations

import logging

import attrs
import pytest

from store.erase import EraseReport
from store.rows import StoreError
from tests.access.jwts import access_settings, person_token
from tests.web.conftest import FakeOps, asgi_client, web_settings
from web.access import open_access
from web.admin import ForgetReport
from web.app import build_app


@attrs.define
class FakeForgetter:
    forgotten: list[str] = attrs.field(factory=list)
    fail: bool = False

    async def forget(self, user: str) -> ForgetReport:
        if self.fail:
            raise StoreError("disk I/O error")
        self.forgotten.append(user)
        erased = EraseReport(user, {"analytics": 3, "statement": 2}, progress=1, imports=0)
        return ForgetReport(erased, session_dropped=True, buffered_events=1)


def app(tmp_path, forgetter=None):
    settings = access_settings(tmp_path)
    return build_app(FakeOps(), settings, access=open_access(settings), forgetter=forgetter)


def admin(sub: str = "root", **claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + person_token(sub, role="admin", **claims)}


def audits(caplog, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == event]


async def test_an_admin_forgets_a_user_and_gets_the_report(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    forgetter = FakeForgetter()
    async with asgi_client(app(tmp_path, forgetter)) as http:
        reply = await http.post("/admin/forget/3f2a-77/x", headers=admin())
    assert reply.status_code == 200
    assert forgetter.forgotten == ["3f2a-77/x"]  # a user id may hold a slash
    body = reply.json()
    assert (body["user"], body["events"], body["progress_rows"]) == ("3f2a-77/x", 5, 1)
    assert body["events_by_type"] == {"analytics": 3, "statement": 2}
    assert (body["session_dropped"], body["buffered_events_dropped"]) == (True, 1)
    [line] = audits(caplog, "audit.forget")
    assert (line.who, line.outcome, line.user, line.events) == (
        "admin:root",
        "done",
        "3f2a-77/x",
        5,
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer garbage"}, 401),
        ({"Authorization": "Basic cm9vdDpyb290"}, 401),
        ({"Authorization": "Bearer " + person_token("ana")}, 403),
        ({"Authorization": "Bearer " + person_token("r", role="researcher")}, 403),
        (
            {"Authorization": "Bearer " + person_token("t", role="instructor", courses=["cie3"])},
            403,
        ),
    ],
)
async def test_only_an_admin_token_may_forget(tmp_path, caplog, headers, status):
    caplog.set_level(logging.INFO)
    forgetter = FakeForgetter()
    async with asgi_client(app(tmp_path, forgetter)) as http:
        reply = await http.post("/admin/forget/bob", headers=headers)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == "forbidden"
    assert forgetter.forgotten == []
    [line] = audits(caplog, "audit.credential_refused")
    assert (line.route, line.status) == ("admin/forget", status)


async def test_until_the_actors_implement_it_the_route_says_what_to_do(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with asgi_client(app(tmp_path)) as http:
        reply = await http.post("/admin/forget/bob", headers=admin())
    assert reply.status_code == 503
    assert "learning-analytics forget" in reply.json()["error"]["message"]
    [line] = audits(caplog, "audit.forget")
    assert (line.who, line.outcome, line.user) == ("admin:root", "unavailable", "bob")


async def test_a_store_that_refuses_is_503_and_audited(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with asgi_client(app(tmp_path, FakeForgetter(fail=True))) as http:
        reply = await http.post("/admin/forget/bob", headers=admin())
    assert reply.status_code == 503
    [line] = audits(caplog, "audit.forget")
    assert line.outcome == "failed"


async def test_with_access_control_off_there_is_no_admin(caplog):
    caplog.set_level(logging.INFO)
    forgetter = FakeForgetter()
    off = build_app(FakeOps(), web_settings(), forgetter=forgetter)
    async with asgi_client(off) as http:
        reply = await http.post("/admin/forget/bob", headers=admin())
    assert reply.status_code == 403
    assert "access control on" in reply.json()["error"]["message"]
    assert forgetter.forgotten == []


async def test_a_user_id_over_the_limits_is_400(tmp_path):
    async with asgi_client(app(tmp_path, FakeForgetter())) as http:
        reply = await http.post("/admin/forget/" + "u" * 129, headers=admin())
    assert reply.status_code == 400
