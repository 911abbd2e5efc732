"""``make mutants``: mutmut over the pure core (or the callback and USSD services) in a
scratch copy of the working tree, with the fast tests that cover it; prints the score
and every surviving mutant with its diff.

    .venv/bin/python tests/mutants/run.py [core|services] [--jobs N]

Not part of CI: the core takes about half an hour on two shared cores; the services
(real PostgreSQL and Redis per mutant) several hours. The copy lives under the system
temp directory, so nothing is written into the working tree. The services scope needs
``HOTLINE_TEST_DATABASE_URL`` and ``HOTLINE_TEST_REDIS_URL`` like ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
         "tests/test_ussd_resilience.py", "tests/test_voice_webhook.py"],
    ),
}



def scratch_copy(scope: str, root: Path = ROOT, label: str = "") -> Path:
    """Tracked and new (not ignored) files as they are now, in a fresh directory."""
    target = Path(tempfile.gettempdir()) / f"hotline-mutants-{os.getuid()}-{scope}{label}"
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


def score(copy: Path) -> tuple[dict[str, int], list[str]]:
    """Counts per status and the surviving mutant names, from mutmut's own records."""
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=copy,
                         capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    survivors = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        counts[status] = counts.get(status, 0) + 1
        if status == "survived":
            survivors.append(name)
    return counts, survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scope", nargs="?", default="core", choices=sorted(SCOPES))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--no-diffs", action="store_true")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="another checkout (e.g. main, for a score before a change)")
    args = parser.parse_args()
    copy = scratch_copy(args.scope, args.root.resolve(),
                        "" if args.root.resolve() == ROOT else "-" + args.root.resolve().name)
    configure(copy, args.scope)
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "CI": "true"}  # the fixed hypothesis profile: same examples each run
    subprocess.run(["nice", "-n", "19", str(mutmut), "run", "--max-children", str(args.jobs)],
                   cwd=copy, env=env)
    counts, survivors = score(copy)
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("timeout", 0) \
        + counts.get("caught by type check", 0)
    print(f"\n{args.scope}: {killed}/{total} mutants killed "
          f"({100 * killed / max(total, 1):.1f}%); " +
          ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for name in survivors:
        if args.no_diffs:
            print(f"survived: {name}")
            continue
        shown = subprocess.run([str(mutmut), "show", name], cwd=copy, capture_output=True,
                               text=True).stdout
        print(shown)
    print(f"(scratch copy: {copy}; `cd {copy} && {mutmut} show <name>` for one mutant)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
