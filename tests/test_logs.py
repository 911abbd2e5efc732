"""The redactor on its own: what it hides and what it leaves readable."""

import logging

import pytest

from hotline.logs import Every, Redactor


@pytest.fixture()
def redactor() -> Redactor:
    made = Redactor()
    made.add_secrets(["s3cret-webhook-token-value", "abc"])  # too short to hide: ignored
    return made


@pytest.mark.parametrize("text, hidden, shown", [
    ("missed call from +249912345678", "912345678", "+249 91* *** *78"),
    ("caller 249912345678 and 0912345678", "912345678", "[number]"),
    ("typed +249 91 234 5678 in a note", "234 5678", "+249 91* *** *78"),
    ("sign-in failed for Amal.Agent@example.org", "Amal.Agent", "[email]"),
    ("POST /webhooks/at/ussd?token=abc123&x=1", "abc123", "token=[redacted]&x=1"),
    ("redis://:hunter2@redis.internal:6379/0", "hunter2", "redis://:[redacted]@"),
    ("token s3cret-webhook-token-value in a traceback", "s3cret-webhook", "[secret]"),
])
def test_hides_numbers_emails_tokens_and_secrets(redactor, text, hidden, shown):
    redacted = redactor.redact(text)
    assert hidden not in redacted and shown in redacted


@pytest.mark.parametrize("text", [
    "request 1234567 claimed by agent 3", "2026-11-29 19:54:18 sweep done",
    "USSD session ATUid_5f3e1234567890ab rebuilt", "took 12.345 ms for 100 hops",
    "reference 2345678 confirmed", "abc is not hidden",
])
def test_leaves_ordinary_text_alone(redactor, text):
    assert redactor.redact(text) == text


def test_a_record_is_rewritten_once_with_its_arguments_and_traceback(redactor):
    try:
        raise ValueError("duplicate key (phone)=(+249912345678)")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "caller %s failed",
                                   ("+249912345678",), sys.exc_info())
    redactor.filter(record)
    assert record.getMessage() == "caller +249 91* *** *78 failed"
    assert "912345678" not in record.exc_text and "+249 91* *** *78" in record.exc_text
    assert redactor.filter(record) and record.getMessage() == "caller +249 91* *** *78 failed"


def test_every_says_a_recurring_condition_once_per_interval_with_a_count(caplog):
    every = Every(logging.getLogger("hotline.test"), seconds=60)
    with caplog.at_level(logging.WARNING):
        said = [every.warning("redis", "Redis down") for _ in range(5)]
        every.warning("db", "database down")
    assert said == [True, False, False, False, False]
    assert [r.getMessage() for r in caplog.records] == [
        "Redis down (1 time(s) since last said)", "database down (1 time(s) since last said)"]
    every.seconds = 0
    assert every.warning("redis", "Redis down")
    assert caplog.records[-1].getMessage() == "Redis down (5 time(s) since last said)"
