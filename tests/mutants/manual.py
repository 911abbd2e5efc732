"""Apply each mutant named in issue 14 by hand, run the test written against it, and
report whether the test failed (killed) as it must. Run from the repository root:

    .venv/bin/python tests/mutants/manual.py [part of a test name]

Restores every file afterwards, even when interrupted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (file, original text, mutated text, pytest node ids that must fail)
MUTANTS: list[tuple[str, str, str, str]] = [
    ("hotline/services/ussd.py",
     "if record is not None and record.text_digest == text_digest:",
     "if False and record is not None and record.text_digest == text_digest:",
     "tests/test_ussd_resilience.py::test_a_repeated_hop_runs_the_action_once_and_no_sql"),
    ("hotline/services/ussd.py",
     "state, screen = engine.replay(inputs, seen[\"lang\"], context, known)",
     "state, screen = engine.replay(inputs, None, context, known)",
     "tests/test_ussd_resilience.py::"
     "test_a_returning_arabic_callers_lost_session_resumes_in_arabic"),
    ("hotline/services/ussd.py",
     "            if row.created:\n                return row.lang, known",
     "            if True:\n                return row.lang, known",
     "tests/test_ussd_resilience.py::"
     "test_a_lost_session_keeps_its_language_when_the_caller_changed_it_elsewhere"),
    ("hotline/app.py",
     "key = network_code if network_code in network_budgets else \"\"",
     "key = \"\"",
     "tests/test_ussd_resilience.py::test_a_network_with_a_larger_screen_gets_longer_screens"),
    ("hotline/services/casework.py",
     "            schedule = cfg.schedule(row.safe_to_call, row.safe_times)\n"
     "            row.next_attempt_at",
     "            schedule = cfg.week\n            row.next_attempt_at",
     "tests/test_callback_rules.py::test_a_no_answer_retry_waits_for_the_callers_evening_window"),
    ("hotline/services/casework.py",
     "CallbackEvent.detail.in_(UNANSWERED)",
     "CallbackEvent.detail.in_((*UNANSWERED, \"reached\", \"wrong_number\", \"not_safe\"))",
     "tests/test_callback_rules.py::test_only_no_answer_and_busy_count_towards_unreachable"),
    ("hotline/worktime.py",
     "today = _aware(now).astimezone(tz).date()",
     "today = _aware(now).date()",
     "tests/test_callback_rules.py::test_at_half_past_one_in_khartoum_today_is_thursday"),
    ("hotline/services/caller_requests.py",
     "    if open_rows:\n        row = min(open_rows, key=lambda r: (r.priority, "
     "utc(r.created_at)))",
     "    if open_rows:\n        row = open_rows[0]",
     "tests/test_callback_rules.py::test_a_missed_call_refreshes_the_most_urgent_open_request"),
    ("hotline/services/caller_requests.py",
     "    if open_rows:\n        row = min(open_rows, key=lambda r: (r.priority, "
     "utc(r.created_at)))",
     "    if open_rows:\n        row = min(open_rows, key=lambda r: (r.priority, r.id))",
     "tests/test_callback_rules.py::test_among_equally_urgent_requests_a_missed_call_refreshes"
     "_the_oldest"),
    ("hotline/webhooks/__init__.py",
     "if not expected or not hmac.compare_digest",
     "if not hmac.compare_digest",
     "tests/test_edge_guards.py::test_an_empty_configured_token_refuses_requests_without_one"),
    ("hotline/app.py",
     "    logs.install(secret_values(app.config))",
     "    pass",
     "tests/test_edge_guards.py::test_the_access_log_of_a_real_server_never_shows_the_token"),
    ("hotline/services/worklist.py",
     'FORMULA_STARTS = ("=", "+", "-", "@", "\\t", "\\r")',
     'FORMULA_STARTS = ("=", "+", "-", "@", "\\t")',
     "tests/test_edge_guards.py::test_a_csv_cell_starting_with_a_control_character_is"
     "_neutralised"),
    ("hotline/jobqueue.py",
     'QUEUES = ("replies", "default", "bulk")',
     'QUEUES = ("bulk", "default", "replies")',
     "tests/test_edge_guards.py::test_workers_send_replies_before_bulk"),
    ("hotline/flows/check.py",
     "unknown = placeholders(catalog.text(lang, key)) - known_vars",
     "unknown = set()",
     "tests/test_flow_validation.py::test_unknown_placeholder"),
    ("hotline/flows/spec.py",
     "for nid in sorted(set(resolved) - seen):",
     "for nid in []:",
     "tests/test_flow_validation.py::test_unreachable_node"),
    ("hotline/content.py",
     "if want != got:",
     "if False:",
     "tests/test_flow_validation.py::test_placeholder_mismatch_between_languages"),
    ("hotline/flows/check.py",
     "node.kind == \"action\" and node.action not in names",
     "node.kind == \"action\" and False",
     "tests/test_flow_validation.py::test_unknown_action"),
    ("hotline/config.py",
     "    found += cross_checks(settings)\n",
     "",
     "tests/test_config_checks.py::"
     "test_production_refuses_to_start_on_a_default_language_without_content"),
    ("hotline/flows/screens.py",
     "candidates.append(\"\\n\".join([hint, *kept]) + tail)",
     "candidates.append(hint + tail)",
     "tests/test_invalid_hint.py::"
     "test_when_it_does_not_fit_the_hint_takes_the_titles_place_and_every_choice_stays"),
    ("hotline/flows/screens.py",
     "return next((c for c in candidates if budget.fits(c)), body + tail)",
     "return candidates[0]",
     "tests/test_invalid_hint.py::test_every_hinted_menu_screen_fits_and_keeps_every_choice"),
    ("hotline/flows/check.py",
     "({maybe_lang or 'every language'}): over the",
     "({lang or 'every language'}): over the",
     "tests/test_check_rules.py::test_the_language_screen_over_budget_names_every_language"),
    ("hotline/flows/engine.py",
     "private=bool(data.get(\"private\", False)))",
     "private=False)",
     "tests/test_check_rules.py::test_a_state_survives_the_store_unchanged"),
    # issue 14, shard 2 (h14a): record_end and is_private
    ("hotline/services/ussd.py",
     "phone = to_e164(fields.get(\"phoneNumber\"), region)",
     "phone = to_e164(fields.get(\"phoneNumber\"), None)",
     "tests/test_ussd_session_ends.py::test_every_field_of_a_report_is_kept_and_linked_to_the_caller"),
    ("hotline/services/ussd.py",
     "session_id=session_id, contact_id=contact.id if contact else None,",
     "session_id=session_id, contact_id=None,",
     "tests/test_ussd_session_ends.py::test_every_field_of_a_report_is_kept_and_linked_to_the_caller"),
    ("hotline/services/ussd.py",
     "        error_message=fields.get(\"errorMessage\", \"\")[:4000],\n",
     "",
     "tests/test_ussd_session_ends.py::test_every_field_of_a_report_is_kept_and_linked_to_the_caller"),
    ("hotline/services/ussd.py",
     "cost=fields.get(\"cost\", \"\")[:40], gateway_date",
     "cost=fields.get(\"cost\", \"XXXX\")[:40], gateway_date",
     "tests/test_ussd_session_ends.py::test_a_bare_report_stores_empty_fields_not_placeholders"),
    ("hotline/services/ussd.py",
     "service_code=fields.get(\"serviceCode\", \"\")[:40],",
     "service_code=fields.get(\"serviceCode\", \"\")[:41],",
     "tests/test_ussd_session_ends.py::test_over_long_fields_are_cut_to_what_is_kept_never_refused"),
    ("hotline/services/ussd.py",
     "status=fields.get(\"status\", \"\")[:20]",
     "status=fields.get(\"status\", \"\")[:21]",
     "tests/test_ussd_session_ends.py::test_over_long_fields_are_cut_to_what_is_kept_never_refused"),
    ("hotline/services/ussd.py",
     ".where(UssdSessionEnd.session_id == session_id)).first()",
     ".where(UssdSessionEnd.session_id != session_id)).first()",
     "tests/test_ussd_session_ends.py::test_each_session_is_stored_once_and_a_later_report_changes_nothing"),
    ("hotline/services/ussd.py",
     "lang = db.session.scalar(START_LANG, {\"p_sid\": fields.get(\"sessionId\", \"\")[:100]})",
     "lang = None",
     "tests/test_ussd_session_ends.py::test_a_returning_callers_not_safe_session_keeps_no_path"),
    ("hotline/services/ussd.py",
     "if len(inputs) > self.ussd[\"max_hops\"]:\n            return True",
     "if len(inputs) >= self.ussd[\"max_hops\"]:\n            return True",
     "tests/test_ussd_session_ends.py::test_a_path_as_long_as_a_session_can_be_is_judged_and_a_longer_one_kept_nowhere"),
    ("hotline/services/ussd.py",
     "if len(inputs) > self.ussd[\"max_hops\"]:\n            return True",
     "if len(inputs) > self.ussd[\"max_hops\"]:\n            return False",
     "tests/test_ussd_session_ends.py::test_a_path_as_long_as_a_session_can_be_is_judged_and_a_longer_one_kept_nowhere"),
    ("hotline/services/ussd.py",
     "phone = to_e164(fields.get(\"phoneNumber\"), self.region)",
     "phone = to_e164(fields.get(\"phoneNumber\"), None)",
     "tests/test_ussd_session_ends.py::test_a_leaders_report_with_a_local_number_keeps_no_pin"),
    ("hotline/services/ussd.py",
     "known = {\"leader\": \"1\"} if phone and db.session.scalar(IS_LEADER",
     "known = {\"leader\": \"1\"} if phone or db.session.scalar(IS_LEADER",
     "tests/test_ussd_session_ends.py::test_a_callers_path_is_judged_by_the_menu_they_saw_not_a_leaders"),
    # issue 14, shard 2 (h14a): request_from_text, open_request, withdraw_for_phone
    ("hotline/services/caller_requests.py",
     "    if not open_rows:\n        _event(row.id, \"created\"",
     "    if open_rows:\n        _event(row.id, \"created\"",
     "tests/test_requests_from_text.py::test_a_text_goes_on_the_request_the_caller_opened_since"),
    ("hotline/services/caller_requests.py",
     "    open_rows = _open_for(contact.id)\n    row = min(open_rows, key=lambda r: (r.priority, "
     "utc(r.created_at))) if open_rows",
     "    open_rows = None\n    row = min(open_rows, key=lambda r: (r.priority, "
     "utc(r.created_at))) if open_rows",
     "tests/test_requests_from_text.py::test_a_text_goes_on_the_request_the_caller_opened_since"),
    ("hotline/services/caller_requests.py",
     "row = min(open_rows, key=lambda r: (r.priority, utc(r.created_at))) if open_rows \\",
     "row = min(open_rows, key=lambda r: None) if open_rows \\",
     "tests/test_requests_from_text.py::test_with_two_open_requests_the_text_goes_on_the_one_called_first"),
    ("hotline/services/caller_requests.py",
     "_event(row.id, \"created\", now, staff_id=staff_id, detail=\"from a text message\")",
     "_event(row.id, \"created\", now, detail=\"from a text message\")",
     "tests/test_requests_from_text.py::test_a_new_request_from_a_text_says_who_made_it_from_what"),
    ("hotline/services/caller_requests.py",
     "_event(row.id, \"created\", now, staff_id=staff_id, detail=\"from a text message\")",
     "_event(row.id, \"CREATED\", now, staff_id=staff_id, detail=\"from a text message\")",
     "tests/test_requests_from_text.py::test_a_new_request_from_a_text_says_who_made_it_from_what"),
    ("hotline/services/caller_requests.py",
     "_event(row.id, \"sms\", now, staff_id=staff_id, detail=\"text message from the caller\",",
     "_event(row.id, \"sms\", now, staff_id=None, detail=\"text message from the caller\",",
     "tests/test_requests_from_text.py::test_a_new_request_from_a_text_says_who_made_it_from_what"),
    ("hotline/services/caller_requests.py",
     "detail=\"text message from the caller\",\n           note=text)",
     "note=text)",
     "tests/test_requests_from_text.py::test_a_new_request_from_a_text_says_who_made_it_from_what"),
    ("hotline/services/caller_requests.py",
     "    row = min(rows, key=lambda r: (r.priority, utc(r.created_at)))\n    return OpenRequest",
     "    row = min(rows, key=lambda r: None)\n    return OpenRequest",
     "tests/test_caller_own_requests.py::test_my_call_request_shows_the_request_called_first"),
    ("hotline/services/caller_requests.py",
     "select(CallbackRequest).where(CallbackRequest.contact_id == contact.id,\n"
     "                                      CallbackRequest.status == \"open\").with_for_update()",
     "select(CallbackRequest).where(CallbackRequest.status == \"open\").with_for_update()",
     "tests/test_caller_own_requests.py::test_stopping_everything_closes_only_this_callers_open_requests"),
    ("hotline/services/caller_requests.py",
     "select(CallbackRequest).where(CallbackRequest.contact_id == contact.id,\n"
     "                                      CallbackRequest.status == \"open\").with_for_update()",
     "select(CallbackRequest).where(CallbackRequest.contact_id == contact.id,\n"
     "                                      ).with_for_update()",
     "tests/test_caller_own_requests.py::test_stopping_everything_closes_only_this_callers_open_requests"),
    # issue 14, shard 2 (h14a): busy and known_language
    ("hotline/services/ussd.py",
     "lang = self.known_language(hop, ask_database=False) if hop.text else None",
     "lang = None",
     "tests/test_ussd_busy.py::test_a_hop_turned_away_reads_busy_in_the_sessions_language_and_can_go_on"),
    ("hotline/services/ussd.py",
     "return self._error(\"error.busy\", lang)",
     "return self._error(\"error.busy\", None)",
     "tests/test_ussd_busy.py::test_a_hop_turned_away_reads_busy_in_the_sessions_language_and_can_go_on"),
    ("hotline/services/ussd.py",
     "lang = self.known_language(hop, ask_database=False) if hop.text else None",
     "lang = self.known_language(hop, ask_database=True) if hop.text else None",
     "tests/test_ussd_busy.py::test_busy_asks_nothing_of_the_database_even_for_a_known_caller"),
    ("hotline/services/ussd.py",
     "            record = self._record(hop)\n            if record is not None and record.state",
     "            record = None\n            if record is not None and record.state",
     "tests/test_ussd_busy.py::test_a_hop_turned_away_reads_busy_in_the_sessions_language_and_can_go_on"),
    ("hotline/services/ussd.py",
     "phone = to_e164(hop.phone, self.region) if ask_database else None",
     "phone = to_e164(hop.phone, self.region) if (ask_database) or True else None",
     "tests/test_ussd_busy.py::test_busy_asks_nothing_of_the_database_even_for_a_known_caller"),
    # issue 14, shard 2 (h14a): _new_unknown, reached from a text made into a request
    ("hotline/services/caller_requests.py",
     "def _new_unknown(contact: Contact, channel: str, now: datetime, rings: int = 0",
     "def _new_unknown(contact: Contact, channel: str, now: datetime, rings: int = 1",
     "tests/test_requests_from_text.py::test_a_request_made_from_a_text_on_a_day_off_waits_for_working_hours"),
    ("hotline/services/caller_requests.py",
     "                          next_attempt_at=schedule.next_open(now).astimezone(UTC))",
     "                          next_attempt_at=None)",
     "tests/test_requests_from_text.py::test_a_request_made_from_a_text_on_a_day_off_waits_for_working_hours"),
    # issue 14, shard 2 (h14a): the contact row lock of request_from_text
    ("hotline/services/caller_requests.py",
     "where(Contact.id == contact.id).with_for_update())\n"
     "    open_rows = _open_for(contact.id)\n    row = min(",
     "where(Contact.id != contact.id).with_for_update())\n"
     "    open_rows = _open_for(contact.id)\n    row = min(",
     "tests/test_one_caller_at_a_time.py::"
     "test_a_text_made_into_a_request_meanwhile_goes_on_the_callers_new_request"),
    ("hotline/services/caller_requests.py",
     "where(Contact.id == contact.id).with_for_update())\n"
     "    open_rows = _open_for(contact.id)\n    row = min(",
     "where(None).with_for_update())\n"
     "    open_rows = _open_for(contact.id)\n    row = min(",
     "tests/test_one_caller_at_a_time.py::"
     "test_a_text_made_into_a_request_meanwhile_goes_on_the_callers_new_request"),
    # issue 14, shard 2 (h14a): known_language (error screens) and bilingual
    ("hotline/services/ussd.py",
     "phone = to_e164(hop.phone, self.region) if ask_database else None",
     "phone = to_e164(hop.phone, None) if ask_database else None",
     "tests/test_ussd_error_language.py::test_a_returning_caller_with_a_local_number_reads_errors_in_their_language"),
    ("hotline/services/ussd.py",
     "langs = sorted(self.catalog.languages, key=lambda lg: lg != self.default_lang)",
     "langs = sorted(self.catalog.languages)",
     "tests/test_ussd_error_language.py::test_a_caller_of_unknown_language_reads_the_default_language_first"),
]


def main() -> int:
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    failures = 0
    for path, old, new, test in MUTANTS:
        if only not in test:
            continue
        file = ROOT / path
        original = file.read_text()
        if original.count(old) != 1:
            print(f"SKIP  {path}: the original text is not there once (code changed?)")
            failures += 1
            continue
        try:
            file.write_text(original.replace(old, new))
            result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                                     "-q", "-x", test], cwd=ROOT, capture_output=True, text=True)
        finally:
            file.write_text(original)
        if result.returncode in (2, 3, 4, 5):  # interrupted, internal error, usage, no tests
            print(f"ERROR  {test}: pytest exited {result.returncode}, not a test failure")
            failures += 1
            continue
        killed = result.returncode == 1
        failures += not killed
        print(f"{'KILLED' if killed else 'SURVIVED'}  {path}: {new.strip()[:60]!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
