"""The booking system's tokens and persons' bearer tokens (issue 15).

Tokens are made here with PyJWT's encoder and our test secret, as the
booking system makes them; the verifier under test only decodes.
"""

from __future__ import annotations

import time

import jwt
import pytest

from access.grants import READ, WRITE, Grant, Role
from access.tokens import TokenError, TokenVerifier, bearer, read_secrets

SECRET = b"s" * 40
OLD_SECRET = b"o" * 40
PUBLIC = "https://la.example.org"
VERIFIER = TokenVerifier((SECRET,), PUBLIC)


def token(secret: bytes = SECRET, **claims) -> str:
    now = int(time.time())
    base = {
        "topic": "spin30-log",
        "prefix": "session",
        "scopes": ["read", "write"],
        "aud": PUBLIC,
        "exp": now + 600,
        "nbf": now - 10,
        "iat": now - 10,
    }
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


def test_a_valid_token_grants_its_stream_and_scopes():
    grant = VERIFIER.stream_grant(token(booking_id=77), "spin30-log")
    assert grant == Grant(frozenset({READ, WRITE}), stream="spin30-log", booking_id="77")


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer  "])
def test_the_token_may_come_raw_or_after_bearer(prefix):
    grant = VERIFIER.stream_grant(prefix + token(scopes=["write"]), "spin30-log")
    assert grant.scopes == {WRITE}


@pytest.mark.parametrize(
    ("claims", "secret", "why"),
    [
        ({"exp": int(time.time()) - 120}, SECRET, "expired"),
        ({"nbf": int(time.time()) + 600}, SECRET, "not valid yet"),
        ({}, b"x" * 40, "signature"),
        ({"aud": "https://evil.example.org"}, SECRET, "another service"),
        ({"topic": "spin31-log"}, SECRET, "for stream 'spin31-log'"),
        ({"prefix": "admin"}, SECRET, "prefix"),
        ({"scopes": []}, SECRET, "no scope"),
        ({"scopes": ["delete"]}, SECRET, "no scope"),
        ({"scopes": "read"}, SECRET, "not a list"),
    ],
)
def test_a_bad_token_grants_nothing_and_says_why(claims, secret, why):
    with pytest.raises(TokenError, match=why):
        VERIFIER.stream_grant(token(secret, **claims), "spin30-log")


def test_a_missing_claim_is_named():
    claims = jwt.decode(token(), SECRET, algorithms=["HS256"], audience=PUBLIC)
    del claims["scopes"]
    with pytest.raises(TokenError, match="'scopes'"):
        VERIFIER.stream_grant(jwt.encode(claims, SECRET, algorithm="HS256"), "spin30-log")


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "not a token"])
def test_no_token_or_garbage_is_refused(authorization):
    with pytest.raises(TokenError):
        VERIFIER.stream_grant(authorization, "spin30-log")


def test_during_a_rotation_both_secrets_are_taken():
    rotating = TokenVerifier(read_secrets(f"{SECRET.decode()}\n\n{OLD_SECRET.decode()}\n"), PUBLIC)
    assert rotating.stream_grant(token(OLD_SECRET), "spin30-log").may_read
    assert rotating.stream_grant(token(SECRET), "spin30-log").may_write
    with pytest.raises(TokenError, match="signature"):
        rotating.stream_grant(token(b"n" * 40), "spin30-log")


def test_the_audience_may_end_in_a_slash():
    assert VERIFIER.stream_grant(token(aud=PUBLIC + "/"), "spin30-log").may_read
    assert TokenVerifier((SECRET,), PUBLIC + "/").stream_grant(token(), "spin30-log").may_read


def test_a_token_error_never_echoes_the_token():
    bad = token(b"x" * 40)
    with pytest.raises(TokenError) as caught:
        VERIFIER.stream_grant(bad, "spin30-log")
    assert bad not in str(caught.value)
    assert bad.split(".")[1] not in str(caught.value)


def person(**claims) -> str:
    now = int(time.time())
    return jwt.encode({"aud": PUBLIC, "exp": now + 600, **claims}, SECRET, algorithm="HS256")


def test_a_persons_token_grants_their_role_and_courses():
    grant = VERIFIER.person_grant("Bearer " + person(sub="t1", role="instructor", courses=["cie3"]))
    assert (grant.subject, grant.role, grant.courses) == ("t1", Role.INSTRUCTOR, {"cie3"})
    assert grant.may_read_user("anyone", "spinner", "cie3")
    assert not grant.may_read_user("anyone", "spinner", "engdes1")
    student = VERIFIER.person_grant(person(sub="ana"))
    assert student.role is Role.STUDENT
    assert student.may_read_user("ana", "spinner", "cie3")
    assert not student.may_read_user("bob", "spinner", "cie3")
    assert not student.may_download
    assert VERIFIER.person_grant(person(sub="r", role="researcher")).may_download
    assert VERIFIER.person_grant(person(sub="a", role="admin")).may_forget


@pytest.mark.parametrize(
    ("claims", "why"),
    [({}, "'sub'"), ({"sub": "x", "role": "dean"}, "unknown role"), ({"sub": 5}, "subject")],
)
def test_a_bad_persons_token_is_refused(claims, why):
    with pytest.raises(TokenError, match=why):
        VERIFIER.person_grant(person(**claims))


def test_bearer_reads_both_forms():
    assert bearer("Bearer abc") == "abc"
    assert bearer("abc") == "abc"
    assert bearer("  ") is None
    assert bearer(None) is None
