"""The ``hotline`` command as a content writer and an operator use it."""

import shutil
from pathlib import Path

from click.testing import CliRunner
from flask.cli import ScriptInfo

from hotline.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_passes_on_the_real_flows_and_content():
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_a_third_language_missing_one_key_fails_naming_file_and_key(workcopy: Path):
    shutil.copytree(workcopy / "content" / "en", workcopy / "content" / "fr")
    menu = workcopy / "content" / "fr" / "menu.yaml"
    menu.write_text("\n".join(line for line in menu.read_text().splitlines()
                              if not line.startswith("services:")) + "\n")
    result = run("check", "--root", str(workcopy))
    assert result.exit_code == 1
    assert "content/fr/menu.yaml: missing key menu.services" in result.output


def test_all_problems_are_listed_at_once(workcopy: Path):
    (workcopy / "content" / "ar" / "nav.yaml").write_text('more: "98 المزيد"\n')
    flow = workcopy / "flows" / "main.yaml"
    flow.write_text(flow.read_text().replace("next: services.centre", "next: nowhere"))
    en = workcopy / "content" / "en" / "menu.yaml"
    en.write_text(en.read_text().replace('"Contact us"', '"Contact us – today"'))
    result = run("check", "--root", str(workcopy))
    assert result.exit_code == 1
    assert "content/ar/nav.yaml: missing key nav.back" in result.output
    assert "flows/main.yaml: node menu: unknown node 'nowhere'" in result.output
    assert "characters that force UCS-2: '–' U+2013" in result.output
    assert "problem(s)" in result.output


def test_a_screen_over_budget_is_reported(workcopy: Path):
    ar = workcopy / "content" / "ar" / "menu.yaml"
    ar.write_text(ar.read_text().replace('"خدماتنا"', '"' + "خدمات" * 20 + '"'))
    result = run("check", "--root", str(workcopy))
    assert result.exit_code == 1
    assert "over the screen budget" in result.output and "(ar)" in result.output


def test_report_lists_screens_with_characters_and_encoding():
    result = run("check", "--report")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    arabic = [ln for ln in lines if ln.startswith("awareness.smugglers") and " ar " in ln]
    assert arabic and all("UCS-2" in ln for ln in arabic)
    for line in lines:
        if "/" in line and ("GSM-7" in line or "UCS-2" in line) and " sms " not in line:
            used, limit = line.split()[3].split("/")
            assert int(used) <= int(limit), line


class AppRunner:
    """Runs the ``hotline`` group against the test app, as FlaskGroup would build it."""

    def __init__(self, app):
        self.info = ScriptInfo(create_app=lambda: app)

    def invoke(self, args):
        return CliRunner().invoke(cli, args, obj=self.info)


def test_simulate_shows_each_screen_with_its_count_and_encoding(app):
    runner = AppRunner(app)
    result = runner.invoke(args=["simulate", "--lang", "en", "--inputs", "1*1*98"])
    assert result.exit_code == 0, result.output
    assert "Smugglers' promises" in result.output
    assert result.output.count("characters, GSM-7]") == 4
    arabic = runner.invoke(args=["simulate", "--lang", "ar", "--inputs", "1", "--phone",
                                 "+249912000999"])
    assert "UCS-2]" in arabic.output and "مخاطر الهجرة" not in arabic.output.split("> 1")[1]


def test_simulate_refuses_a_bad_phone_or_language(app):
    runner = AppRunner(app)
    assert runner.invoke(args=["simulate", "--phone", "123"]).exit_code == 2
    assert runner.invoke(args=["simulate", "--lang", "xx"]).exit_code == 2


def test_production_start_up_fails_with_one_readable_error():
    result = CliRunner().invoke(cli, ["db", "current"], env={"HOTLINE_ENV": "production",
                                                             "HOTLINE_DATABASE_URL": ""})
    assert result.exit_code == 1
    assert result.output.startswith("Error: invalid settings:")
    assert "HOTLINE_SECRET_KEY" in result.output and "HOTLINE_REDIS_URL" in result.output
    assert "Traceback" not in result.output


def test_setup_dev_prints_the_webhook_urls_that_exist_and_a_staff_login(app):
    result = AppRunner(app).invoke(["setup-dev"])
    assert result.exit_code == 0, result.output
    token = app.config["WEBHOOK_TOKEN"]
    assert f"http://127.0.0.1:5000/webhooks/at/ussd?token={token}" in result.output
    assert f"/webhooks/at/voice?token={token}" in result.output
    assert "/webhooks/at/sms" not in result.output  # not built yet: no URL that would 404
    assert "/staff/login" in result.output and "password" in result.output


def test_access_log_never_shows_the_webhook_token():
    import logging

    from hotline.app import RedactToken

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - "%s" %s',
                               ("127.0.0.1", "POST /webhooks/at/ussd?token=s3cret&x=1", "200"),
                               None)
    RedactToken().filter(record)
    assert "s3cret" not in record.getMessage() and "token=[redacted]&x=1" in record.getMessage()
