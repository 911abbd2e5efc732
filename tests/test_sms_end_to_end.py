"""End to end: texts in through the webhook, the callback conversation and a tip, the
replies out through a real ``hotline worker`` and the real SDK to the fake gateway."""

from __future__ import annotations

import sqlalchemy as sa

from hotline.extensions import db
from hotline.models import CallbackRequest
from tests.conftest import PHONE
from tests.outboxkit import Worker, settled, wait_until, worker_env
from tests.smskit import Texter


def test_an_arabic_caller_asks_for_a_call_and_a_tip_by_sms_alone(app, client, fake, tmp_path):
    texter = Texter(client)
    answers = [texter.say(text) for text in ("اتصل", "٤", "١", "١", "١")]  # AVRR, any time,
    request = db.session.scalars(sa.select(CallbackRequest)).one()       # SMS ok, send
    assert (request.channel, request.reason, request.sms_ok) == ("sms", "avrr", True)
    assert request.ref in answers[-1]
    answers += [texter.say("معلومات"), texter.say("٢"), texter.say("١")]  # the desert tip
    assert all(answers), answers
    worker = Worker(worker_env(fake), tmp_path).start()
    try:
        wait_until(settled, 60, "every reply sent")
    finally:
        worker.stop()
    assert fake.accepted == {PHONE: len(answers)}, worker.log()
    assert [r.message for r in fake.requests] == answers  # in order, each once
    assert "خروج" not in "".join(answers)  # the silent-exit word is never advertised
