"""The Africa's Talking gateway through the real SDK against the fake server.

Every quirk of reference/africastalking.md §7 that concerns sending is one case here.
"""

from __future__ import annotations

import pytest

from hotline.gateways import GatewayError, build_gateway
from hotline.gateways.africastalking_sms import AfricasTalkingGateway
from tests.fakeat import FakeAT

A, B, C = "+249912345678", "+249912345679", "+249912345670"


def _gateway(fake: FakeAT, **extra) -> AfricasTalkingGateway:
    args = {"sender_id": "MRRC", "base_url": fake.url, "timeout": (1.0, 0.5), **extra}
    return AfricasTalkingGateway("hotline", fake.api_key, **args)


def test_one_request_many_recipients_each_with_its_own_message_id(fake):
    outcomes = _gateway(fake).send([A, B], "Hello")
    assert [(o.number, o.verdict, o.code) for o in outcomes] == [(A, "accepted", "101"),
                                                                  (B, "accepted", "101")]
    assert len({o.message_id for o in outcomes}) == 2
    [request] = fake.requests
    assert request.recipients == [A, B] and request.message == "Hello"
    assert request.sender == "MRRC" and request.username == "hotline"


def test_per_recipient_codes_are_classified_and_406_opts_out(fake):
    fake.codes = {B: 406, C: 405}
    outcomes = {o.number: o for o in _gateway(fake).send([A, B, C], "Hi")}
    assert outcomes[A].verdict == "accepted"
    assert (outcomes[B].verdict, outcomes[B].opted_out, outcomes[B].message_id) == \
        ("permanent", True, None)  # messageId "None" is no id
    assert (outcomes[C].verdict, outcomes[C].opted_out) == ("retry", False)


@pytest.mark.parametrize("code,verdict", [
    (100, "accepted"), (102, "accepted"), (401, "retry"), (500, "retry"), (501, "retry"),
    (502, "retry"), (402, "permanent"), (403, "permanent"), (404, "permanent"),
    (407, "permanent"), (409, "permanent")])
def test_every_documented_status_code(fake, code, verdict):
    fake.codes = {A: code}
    [outcome] = _gateway(fake).send([A], "Hi")
    assert (outcome.verdict, outcome.code) == (verdict, str(code))


@pytest.mark.parametrize("mode,verdict,code", [
    ("http401", "retry", "http-error"),  # non-2xx: the SDK raises with the body only
    ("http500", "retry", "http-error"),
    ("invalid_sender", "permanent", "InvalidSenderId"),  # 201 with empty Recipients
    ("not_json", "ambiguous", "unreadable-answer"),  # 2xx, so it may have gone
])
def test_whole_request_failures(fake, mode, verdict, code):
    fake.mode = mode
    with pytest.raises(GatewayError) as caught:
        _gateway(fake).send([A], "Hi")
    assert (caught.value.verdict, caught.value.code) == (verdict, code)


def test_a_charset_suffixed_content_type_still_reads_as_json(fake):
    fake.mode = "charset"  # the SDK hands back a str, not a dict
    [outcome] = _gateway(fake).send([A], "Hi")
    assert outcome.verdict == "accepted" and outcome.message_id


def test_a_read_timeout_after_sending_is_ambiguous(fake):
    fake.mode, fake.slow_seconds = "slow", 3.0
    with pytest.raises(GatewayError) as caught:
        _gateway(fake).send([A], "Hi")
    assert (caught.value.verdict, caught.value.code) == ("ambiguous", "read-timeout")
    assert fake.accepted[A] == 1  # the fake took it: that is why it is ambiguous


def test_nobody_listening_is_retried_nothing_was_sent(fake):
    url = fake.url
    fake.stop()
    with pytest.raises(GatewayError) as caught:
        _gateway(fake, base_url=url).send([A], "Hi")
    assert caught.value.verdict == "retry"


def test_a_number_the_sdk_refuses_is_permanent(fake):
    with pytest.raises(GatewayError) as caught:
        _gateway(fake).send(["0912345678"], "Hi")
    assert caught.value.verdict == "permanent" and fake.requests == []


def test_credentials_choose_africastalking_else_console():
    base = {"OUTBOX": {"connect_timeout": 1, "read_timeout": 2}}
    assert build_gateway(base).name == "console"
    chosen = build_gateway({**base, "AT_USERNAME": "u", "AT_API_KEY": "k",
                            "AT_BASE_URL": "http://127.0.0.1:9"})
    assert chosen.name == "africastalking" and chosen.timeout == (1.0, 2.0)
    assert chosen.sms._baseUrl == "http://127.0.0.1:9/version1"


def test_requests_share_one_kept_alive_connection_until_it_idles(fake, monkeypatch):
    from hotline.gateways import africastalking_sms

    gateway = _gateway(fake)
    gateway.send([A], "one")
    gateway.send([B], "two")
    first, second = fake.requests
    assert first.port == second.port  # one connection (the SDK alone opens one per request)
    monkeypatch.setattr(africastalking_sms, "KEEP_ALIVE_SECONDS", -1.0)  # idle "too long" now
    gateway.send([C], "three")
    assert fake.requests[2].port != first.port  # the idle connection was not reused
    assert sum(fake.accepted.values()) == 3
