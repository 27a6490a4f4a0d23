"""Argument kinds: each checks and normalizes one Keras argument value.

A kind is called as `kind(arg_name, value)` and returns the normalized value or
raises ArgError in Keras's wording ("... Received: units=0"). `describe` is
what `seqcli catalog` shows. Nothing here imports numpy.
"""

from __future__ import annotations

import dataclasses
import math

from seqcli.errors import ArgError, did_you_mean

REQUIRED = dataclasses.MISSING


def arg(kind, default=REQUIRED, doc: str = "", keras: str = ""):
    """A layer dataclass field carrying its argument kind and one-line doc; `keras` is
    Keras's name for it where that would shadow a method (EinsumDense's output_shape)."""
    metadata = {"kind": kind, "doc": doc, "keras": keras}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _received(name, value) -> str:
    return f"Received: {name}={value!r}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Int:
    def __init__(self, minimum: int | None = 1):
        self.minimum = minimum
        self.describe = "int" if minimum is None else f"int >= {minimum}"

    def __call__(self, name, value):
        if not _is_int(value) or (self.minimum is not None and value < self.minimum):
            want = "an integer" if self.minimum is None else (
                "a positive integer" if self.minimum == 1 else f"an integer >= {self.minimum}")
            raise ArgError(name, f"Invalid value for argument `{name}`: expected {want}. "
                           + _received(name, value))
        return value


class Float:
    def __init__(self, low: float | None = None, high: float | None = None):
        self.low, self.high = low, high
        if low is not None and high is not None:
            self.describe = f"float between {low:g} and {high:g}"
        elif low is not None or high is not None:
            self.describe = f"float {'>=' if low is not None else '<='} {low if high is None else high:g}"
        else:
            self.describe = "float"

    def __call__(self, name, value):
        ok = _is_number(value) and math.isfinite(value)
        ok = ok and (self.low is None or value >= self.low)
        ok = ok and (self.high is None or value <= self.high)
        if not ok:
            raise ArgError(name, f"Invalid value for argument `{name}`: expected a "
                           f"{self.describe}. " + _received(name, value))
        return float(value)


class Bool:
    describe = "bool"

    def __call__(self, name, value):
        if not isinstance(value, bool):
            raise ArgError(name, f"Invalid value for argument `{name}`: expected true or "
                           "false. " + _received(name, value))
        return value


class Choice:
    """One of fixed strings, case-insensitive as Keras's `padding` is."""

    def __init__(self, *options: str):
        self.options = options
        self.describe = " | ".join(options)

    def __call__(self, name, value):
        if isinstance(value, str) and value.lower() in self.options:
            return value.lower()
        hint = did_you_mean(value, self.options) if isinstance(value, str) else ""
        raise ArgError(name, f"Invalid value for argument `{name}`: expected one of "
                       f"{', '.join(self.options)}. " + _received(name, value) + hint)


class IntTuple:
    """An int or a list of `n` ints, normalized to a tuple (Keras's standardize_tuple)."""

    def __init__(self, n: int, allow_zero: bool = False):
        self.n, self.allow_zero = n, allow_zero
        self.describe = f"int or list of {n} ints"

    def __call__(self, name, value):
        if _is_int(value):
            values = (value,) * self.n
        elif isinstance(value, (list, tuple)) and len(value) == self.n and all(map(_is_int, value)):
            values = tuple(value)
        else:
            raise ArgError(name, f"The `{name}` argument must be a tuple of {self.n} "
                           f"integers. " + _received(name, value))
        low = 0 if self.allow_zero else 1
        if min(values) < low:
            raise ArgError(name, f"The `{name}` argument must be a tuple of {self.n} "
                           f"integers, each >= {low}. " + _received(name, value))
        return values


class ShapeArg:
    """A sample shape: a list of positive ints or nulls (unknown), batch excluded."""

    describe = "list of (int >= 1 | null)"

    def __call__(self, name, value):
        if _is_int(value):
            value = [value]
        ok = isinstance(value, (list, tuple)) and all(v is None or (_is_int(v) and v > 0)
                                                      for v in value)
        if not ok:
            raise ArgError(name, f"Invalid value for argument `{name}`: expected a list of "
                           "positive integers or null, e.g. [250, 250, 3]. "
                           + _received(name, value))
        return tuple(value)


class Optional:
    def __init__(self, kind):
        self.kind = kind
        self.describe = f"{kind.describe} | null"

    def __call__(self, name, value):
        return None if value is None else self.kind(name, value)


class ActivationArg:
    describe = "activation name | null"

    def __call__(self, name, value):
        from seqcli.activations import ACTIVATIONS

        if value is None or value in ACTIVATIONS:
            return value
        hint = did_you_mean(value, ACTIVATIONS) if isinstance(value, str) else ""
        raise ArgError(name, f"Could not interpret activation function identifier: "
                       f"{value!r}{hint}. Known: {', '.join(sorted(ACTIVATIONS))}")


class InitializerArg:
    """A Keras initializer: a name, or a one-key mapping {name: {args}}."""

    describe = "initializer name | {name: {args}}"

    def __call__(self, name, value):
        from seqcli.initializers import check_initializer

        try:
            return check_initializer(value)
        except ValueError as exc:
            raise ArgError(name, f"Invalid value for argument `{name}`: {exc}")


class LayerName:
    describe = "str"

    def __call__(self, name, value):
        if not isinstance(value, str) or not value or "/" in value:
            raise ArgError(name, "Argument `name` must be a non-empty string and cannot "
                           "contain the character `/`. " + _received(name, value))
        return value


class TargetShape:
    """Reshape's target: positive ints, with at most one -1 to infer."""

    describe = "list of (int >= 1 | -1)"

    def __call__(self, name, value):
        if _is_int(value):
            value = [value]
        ok = isinstance(value, (list, tuple)) and value and all(
            _is_int(v) and (v > 0 or v == -1) for v in value)
        if not ok or list(value).count(-1) > 1:
            raise ArgError(name, f"Invalid value for argument `{name}`: expected a list of "
                           "positive integers with at most one -1. " + _received(name, value))
        return tuple(value)


class Axes:
    """An axis or list of axes (negative counts from the end; 0 is the batch axis)."""

    describe = "int | list of ints"

    def __call__(self, name, value):
        values = [value] if _is_int(value) else value
        if not isinstance(values, (list, tuple)) or not values or not all(map(_is_int, values)):
            raise ArgError(name, f"Invalid value for argument `{name}`: expected an integer "
                           "axis or a list of them. " + _received(name, value))
        return value if _is_int(value) else tuple(values)


class Margins:
    """Padding or cropping per spatial axis, normalized to ((before, after), ...):
    an int for all; one int per axis (both sides); or one (before, after) per axis.
    In 1-D Keras takes an int or a single (before, after)."""

    def __init__(self, rank: int):
        self.rank = rank
        self.describe = "int | list of (before, after) per axis" if rank > 1 else \
            "int | [before, after]"

    def __call__(self, name, value):
        pairs = self._pairs(value)
        flat = pairs if self.rank > 1 or pairs is None else (pairs,)
        if pairs is None or any(v < 0 for pair in flat for v in pair):
            raise ArgError(name, f"`{name}` should be a non-negative int, or "
                           f"{'a tuple of 2 ints' if self.rank == 1 else f'a tuple of {self.rank} ints or of {self.rank} tuples of 2 ints'}. "
                           + _received(name, value))
        return pairs

    def _pairs(self, value):
        if _is_int(value):
            return (value, value) if self.rank == 1 else ((value, value),) * self.rank
        if not isinstance(value, (list, tuple)):
            return None
        if self.rank == 1:  # Keras keeps a flat (before, after) here
            return tuple(value) if len(value) == 2 and all(map(_is_int, value)) else None
        if len(value) != self.rank:
            return None
        pairs = []
        for item in value:
            if _is_int(item):
                pairs.append((item, item))
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(map(_is_int, item)):
                pairs.append(tuple(item))
            else:
                return None
        return tuple(pairs)
