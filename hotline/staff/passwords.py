"""Staff passwords: argon2id hashes, generated passwords, and the rules a new one must meet.

The rules follow NIST SP 800-63B 5.1.1.2: length (12 to 256), no composition
rules, and a refusal of what attackers try first: the common passwords shipped
in ``common-passwords.txt`` (also with digits or symbols tacked on), one
character or a short pattern repeated, and the account's own email or name.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hotline.errors import N_, Said

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps one request from costing seconds
WORDS_ALPHABET = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479"  # nothing to misread

COMMON_FILE = Path(__file__).with_name("common-passwords.txt")
SERVICE_WORDS = ("mrrc", "hotline", "khartoum", "migrant")  # what a guesser tries here first
MIN_DISTINCT = 5  # "aaaaaaaaaaab", "121212121212" and the like are refused

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


@lru_cache(maxsize=1)
def common() -> frozenset[str]:
    """The shipped list of common passwords, lower-case."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines
                     if line.strip() and not line.startswith("#"))


def _core(text: str) -> str:
    """Lower-case, without spaces, digits and symbols at either end ("Password1234!" ->
    "password"): the word a guesser's list starts from."""
    squeezed = re.sub(r"\s+", "", text.lower())
    return re.sub(r"^[\W\d_]+|[\W\d_]+$", "", squeezed)


def _repetitive(password: str) -> bool:
    """A few characters repeated, a short pattern repeated, or a run like "123456789012"."""
    lower = password.lower()
    if len(set(lower)) < MIN_DISTINCT:
        return True
    steps = [ord(b) - ord(a) for a, b in zip(lower, lower[1:], strict=False)]
    if sum(1 for step in steps if abs(step) == 1) >= 0.75 * len(steps):
        return True
    for size in range(1, len(password) // 2 + 1):  # "abcabcabcabc", "passpasspass"
        if len(password) % size == 0 and password[:size] * (len(password) // size) == password:
            return True
    return False


def _context_words(context: Iterable[str]) -> list[str]:
    words: set[str] = set(SERVICE_WORDS)
    for value in context:
        value = (value or "").strip().lower()
        if not value:
            continue
        words.add(value)
        local = value.split("@")[0]
        words.add(local)
        words.update(part for part in re.split(r"[\W_]+", value) if len(part) >= 3)
    return sorted((w for w in words if len(w) >= 3), key=len, reverse=True)


def _mostly_context(password: str, context: Iterable[str]) -> bool:
    """True when, without the user's email, name and the service's words, too little is left
    (spaces and symbols do not count)."""
    rest = re.sub(r"\s+", "", password.lower())
    for word in _context_words(context):
        rest = rest.replace(re.sub(r"\s+", "", word), "")
    return len(re.sub(r"[\W_]+", "", rest)) < 6


def problem(password: str, context: Iterable[str] = ()) -> Said | None:
    """Why ``password`` cannot be used, or None. ``context``: the user's email and name."""
    if len(password) < MIN_LENGTH:
        return Said(N_("Use at least %(n)s characters."), n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return Said(N_("Use at most %(n)s characters."), n=MAX_LENGTH)
    if not password.isprintable():
        return Said(N_("Use printable characters only."))
    listed = common()
    if password.lower() in listed or _core(password) in listed:
        return Said(N_("This password is on the list of the most common ones: choose another."))
    if _repetitive(password):
        return Said(N_("This password repeats a few characters: choose a less predictable one."))
    if _mostly_context(password, context):
        return Said(N_("This password is too close to your email, your name or the service's "
                       "name."))
    return None


def generate(length: int = 16) -> str:
    """A random password to hand over once; its owner should change it."""
    return "".join(secrets.choice(WORDS_ALPHABET) for _ in range(length))
