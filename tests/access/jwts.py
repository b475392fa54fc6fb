"""Tokens as the booking system and the course team make them, for tests (PyJWT's encoder).

The code under test only decodes; these are made here, with our test secret
and PyJWT, independently of it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
import jwt

from config.settings import AccessControl, Settings

SECRET = "booking-system-shared-secret-0123456789abcdef"  # 45 bytes
OLD_SECRET = "the-previous-secret-still-accepted-0123456789"
PUBLIC_URL = "https://la.example.org"


def _signed(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def booking_token(secret: str = SECRET, **claims: Any) -> str:
    """The booking system's stream token (the relay's claims, PROTOCOL.md)."""
    now = int(time.time())
    base = {
        "topic": "spin30-log",
        "prefix": "session",
        "scopes": ["read", "write"],
        "aud": PUBLIC_URL,
        "exp": now + 600,
        "nbf": now - 10,
        "iat": now - 10,
        "booking_id": "b-77",
    }
    return _signed({**base, **claims}, secret)


def person_token(sub: str, secret: str = SECRET, **claims: Any) -> str:
    """A person's bearer token: ``sub``, optional ``role``, ``courses``, ``scopes``."""
    now = int(time.time())
    return _signed({"aud": PUBLIC_URL, "exp": now + 600, "iat": now, "sub": sub, **claims}, secret)


def secret_file(directory: Path, *secrets: str, name: str = "access-secret") -> Path:
    path = directory / name
    path.write_text("\n".join(secrets or (SECRET,)) + "\n")
    path.chmod(0o600)
    return path


def access_settings(directory: Path, **overrides: Any) -> Settings:
    """Loopback listeners with access control on, as a test service runs it."""
    base = Settings(
        listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_path=directory / "data",
        access_control=AccessControl.ON,
        access_secret_file=secret_file(directory),
        public_url=PUBLIC_URL,
    )
    return attrs.evolve(base, **overrides)
