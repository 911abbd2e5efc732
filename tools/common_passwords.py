"""Regenerate hotline/staff/common-passwords.txt from zxcvbn's frequency lists.

zxcvbn (PyPI, MIT) ships the 30,000 most common passwords of Mark Burnett's
corpus; the dashboard keeps the first 10,000 so the file stays small. Run in a
throwaway venv: ``python -m venv /tmp/zx && /tmp/zx/bin/pip install zxcvbn &&
/tmp/zx/bin/python tools/common_passwords.py``. zxcvbn is not a dependency.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-not-found]

TARGET = Path(__file__).resolve().parents[1] / "hotline" / "staff" / "common-passwords.txt"
COUNT = 10_000


def main() -> None:
    version = importlib.metadata.version("zxcvbn")
    lines = [
        "# The 10,000 most common passwords, most common first: the 'passwords' frequency",
        f"# list of zxcvbn {version} (PyPI, MIT licence; from Mark Burnett's",
        "# xato.net corpus). Regenerate with tools/common_passwords.py.",
        *FREQUENCY_LISTS["passwords"][:COUNT],
    ]
    TARGET.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
