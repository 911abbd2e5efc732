"""``make mutants``: mutmut over the pure core (or the callback and USSD services) in a
scratch copy of the working tree, with the fast tests that cover it (mutmut runs, per
mutant, only the tests that executed the mutated function); prints every surviving
mutant with its diff, then the score per module.

    .venv/bin/python tests/mutants/run.py [core|services] [MUTANT ...] [--jobs N]
        [--again | --resume] [--nice N] [--no-diffs]

Not part of CI: on two cores the core takes about 15 minutes with ``--jobs 2``; the
services (real PostgreSQL and Redis per mutant) some hours. The services' tests share a
database and a Redis, so ``--jobs N`` there deals the mutants into N shards (by the
mutant number's last digit, so each has its share of every function), each in
its own scratch copy with its own database (``<test database>_mutants_K``) and Redis db
(``<test Redis db> - K``), run side by side. The copies live under the system temp
directory, so nothing is written into the working tree. The services scope needs
``HOTLINE_TEST_DATABASE_URL`` and ``HOTLINE_TEST_REDIS_URL`` like ``make test``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCOPES = {
    "core": (
        ["hotline/flows/*", "hotline/textcodec.py", "hotline/normalize.py",
         "hotline/worktime.py"],
        # the fast subset: no app, no database; test_cli and test_content_topics also cover
        # the core but render every real screen per mutant (hours more on two cores)
        ["tests/test_engine.py", "tests/test_textcodec.py", "tests/test_normalize.py",
         "tests/test_worktime.py", "tests/test_textrules.py", "tests/test_flow_validation.py",
         "tests/test_invalid_hint.py", "tests/test_check_rules.py",
         "tests/test_core_edges.py"],
    ),
    "services": (
        ["hotline/services/caller_requests.py", "hotline/services/casework.py",
         "hotline/services/callback_policy.py", "hotline/services/ussd.py"],
        # every test file that drives these modules in-process (mutmut runs, per mutant,
        # only those that executed the mutated function); not the browser tests, whose
        # pages the staff tests here already post to
        ["tests/test_callback_service.py", "tests/test_callback_flow.py",
         "tests/test_callback_rules.py", "tests/test_webhook_ussd.py",
         "tests/test_ussd_resilience.py", "tests/test_ussd_connections.py",
         "tests/test_voice_webhook.py", "tests/test_caller_exit.py",
         "tests/test_sms_conversation.py", "tests/test_outbox_callbacks.py",
         "tests/test_error_screens.py", "tests/test_webhook_bad_input.py",
         # the webhooks' hostile input only: the staff forms' (sign-in, queue, accounts)
         # reach these modules through their fixtures alone, at up to a minute a test
         "tests/test_hostile_input.py::test_hostile_webhooks",
         "tests/test_hostile_input.py::test_the_events_webhook_named_in_the_issue",
         "tests/test_staff_simulator.py",
         # the dial tells the menus whether the caller is a registered leader
         "tests/test_alerts_leader.py", "tests/test_alerts_ussd.py",
         "tests/test_alerts_own.py",
         # a message in the staff inbox turned into a callback request
         "tests/test_staff_inbox.py",
         # written against the survivors of the first whole run (November 2026)
         "tests/test_ussd_session_ends.py", "tests/test_requests_from_text.py",
         "tests/test_one_caller_at_a_time.py", "tests/test_caller_own_requests.py",
         "tests/test_ussd_busy.py", "tests/test_ussd_error_language.py",
         "tests/test_exit_races.py", "tests/test_casework_rules.py",
         "tests/test_casework_refusals.py",
         # the lost COMMIT reply (caller_requests._commit_or_verify); the other fault
         # tests run a proxy and a load for seconds each
         "tests/test_faults.py::test_a_commit_whose_reply_is_lost_is_confirmed_only_if_stored",
         # staff work on a request (casework) and its policy
         "tests/test_staff_requests.py", "tests/test_callback_queue.py",
         "tests/test_worklist.py", "tests/test_worklist_pages.py",
         # (not test_staff_errors.py: it reads the modules' source, which mutmut's copy
         # holds once per mutant)
         "tests/test_reveal_limits.py",
         "tests/test_staff_urgent.py", "tests/test_staff_supervisor.py"],
    ),
}



def scratch_copy_path(scope: str, label: str = "") -> Path:
    return Path(tempfile.gettempdir()) / f"hotline-mutants-{os.getuid()}-{scope}{label}"


def scratch_copy(scope: str, root: Path = ROOT, label: str = "", keep: bool = False) -> Path:
    """Tracked and new (not ignored) files as they are now, in a fresh directory (or over
    the last run's copy, keeping mutmut's results, with ``keep``)."""
    target = scratch_copy_path(scope, label)
    if not keep:
        shutil.rmtree(target, ignore_errors=True)
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=root, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def shards(count: int) -> list[str]:
    """One mutant-name pattern per shard, by the mutant number's last digit: every shard
    gets its share of every function, so they finish together (shards of whole modules
    left one core idle for an hour while the other worked through ``submit``)."""
    count = max(1, min(count, 10))
    return [f"hotline.services.*__mutmut_*[{''.join(str(d) for d in range(k, 10, count))}]"
            for k in range(count)]


def shard_services(number: int) -> dict[str, str]:
    """Shard ``number``'s own database and Redis db, beside the tests' own."""
    from sqlalchemy.engine import make_url

    database = make_url(os.environ["HOTLINE_TEST_DATABASE_URL"])
    database = database.set(database=f"{database.database}_mutants_{number}")
    redis_url, _, db = os.environ["HOTLINE_TEST_REDIS_URL"].rpartition("/")
    index = int(db or 0) - number
    if index < 0:
        raise SystemExit("--jobs: the test Redis db number must exceed the number of shards")
    return {"HOTLINE_TEST_DATABASE_URL": database.render_as_string(hide_password=False),
            "HOTLINE_TEST_REDIS_URL": f"{redis_url}/{index}"}


def configure(copy: Path, scope: str) -> None:
    """mutmut reads ``[tool.mutmut]`` from pyproject.toml; this scope's goes there."""
    files, wanted = SCOPES[scope]
    # an older checkout has fewer files
    tests = [t for t in wanted if (copy / t.partition("::")[0]).is_file()]

    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    with (copy / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[tool.mutmut]\nsource_paths = [\"hotline\"]\n"
                 f"only_mutate = {toml_list(files)}\n"
                 f"also_copy = {toml_list(['config', 'content', 'flows', 'tests'])}\n"
                 f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', '-q'])}\n"
                 f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n")


KILLED = ("killed", "timeout", "caught by type check")
MODULE = re.compile(r"^(?P<module>.+?)\.x[_\u01c1]")  # hotline.flows.engine.xǁEngineǁstep__mutmut_3


def score(copy: Path, unchecked: bool = False) -> dict[str, dict[str, str]]:
    """Each checked mutant's status, by module, from mutmut's own records (mutants a
    sample did not run, or a stopped run did not reach, are "not checked": left out
    unless ``unchecked``)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=copy,
                         capture_output=True, text=True).stdout
    by_module: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or (status == "not checked" and not unchecked):
            continue
        found = MODULE.match(name)
        by_module.setdefault(found["module"] if found else "?", {})[name] = status
    return by_module


def summary(label: str, statuses: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    total = sum(counts.values())
    killed = sum(counts.get(s, 0) for s in KILLED)
    return (f"{label}: {killed}/{total} mutants killed ({100 * killed / max(total, 1):.1f}%); "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scope", nargs="?", default="core", choices=sorted(SCOPES))
    parser.add_argument("names", nargs="*", metavar="MUTANT",
                        help="only these mutants (mutmut names, * wildcards), e.g. "
                             "'hotline.services.ussd.*' or '*ǁUssdServiceǁ_handle__mutmut_*'")
    parser.add_argument("--jobs", type=int, default=1,
                        help="mutants at once (services: N shards by mutant number, each "
                             "with its own database and Redis db; not with MUTANT names)")
    parser.add_argument("--again", action="store_true",
                        help="re-test only the mutants the last run of this scope left alive "
                             "(after adding tests: killed ones stay killed while the code is "
                             "the same, and mutmut re-tests any function whose code changed)")
    parser.add_argument("--resume", action="store_true",
                        help="finish a stopped run of this scope: only the mutants it did not "
                             "reach (with MUTANT names: only those)")
    parser.add_argument("--nice", type=int, default=19,
                        help="niceness of the run (19: only idle CPU; on a machine others keep "
                             "busy that is next to nothing, so give 5 or 0 there)")
    parser.add_argument("--no-diffs", action="store_true")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="another checkout (e.g. main, for a score before a change)")
    args = parser.parse_intermixed_args()
    root = args.root.resolve()
    label = "" if root == ROOT else "-" + root.name
    keep = args.again or args.resume
    if args.scope == "services" and args.jobs > 1 and not args.names:
        runs = [(f"{label}-shard{n}", [pattern], shard_services(n), 1)
                for n, pattern in enumerate(shards(args.jobs), 1)]
    else:
        jobs = 1 if args.scope == "services" else args.jobs
        runs = [(label, list(args.names), {}, jobs)]
    def wanted(status: str) -> bool:
        if args.again:
            return status not in KILLED and status != "not checked"
        return status == "not checked"

    copies: list[tuple[Path, dict[str, str], list[str], int]] = []
    for suffix, names, services, jobs in runs:
        copy = scratch_copy(args.scope, root, suffix, keep=keep)
        configure(copy, args.scope)
        if args.again or (args.resume and names):
            # named mutants are always re-tested: name only the survivors (--again) or
            # those not reached (--resume), of the names or patterns given
            names = [name for statuses in score(copy, unchecked=True).values()
                     for name, status in statuses.items() if wanted(status)
                     and (not names or any(fnmatch.fnmatch(name, p) for p in names))]
            if not names:
                continue  # nothing of that kind in this copy
        copies.append((copy, services, names, jobs))
    if args.again:
        if not copies:
            print("--again: no earlier run of this scope left a mutant alive to re-test")
            return 1
        print(f"--again: re-testing {sum(len(n) for _, _, n, _ in copies)} mutant(s) the last "
              "run left alive")
    elif args.resume:
        print("--resume: the mutants the last run did not reach")
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    # CI=true: the fixed hypothesis profile, the same examples each run
    running = [subprocess.Popen(["nice", "-n", str(args.nice), str(mutmut), "run",
                                 "--max-children", str(jobs), *names], cwd=copy,
                                env={**os.environ, "CI": "true", **services})
               for copy, services, names, jobs in copies]
    for process in running:
        process.wait()
    minutes = (time.monotonic() - started) / 60
    by_module: dict[str, dict[str, str]] = {}
    shown_in: dict[str, Path] = {}
    for suffix, *_ in runs:  # every shard's records, not only what this run re-tested
        copy = scratch_copy_path(args.scope, suffix)
        for module, statuses in score(copy).items():
            by_module.setdefault(module, {}).update(statuses)
            shown_in.update(dict.fromkeys(statuses, copy))
    survivors = sorted(name for statuses in by_module.values()
                       for name, status in statuses.items() if status not in KILLED)
    for name in survivors:
        if args.no_diffs:
            print(f"{by_module_status(by_module, name)}: {name}")
            continue
        shown = subprocess.run([str(mutmut), "show", name], cwd=shown_in[name],
                               capture_output=True, text=True).stdout
        print(shown)
    print()
    for module, statuses in sorted(by_module.items()):
        print(summary(f"  {module}", statuses))
    print(summary(args.scope + (" (sample: " + " ".join(args.names) + ")" if args.names
                                else ""),
                  {n: s for statuses in by_module.values() for n, s in statuses.items()}))
    print(f"{minutes:.1f} minutes, {len(running)} run(s) of "
          f"{', '.join(str(jobs) for *_, jobs in copies)} job(s); "
          f"load {os.getloadavg()[0]:.1f}")
    for copy, *_ in copies:
        print(f"(scratch copy: {copy}; `cd {copy} && {mutmut} show <name>` for one mutant)")
    return 0


def by_module_status(by_module: dict[str, dict[str, str]], name: str) -> str:
    return next(s[name] for s in by_module.values() if name in s)


if __name__ == "__main__":
    sys.exit(main())
