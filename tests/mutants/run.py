"""``make mutants``: mutmut over the pure core (or the callback and USSD services) in a
scratch copy of the working tree, with the fast tests that cover it (mutmut runs, per
mutant, only the tests that executed the mutated function); prints every surviving
mutant with its diff, then the score per module.

    .venv/bin/python tests/mutants/run.py [core|services] [MUTANT ...] [--jobs N]
        [--again | --resume] [--nice N] [--no-diffs]

Not part of CI: on two cores other work keeps busy the core takes most of an hour; the
services (real PostgreSQL and Redis per mutant, one at a time) about 15 hours, so run
them per function or module (MUTANT names with ``*``). The copy lives under the system
temp directory, so nothing is written into the working tree. The services scope needs
``HOTLINE_TEST_DATABASE_URL`` and ``HOTLINE_TEST_REDIS_URL`` like ``make test``.
"""

from __future__ import annotations

import argparse
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
        ["tests/test_callback_service.py", "tests/test_callback_flow.py",
         "tests/test_callback_rules.py", "tests/test_webhook_ussd.py",
         "tests/test_ussd_resilience.py", "tests/test_voice_webhook.py",
         # the dial tells the menus whether the caller is a registered leader
         "tests/test_alerts_leader.py"],
    ),
}



def scratch_copy(scope: str, root: Path = ROOT, label: str = "", keep: bool = False) -> Path:
    """Tracked and new (not ignored) files as they are now, in a fresh directory (or over
    the last run's copy, keeping mutmut's results, with ``keep``)."""
    target = Path(tempfile.gettempdir()) / f"hotline-mutants-{os.getuid()}-{scope}{label}"
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


def configure(copy: Path, scope: str) -> None:
    """mutmut reads ``[tool.mutmut]`` from pyproject.toml; this scope's goes there."""
    mutate, wanted = SCOPES[scope]
    tests = [t for t in wanted if (copy / t).is_file()]  # an older checkout has fewer

    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    with (copy / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[tool.mutmut]\nsource_paths = [\"hotline\"]\n"
                 f"only_mutate = {toml_list(mutate)}\n"
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
                        help="mutants at once (core only: the services' tests share one "
                             "database and Redis, so they run one at a time)")
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
    jobs = 1 if args.scope == "services" else args.jobs
    label = "" if args.root.resolve() == ROOT else "-" + args.root.resolve().name
    names = list(args.names)
    if args.again or args.resume:
        copy = scratch_copy(args.scope, args.root.resolve(), label, keep=True)
        configure(copy, args.scope)
    if args.again:
        alive = [name for statuses in score(copy).values()
                 for name, status in statuses.items() if status not in KILLED]
        if not alive:
            print("--again: no earlier run of this scope left a mutant alive to re-test")
            return 1
        names = names or alive
        print(f"--again: re-testing {len(names)} mutant(s) the last run left alive")
    elif args.resume:
        print("--resume: the mutants the last run did not reach")
    else:
        copy = scratch_copy(args.scope, args.root.resolve(), label)
        configure(copy, args.scope)
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "CI": "true"}  # the fixed hypothesis profile: same examples each run
    started = time.monotonic()
    subprocess.run(["nice", "-n", str(args.nice), str(mutmut), "run", "--max-children", str(jobs),
                    *names], cwd=copy, env=env)
    minutes = (time.monotonic() - started) / 60
    by_module = score(copy)
    survivors = sorted(name for statuses in by_module.values()
                       for name, status in statuses.items() if status not in KILLED)
    for name in survivors:
        if args.no_diffs:
            print(f"{by_module_status(by_module, name)}: {name}")
            continue
        shown = subprocess.run([str(mutmut), "show", name], cwd=copy, capture_output=True,
                               text=True).stdout
        print(shown)
    print()
    for module, statuses in sorted(by_module.items()):
        print(summary(f"  {module}", statuses))
    print(summary(args.scope + (" (sample: " + " ".join(args.names) + ")" if args.names
                                else ""),
                  {n: s for statuses in by_module.values() for n, s in statuses.items()}))
    print(f"{minutes:.1f} minutes with {jobs} job(s); load {os.getloadavg()[0]:.1f}")
    print(f"(scratch copy: {copy}; `cd {copy} && {mutmut} show <name>` for one mutant)")
    return 0


def by_module_status(by_module: dict[str, dict[str, str]], name: str) -> str:
    return next(s[name] for s in by_module.values() if name in s)


if __name__ == "__main__":
    sys.exit(main())
