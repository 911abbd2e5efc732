"""Exceptions of the hotline, kept flat (rq style) so any layer can raise them."""


# The whole answer to a request that met a bug, wherever it is answered: no detail of
# the bug (that goes to the log).
INTERNAL_ERROR = "500 Internal Server Error\n"


class HotlineError(Exception):
    """Base of every error this package raises on purpose."""


def N_(text: str) -> str:
    """Mark a text for translation where it is written (``pybabel extract`` knows ``N_``);
    the dashboard translates it where it shows it."""
    return text


class Said(str):
    """An English message that a page can show in its reader's language: the ``template``
    (marked with ``N_``) and the ``values`` it is filled with."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> "Said":
        said = super().__new__(cls, template % values if values else template)
        said.template, said.values = template, values
        return said


class CodedError(HotlineError):
    """An error a person reads: ``code`` names it and ``values`` fill it, so the dashboard
    shows it in the reader's language (``hotline.staff.labels``); the message is English,
    for logs and for callers without a table. A kind of error that always means the same
    thing names its ``code`` once, on the class."""

    code: str = ""

    def __init__(self, message: str, code: str = "", **values: object) -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.values = values


class ConfigError(HotlineError):
    """Settings are missing or invalid; carries every problem, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings:\n  - " + "\n  - ".join(self.problems))


class SpecError(HotlineError):
    """Flows or content do not load; carries every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in flows/content:\n  " +
                         "\n  ".join(self.problems))


class ScreenTooLong(HotlineError):
    """A single word or line cannot fit a USSD screen even on a page of its own."""
