"""Staff passwords: argon2id hashes, generated passwords, and the rules a new one must meet."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps one request from costing seconds
WORDS_ALPHABET = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479"  # nothing to misread

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; a malformed stored hash is a mismatch, never an error."""
    if not password or len(password) > MAX_LENGTH:
        _burn(password[:MAX_LENGTH] if password else "x")
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def _burn(password: str) -> None:
    """Spend the time a real check spends, so a reply's speed does not say an email exists."""
    try:
        _hasher.verify(_dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        pass


def verify_unknown(password: str) -> bool:
    """The check for an email nobody has: as slow as a real one, and always False."""
    _burn(password[:MAX_LENGTH] or "x")
    return False


def problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None. Length is what matters (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if not password.isprintable():
        return "Use printable characters only."
    return None


def generate(length: int = 16) -> str:
    """A random password to hand over once; its owner should change it."""
    return "".join(secrets.choice(WORDS_ALPHABET) for _ in range(length))
