"""Settings: ``config/defaults.toml``, then the instance settings file, then ``HOTLINE_*``
environment, then overrides.

``config/defaults.toml`` is the one place a default lives: code reads the loaded
settings and never repeats a value. Site values (holidays, the centre's numbers)
go in the instance file, ``instance/hotline.toml`` (or ``HOTLINE_SETTINGS_FILE``),
which nobody tracks: an Eid date is not an edit to the repository.

In production every problem stops start-up in one ``ConfigError``; in
development missing secrets are generated once into ``instance/`` so that
``make run`` needs no set-up.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hotline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ROOT / "config" / "defaults.toml"
INSTANCE_FILE = "hotline.toml"  # in the instance folder, unless HOTLINE_SETTINGS_FILE names one
ENV_PREFIX = "HOTLINE_"
ENVIRONMENTS = ("development", "production")
# What one USSD screen can carry at most (182 GSM-7 characters, 91 UCS-2), and the
# least a budget may be and still fit a menu line with its navigation.
SCREEN_LIMITS = {"gsm7_budget": 182, "ucs2_budget": 91}
MIN_SCREEN = 40
INT_KEYS = {"ussd": ("gsm7_budget", "ucs2_budget", "session_ttl", "max_hops", "max_text_bytes"),
            "outbox": ("batch_size", "max_attempts", "hard_failure_threshold"),
            "retention": ("closed_request_days", "ussd_session_days", "voice_call_days",
                          "message_days", "contact_days")}
MIN_WEBHOOK_TOKEN = 32
GATEWAY_SECONDS = 10  # Africa's Talking waits this long for a USSD answer
LOOPBACK = ("127.0.0.1", "::1", "localhost")
OPEN_TABLES = {("ussd", "networks"), ("alerts", "templates")}  # not in the defaults, or not all


def _read_defaults(path: Path = DEFAULTS) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def instance_file(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Path:
    """Where this instance's own settings are: ``HOTLINE_SETTINGS_FILE``, else
    ``hotline.toml`` in the instance folder (``INSTANCE_PATH``, else ``instance/``)."""
    environ = os.environ if environ is None else environ
    named = environ.get(f"{ENV_PREFIX}SETTINGS_FILE")
    if named:
        return Path(named)
    folder = (overrides or {}).get("INSTANCE_PATH") or ROOT / "instance"
    return Path(folder) / INSTANCE_FILE


def _merge_instance(settings: dict[str, Any], path: Path) -> None:
    """The instance file over the defaults, key by key within each section.

    A table replaces the default's whole (``[callbacks.windows]`` is the site's
    windows, not the defaults plus these). A key or section the defaults do not
    have is refused, so a misspelt ``holiday`` cannot be silently ignored; a value
    of the wrong kind is reported by ``problems`` like any other setting.
    """
    if not path.is_file():
        return
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path}: cannot be read as TOML ({exc})"]) from None
    unknown: list[str] = []
    for key, value in raw.pop("hotline", {}).items():
        if key.upper() in settings and not isinstance(settings[key.upper()], dict):
            settings[key.upper()] = value
        else:
            unknown.append(f"[hotline] {key}")
    for section, values in raw.items():
        target = settings.get(section.upper())
        if not isinstance(target, dict) or not isinstance(values, dict):
            unknown.append(f"[{section}]")
            continue
        for key, value in values.items():
            # [ussd.networks.*] and [alerts.templates.*] are the site's to add
            if key in target or (section, key) in OPEN_TABLES:
                target[key] = value
            else:
                unknown.append(f"[{section}] {key}")
    if unknown:
        raise ConfigError([f"{path}: {name} is not a setting (config/defaults.toml lists "
                           "them all)" for name in unknown])


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask-style config: flat upper-case keys for [hotline], a dict per other section."""
    raw = _read_defaults()
    settings: dict[str, Any] = {k.upper(): v for k, v in raw.pop("hotline", {}).items()}
    for section, values in raw.items():
        settings[section.upper()] = dict(values)
    _merge_instance(settings, instance_file(overrides, environ))
    environ = os.environ if environ is None else environ
    for name, value in environ.items():
        key = name[len(ENV_PREFIX):]
        if name.startswith(ENV_PREFIX) and key in settings and not isinstance(settings[key], dict):
            settings[key] = value
        section, _, inner = key.partition("__")  # HOTLINE_OUTBOX__RATE_PARTS_PER_SECOND=20
        if name.startswith(ENV_PREFIX) and inner and isinstance(settings.get(section), dict) \
                and inner.lower() in settings[section]:
            settings[section][inner.lower()] = _toml_value(value)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    settings.setdefault("ROOT", str(ROOT))
    return settings


def _toml_value(text: str) -> Any:
    """``20`` is a number, ``["+249…"]`` a list, anything else the string itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def problems(settings: Mapping[str, Any]) -> list[str]:
    """Every reason these settings cannot run; stricter in production."""
    found: list[str] = []
    env = settings.get("ENV")
    if env not in ENVIRONMENTS:
        found.append(f"HOTLINE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    for section, keys in INT_KEYS.items():
        for key in keys:
            value = settings.get(section.upper(), {}).get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                found.append(f"[{section}] {key} must be a positive whole number, got {value!r}")
    oncall = settings.get("OUTBOX", {}).get("oncall_numbers")
    if not isinstance(oncall, list) or not all(
            isinstance(n, str) and n[:1] == "+" and n[1:].isdigit() and 7 < len(n) < 17
            for n in oncall):
        found.append(f"[outbox] oncall_numbers must be a list of E.164 numbers such as "
                     f"\"+249912345678\", got {oncall!r}")
    for key, value in settings.get("LIMITS", {}).items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            found.append(f"[limits] {key} must be a positive number, got {value!r}")
    limits = settings.get("LIMITS", {})
    if not any("[limits]" in p for p in found) and limits:
        worst = limits["ussd_hop_seconds"] + limits["db_connect_timeout"] \
            + 2 * limits["redis_socket_timeout"]
        if worst >= GATEWAY_SECONDS - 1:
            found.append(f"[limits] a USSD hop could take {worst:g} s (ussd_hop_seconds + "
                         "db_connect_timeout + two Redis waits): keep it under "
                         f"{GATEWAY_SECONDS - 1} s, the gateway waits {GATEWAY_SECONDS} s")
        if limits["ready_seconds"] >= 2:
            found.append("[limits] ready_seconds must be under 2: /readyz answers within 2 s")
    hops = settings.get("PROXY_HOPS")
    if not str(hops).isdigit() or int(str(hops)) > 5:
        found.append(f"HOTLINE_PROXY_HOPS must be a whole number from 0 to 5, got {hops!r}")
    found += cross_checks(settings)
    if env != "production":
        return found
    if len(settings.get("SECRET_KEY") or "") < 32:
        found.append("HOTLINE_SECRET_KEY must be set to at least 32 random characters")
    if len(settings.get("WEBHOOK_TOKEN") or "") < MIN_WEBHOOK_TOKEN:
        found.append(f"HOTLINE_WEBHOOK_TOKEN must be set to at least {MIN_WEBHOOK_TOKEN} "
                     "random characters")
    if not str(settings.get("DATABASE_URL") or "").startswith("postgresql"):
        found.append("HOTLINE_DATABASE_URL must be a postgresql:// URL in production")
    if not str(settings.get("REDIS_URL") or "").startswith(("redis://", "rediss://", "unix://")):
        found.append("HOTLINE_REDIS_URL must be a redis:// URL in production")
    elif not redis_is_private(str(settings["REDIS_URL"])):
        found.append("HOTLINE_REDIS_URL needs a password unless Redis is on a Unix socket or "
                     "this machine (127.0.0.1): jobs and sessions must not be open to others")
    if not str(settings.get("USSD_SERVICE_CODE") or "").strip():
        found.append("HOTLINE_USSD_SERVICE_CODE must be set")
    for key in ("AT_USERNAME", "AT_API_KEY"):
        if not settings.get(key):
            found.append(f"HOTLINE_{key} must be set in production (Africa's Talking)")
    return found


def redis_is_private(url: str) -> bool:
    """Only we can reach it: a password, a Unix socket, or a loopback address."""
    parts = urlsplit(url)
    return parts.scheme == "unix" or bool(parts.password) or parts.hostname in LOOPBACK


def content_languages(root: Path) -> list[str]:
    """The language folders under ``content/`` (each one a full set of texts)."""
    folder = root / "content"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.yaml"))) \
        if folder.is_dir() else []


def cross_checks(settings: Mapping[str, Any]) -> list[str]:
    """Settings that are well-formed alone but wrong against the content or the air:
    a default language with no texts fails every new caller's first dial."""
    found: list[str] = []
    langs = content_languages(Path(settings.get("ROOT") or ROOT))
    default = settings.get("DEFAULT_LANGUAGE")
    if default not in langs:
        found.append(f"HOTLINE_DEFAULT_LANGUAGE must be one of the content languages "
                     f"({', '.join(langs)}), got {default!r}")
    ussd = settings.get("USSD") or {}
    networks = ussd.get("networks") or {}
    if not isinstance(networks, Mapping):
        return [*found, "[ussd.networks] must be a table of network codes"]
    for code, values in networks.items():
        where = f"[ussd.networks.{code}]"
        if not str(code).isdigit() or not 5 <= len(str(code)) <= 6:
            found.append(f"{where}: a network code is 5 or 6 digits (MCC and MNC), "
                         f"got {code!r}")
        if not isinstance(values, Mapping):
            found.append(f"{where}: must be a table of gsm7_budget and ucs2_budget")
            continue
        for extra in sorted(set(values) - set(SCREEN_LIMITS)):
            found.append(f"{where}: unknown key {extra!r}")
        for key, most in SCREEN_LIMITS.items():
            value = values.get(key, ussd.get(key))
            if not isinstance(value, int) or isinstance(value, bool) \
                    or not MIN_SCREEN <= value <= most:
                found.append(f"{where}: {key} must be a whole number from {MIN_SCREEN} to "
                             f"{most} (what a USSD screen can hold), got {value!r}")
    return found


def fill_development_secrets(settings: dict[str, Any], instance: Path) -> None:
    """Give a first run stable secrets without asking anything of the newcomer."""
    missing = [k for k in ("SECRET_KEY", "WEBHOOK_TOKEN") if not settings.get(k)]
    if not missing:
        return
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "dev-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for key in missing:
        stored.setdefault(key, secrets.token_hex(24))
        settings[key] = stored[key]
    path.write_text(json.dumps(stored, indent=2))
    path.chmod(0o600)


def service_codes(settings: Mapping[str, Any]) -> set[str]:
    return {c.strip() for c in str(settings.get("USSD_SERVICE_CODE") or "").split(",") if c.strip()}
