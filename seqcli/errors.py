"""The project's error types and exit statuses: every message says where the problem is."""

from contextlib import contextmanager
from enum import IntEnum


class Status(IntEnum):
    """What `seqcli` exits with (the contract's exit statuses)."""

    OK = 0
    FAILED = 1  # bad input (spec, data, weights) or a failed operation
    USAGE = 2  # the command line itself is wrong
    CHECK = 3  # a check ran and found a budget exceeded or a difference
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class SeqcliError(Exception):
    """A problem with the user's input: shown as one line, exit status 1."""

    def __init__(self, message: str, where: str = ""):
        # one line, always: a name from the user may hold a newline or other control
        message, where = _one_line(message), _one_line(where)
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def blame_data(exc: SeqcliError, where: str) -> SeqcliError:
    """A shape error met while building a model for data: name the data's file, before
    the message, or after it when the error is placed in the spec."""
    if not where:
        return exc
    if exc.where:
        return SeqcliError(f"{exc.message} (for the data in {where})", exc.where)
    return SeqcliError(exc.message, where)


@contextmanager
def about_data(where: str):
    """Errors the data causes while it is read or computed on (NaN, an Embedding index
    out of range) and that name no place get the data's file as their place."""
    try:
        yield
    except SeqcliError as exc:
        if exc.where or not where:
            raise
        raise SeqcliError(exc.message, where) from None


class ArgError(ValueError):
    """A layer argument is wrong; `arg` names it so the loader can locate it."""

    def __init__(self, arg: str, message: str):
        super().__init__(message)
        self.arg = arg


def did_you_mean(word: str, choices) -> str:
    """A ' (did you mean X?)' hint for near misses, else ''."""
    import difflib

    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def _one_line(text: str) -> str:
    """Control characters (newlines, tabs, escapes) shown escaped, as Python would."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
