"""The ``hotline`` command: Flask's ``run`` and ``db`` plus the service's own commands."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from hotline.app import budgets, check_specs, create_app, window_hours
from hotline.config import load_settings
from hotline.errors import ConfigError, SpecError
from hotline.flows.check import report
from hotline.textcodec import measure


def _create_app() -> Flask:
    """The app, or one readable error listing every settings or content problem."""
    try:
        return create_app()
    except (ConfigError, SpecError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create_app)
def cli() -> None:
    """MRRC Hotline: USSD, SMS and missed-call information and callback service."""


@cli.command(with_appcontext=False)
@click.option("--report", "show_report", is_flag=True,
              help="Also list every screen with characters used and encoding.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Check the flows/ and content/ of another folder (a working copy).")
def check(show_report: bool, root: str | None) -> None:
    """Validate every flow and every language at once; exit 1 on any problem."""
    try:  # the instance settings file may be unreadable or name unknown keys
        settings = load_settings({"ROOT": str(Path(root).resolve())} if root else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    checked = check_specs(settings)
    if show_report and checked.graph is not None and not checked.problems:  # texts render
        for line in report(checked, values=settings["CENTRE"], budget=budgets(settings)[""],
                           windows=window_hours(settings)):
            click.echo(line)
    for problem in checked.problems:
        click.echo(problem, err=True)
    if checked.problems:
        click.echo(f"{len(checked.problems)} problem(s)", err=True)
        sys.exit(1)
    graph = checked.graph
    click.echo(f"ok: {len(graph.nodes)} nodes, languages {', '.join(checked.catalog.languages)}")


@cli.command()
@click.option("--lang", default=None, help="Start as a returning caller who reads this language.")
@click.option("--phone", default="+249912345678", show_default=True)
@click.option("--network", default="63401", show_default=True)
@click.option("--inputs", default=None, help="Inputs joined by '*' instead of typing them.")
@click.option("--dry-run/--write", default=True, show_default=True,
              help="--dry-run: the real flows and texts with stand-in actions that store "
                   "nothing (like the dashboard's preview). --write: through the webhook, "
                   "storing contacts and callback requests in the database.")
def simulate(lang: str | None, phone: str, network: str, inputs: str | None,
             dry_run: bool) -> None:
    """Run a USSD session in the terminal; a dry run (the default) writes nothing."""
    from hotline.extensions import db
    from hotline.phones import to_e164
    from hotline.services import contacts

    e164 = to_e164(phone, current_app.config["DEFAULT_REGION"])
    if e164 is None:
        raise click.BadParameter(f"{phone!r} is not a valid phone number", param_hint="--phone")
    if lang and lang not in current_app.extensions["hotline.catalog"].languages:
        raise click.BadParameter(f"no content for {lang!r}", param_hint="--lang")
    scripted = inputs.split("*") if inputs else None
    if dry_run:
        click.echo("Dry run: nothing is stored (use --write to go through the webhook).")
        _simulate_dry(lang, network, scripted)
        return
    click.echo("Writing to the database: contacts and callback requests are stored.")
    if lang:
        contacts.get_or_create(e164).language = lang
        db.session.commit()
    client = current_app.test_client()
    session_id = "SIM" + secrets.token_hex(8)
    service_code = sorted(current_app.config["USSD_SERVICE_CODE"].split(","))[0].strip()
    path: list[str] = []
    while True:
        response = client.post(
            "/webhooks/at/ussd", query_string={"token": current_app.config["WEBHOOK_TOKEN"]},
            data={"sessionId": session_id, "serviceCode": service_code, "phoneNumber": e164,
                  "networkCode": network, "text": "*".join(path)})
        body = response.get_data(as_text=True)
        screen = body[4:]
        cost = measure(screen)
        click.echo("-" * 32)
        click.echo(screen)
        click.echo(f"[{body[:3]} | {cost.units} characters, {cost.encoding}]")
        if not body.startswith("CON") or (scripted is not None and not scripted):
            return
        answer = scripted.pop(0) if scripted is not None else click.prompt(">", default="",
                                                                           show_default=False)
        click.echo(f"> {answer}") if scripted is not None else None
        path.append(answer)


def _show(text: str, end: bool) -> None:
    cost = measure(text)
    click.echo("-" * 32)
    click.echo(text)
    click.echo(f"[{'END' if end else 'CON'} | {cost.units} characters, {cost.encoding}]")


def _simulate_dry(lang: str | None, network: str, scripted: list[str] | None) -> None:
    """The preview engine of "Try the service": real flows and texts, stand-in actions."""
    from hotline.staff.simulator import preview_engine

    engine = preview_engine(network if network in (current_app.config["USSD"].get("networks")
                                                    or {}) else "")
    state, screen = engine.begin(lang, {"channel": "preview"})
    while True:
        _show(screen.text, screen.end)
        if screen.end or (scripted is not None and not scripted):
            return
        answer = scripted.pop(0) if scripted is not None else click.prompt(
            ">", default="", show_default=False)
        click.echo(f"> {answer}") if scripted is not None else None
        state, screen = engine.step(state, answer, {"channel": "preview"})


@cli.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an rq worker on the replies, default and bulk queues (in that order).

    Its scheduler hands delayed jobs (outbox retries after a backoff) back to the
    queues; ``hotline sweep`` is the backstop when a scheduled job is lost.
    """
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from hotline.jobqueue import QUEUES, jobs
    from hotline.services import outbox

    queue = jobs()
    if queue.connection is None:
        raise click.ClickException("HOTLINE_REDIS_URL is not set: jobs run inline, no worker "
                                   "is needed in development")
    outbox.gateway()  # built (the SDK imported) before the first job, not during it
    SimpleWorker([queue.queues[name] for name in QUEUES], connection=queue.connection,
                 serializer=JSONSerializer).work(burst=burst, with_scheduler=True)


@cli.command()
def sweep() -> None:
    """Re-enqueue work that a lost worker or a flushed Redis left behind."""
    from hotline import sweeper

    for line in sweeper.sweep():
        click.echo(line)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be done, change nothing.")
def purge(dry_run: bool) -> None:
    """Delete or anonymise callers' data older than the [retention] periods (see README)."""
    from hotline.services import retention

    for line in retention.purge(dry_run=dry_run):
        click.echo(line)


@cli.command("setup-dev")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
def setup_dev(base_url: str) -> None:
    """Print the webhook URLs and a development staff login (what `make run` shows)."""
    from hotline import sweeper

    token = current_app.config["WEBHOOK_TOKEN"]
    click.echo("Webhook URLs to register with Africa's Talking:")
    for path in sorted(r.rule for r in current_app.url_map.iter_rules()
                       if r.rule.startswith("/webhooks/at/")):
        click.echo(f"  {base_url}{path}?token={token}")
    for line in sweeper.development_logins():
        click.echo(line)
    click.echo(f"Try it in the terminal: {Path(sys.argv[0]).name} simulate --lang en")


@cli.command("create-user")
@click.option("--email", required=True, help="The sign-in email (stored lower-case).")
@click.option("--role", required=True, type=click.Choice(["agent", "supervisor", "admin"]))
@click.option("--name", default="", help="The name colleagues see on claims and timelines.")
@click.option("--ask-password", is_flag=True,
              help="Type the password instead of getting a generated one.")
def create_user(email: str, role: str, name: str, ask_password: bool) -> None:
    """Create a staff account (the first admin, typically) and print its password once."""
    from hotline.staff import users

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) \
        if ask_password else None
    try:
        made = users.create(email, role, name, password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {made.user.email} ({made.user.role}).")
    if not ask_password:
        click.echo(f"Password (shown once; it must be changed at the first sign-in): "
                   f"{made.password}")
