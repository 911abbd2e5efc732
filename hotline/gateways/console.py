"""The development gateway: logs each message with a masked number and accepts it.

``make run`` needs no credentials; the staff page "Sent messages" lists what
this gateway "sent", read from the outbox rows themselves.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from hotline.gateways import Outcome
from hotline.privacy import mask_phone

log = logging.getLogger("hotline.sms.console")


class ConsoleGateway:
    name = "console"

    def send(self, recipients: Sequence[str], body: str) -> list[Outcome]:
        outcomes = []
        for number in recipients:
            message_id = "console-" + secrets.token_hex(8)
            # The body may name a callback reference, never a number in full.
            log.info("SMS to %s (%s): %s", mask_phone(number), message_id, body)
            outcomes.append(Outcome(number, "accepted", "console", message_id))
        return outcomes
