"""The optional second factor: TOTP codes (RFC 6238, pyotp) and one-use recovery codes.

The QR code is drawn here as SVG (segno), so the enrolment page fetches nothing
from outside. Recovery codes are random (about 50 bits each), so a plain SHA-256
of each is enough to store; a used code is removed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno

ISSUER = "MRRC Hotline"
RECOVERY_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing to misread
STEP = 30


def new_secret() -> str:
    return pyotp.random_base32()


def uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(text: str) -> str:
    """An inline ``<svg>`` of ``text`` as a QR code: no script, no outside fetch."""
    return segno.make(text, error="m").svg_inline(scale=5, border=2, dark="#000",
                                                  light="#fff", omitsize=False)


def _digits(code: str) -> str:
    return "".join(ch for ch in (code or "")[:20] if not ch.isspace())


def verify(secret: str, code: str, last_step: int | None, now: float | None = None
           ) -> int | None:
    """The time step ``code`` belongs to, or None; one step either side is accepted for
    clock drift, and a step already used (``last_step``) never again (no replay)."""
    code = _digits(code)
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP)
    for step in (current, current - 1, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Codes shown once, as ``xxxxx-xxxxx``."""
    def one() -> str:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(RECOVERY_COUNT)]


def _hash(code: str) -> str:
    cleaned = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(cleaned.encode()).hexdigest()


def store_codes(codes: list[str]) -> str:
    return ",".join(_hash(code) for code in codes)


def use_recovery_code(stored: str, code: str) -> str | None:
    """The stored hashes without ``code``'s, or None when ``code`` is not one of them."""
    if not code or len(code) > 40:
        return None
    hashes = [h for h in (stored or "").split(",") if h]
    wanted = _hash(code)
    for known in hashes:
        if hmac.compare_digest(known, wanted):
            hashes.remove(known)
            return ",".join(hashes)
    return None
