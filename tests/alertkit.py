"""Helpers for the community alert tests: subscribers, leaders, and a caller that picks
menu entries by their label (numbers shift as menus grow; labels are what people read)."""

from __future__ import annotations

from argon2 import PasswordHasher
from flask import Flask

from hotline.extensions import db
from hotline.models import Contact
from hotline.services import leaders, subscriptions
from hotline.staff import users
from tests.conftest import UssdCaller
from tests.staffkit import make_user

LANG_CHOICE = {"ar": "1", "en": "2"}
ADMIN = "admin@mrrc.example"


def quick_pins(monkeypatch) -> None:
    """Real argon2 with small costs: a leader's PIN is checked on every send."""
    monkeypatch.setattr(leaders, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))


def say(app: Flask, lang: str, key: str, **values: str) -> str:
    return app.extensions["hotline.catalog"].render(lang, key, values)


def subscriber(phone: str, area: str, topics=("safety", "services", "tips"),
               lang: str = "en", **reach) -> int:
    """A subscriber as the USSD action makes one; ``reach`` sets exited_at and the like."""
    done = subscriptions.subscribe(phone, area, topics, channel="ussd", lang=lang)
    contact = db.session.get(Contact, done.contact_id)
    for name, value in reach.items():
        setattr(contact, name, value)
    db.session.commit()
    return done.contact_id


def leader(phone: str, areas: list[str], limit: int = 3, name: str = "Amna Leader",
           pin: str | None = None):
    admin = users.find(ADMIN) or make_user(ADMIN, "admin")
    made = leaders.register(name, phone, areas, limit, admin.id)
    if pin is not None:
        assert leaders.set_pin(phone, pin, pin) == "ok"
        db.session.commit()
    return made


def pick(ussd: UssdCaller, label: str) -> str:
    """Press the number of the entry labelled ``label``, paging with 98 to find it."""
    for _ in range(6):
        for line in ussd.text.splitlines():
            number, _, text = line.partition(". ")
            if text == label and number.isdigit():
                return ussd.press(number)
        if "98 " not in ussd.text:
            break
        ussd.press("98")
    raise AssertionError(f"{label!r} not offered on {ussd.text!r}")


def offered(ussd: UssdCaller) -> list[str]:
    """Every entry label of the current menu, across its pages (the caller pages through)."""
    labels: list[str] = []
    for _ in range(6):
        labels += [line.partition(". ")[2] for line in ussd.text.splitlines()
                   if line.partition(". ")[0].isdigit()]
        if "98 " not in ussd.text:
            break
        ussd.press("98")
    return labels


def open_menu(ussd: UssdCaller, lang: str) -> str:
    """Dial; a new caller picks a language first."""
    if "English" in ussd.dial():
        ussd.press(LANG_CHOICE[lang])
    return ussd.text
