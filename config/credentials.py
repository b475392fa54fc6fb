"""Credential hashes: what the settings hold instead of a secret, and how to check one.

A deployment's settings never hold a secret, only its scrypt hash
(``learning-analytics hash-credential`` makes one):

    scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>

The parameters travel with the hash, so they can be raised later without
invalidating the hashes already deployed. Checking a secret costs one scrypt
(~70 ms of CPU and 16 MB at the default parameters): callers that check
often (every ``addLog``) remember what they verified (``web.auth``).

Researchers' credentials are a file of ``user:hash`` lines (``#`` comments
and blank lines allowed), read at start-up. The access secret file is the
exception: HS256 verifies a token with the secret itself, so it holds the
secrets, one per line, and lives outside the settings (a file only the
service's user reads).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

import attrs

__all__ = [
    "CredentialError",
    "CredentialHash",
    "hash_secret",
    "load_researchers",
    "parse_researchers",
    "read_secret_file",
]

# 2**14 x 8 = 16 MB per check: OWASP's floor for scrypt. The secrets checked
# here are long random tokens (a UI's shared credential) or passwords of a
# handful of researchers; raising n doubles both the memory and the time.
DEFAULT_N = 2**14
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Refuse parameters that would make one check cost more than ~128 MB.
MAX_MEMORY_BYTES = 128 * 1024 * 1024
SCHEME = "scrypt"


class CredentialError(ValueError):
    """A credential hash or a researchers file that cannot be used; says where."""


@attrs.frozen(repr=False)
class CredentialHash:
    """One parsed scrypt hash; ``matches`` checks a secret against it."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def parse(cls, text: str) -> CredentialHash:
        """Raises ``CredentialError`` (never echoing ``text``) if it is no hash we make."""
        parts = text.strip().split("$")
        if len(parts) != 6 or parts[0] != SCHEME:
            raise CredentialError(f"expected {SCHEME}$n$r$p$salt$key (hash-credential makes one)")
        try:
            n, r, p = (int(part) for part in parts[1:4])
            salt = base64.b64decode(parts[4], validate=True)
            key = base64.b64decode(parts[5], validate=True)
        except (ValueError, binascii.Error):
            raise CredentialError("scrypt parameters or base64 parts do not parse") from None
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * n > MAX_MEMORY_BYTES:
            raise CredentialError("scrypt parameters out of range (n a power of 2, r*n bounded)")
        if len(salt) < 8 or len(key) < 16:
            raise CredentialError("salt or key too short")
        return cls(n, r, p, salt, key)

    def matches(self, secret: bytes) -> bool:
        """True if ``secret`` hashes to this key (constant-time compare). CPU-heavy."""
        derived = _derive(secret, self.salt, n=self.n, r=self.r, p=self.p, length=len(self.key))
        return hmac.compare_digest(derived, self.key)

    def __str__(self) -> str:
        salt = base64.b64encode(self.salt).decode()
        key = base64.b64encode(self.key).decode()
        return f"{SCHEME}${self.n}${self.r}${self.p}${salt}${key}"

    def __repr__(self) -> str:
        return "CredentialHash(<hidden>)"


def hash_secret(secret: bytes, *, salt: bytes | None = None) -> CredentialHash:
    """The hash of ``secret`` with a fresh random salt (or ``salt``, for tests)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = _derive(secret, salt, n=DEFAULT_N, r=DEFAULT_R, p=DEFAULT_P, length=KEY_BYTES)
    return CredentialHash(DEFAULT_N, DEFAULT_R, DEFAULT_P, salt, key)


def _derive(secret: bytes, salt: bytes, *, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL refuses more than 32 MB unless told; parse() has bounded n and r.
    maxmem = 128 * r * n + 1024 * 1024
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem)


def parse_researchers(text: str) -> dict[str, CredentialHash]:
    """``user:hash`` lines to a mapping; raises ``CredentialError`` naming the line."""
    researchers: dict[str, CredentialHash] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        user = user.strip()
        if not sep or not user or not user.isprintable():
            raise CredentialError(f"line {number}: expected user:{SCHEME}$...")
        if user in researchers:
            raise CredentialError(f"line {number}: user {user!r} appears twice")
        try:
            researchers[user] = CredentialHash.parse(hashed)
        except CredentialError as exc:
            raise CredentialError(f"line {number}: {exc}") from None
    return researchers


def load_researchers(path: Path) -> dict[str, CredentialHash]:
    """Read and parse a researchers file; raises ``CredentialError`` (unreadable or bad)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(f"cannot read {path}: {exc.__class__.__name__}") from None
    return parse_researchers(text)


def read_secret_file(path: Path) -> tuple[bytes, ...]:
    """The HS256 secrets of ``path``: one per line (two during a rotation), blanks ignored.

    Raises ``CredentialError`` naming the file (never its content) if it
    cannot be read or holds no secret.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CredentialError(f"cannot read {path}: {why or exc}") from None
    found = tuple(line.strip().encode() for line in text.splitlines() if line.strip())
    if not found:
        raise CredentialError(f"{path} holds no secret (one per line)")
    return found
