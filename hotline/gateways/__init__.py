"""Where outbound SMS leave us: a small interface, so an in-country aggregator can
replace Africa's Talking (whose network list shows no Sudanese operator) without
touching the outbox.

A gateway sends one body to many recipients and says, per recipient, whether the
message was accepted, may be retried, or never will be. A failure of the whole
request raises ``GatewayError`` with the same verdicts, plus ``ambiguous``: the
request may have been accepted (a read timeout after it was sent), and only the
outbox, which knows the message's priority, decides whether to send it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hotline.errors import HotlineError

Verdict = Literal["accepted", "retry", "permanent", "ambiguous"]


@dataclass(frozen=True)
class Outcome:
    """What the gateway said about one recipient."""

    number: str
    verdict: Verdict
    code: str  # the gateway's own words: "101", "InvalidSenderId", "timeout", …
    message_id: str | None = None
    opted_out: bool = False  # the gateway says this number refuses our messages


class GatewayError(HotlineError):
    """The whole request failed; ``verdict`` applies to every recipient in it."""

    def __init__(self, verdict: Verdict, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}"[:200] if detail else code)
        self.verdict, self.code = verdict, code[:40]


class Gateway(Protocol):
    name: str

    def send(self, recipients: Sequence[str], body: str) -> list[Outcome]:
        """One request for these recipients; an Outcome for each, or GatewayError."""
        ...


def build_gateway(config: Mapping[str, Any]) -> Gateway:
    """Africa's Talking when credentials are set, else the console (development)."""
    if config.get("AT_USERNAME") and config.get("AT_API_KEY"):
        from hotline.gateways.africastalking_sms import AfricasTalkingGateway

        outbox = config["OUTBOX"]
        return AfricasTalkingGateway(
            config["AT_USERNAME"], config["AT_API_KEY"],
            sender_id=config.get("AT_SENDER_ID") or None,
            base_url=config.get("AT_BASE_URL") or None,
            timeout=(float(outbox["connect_timeout"]), float(outbox["read_timeout"])))
    from hotline.gateways.console import ConsoleGateway

    return ConsoleGateway()
