"""Named training settings: a loss, optimizer or metric and its Keras arguments.

Accepted forms, as in `model.compile(...)` and in the spec's `compile:` section:
a name (`adam`, `Adam`, `mse`), a one-key mapping ({adam: {learning_rate: 0.01}}), a
one-key mapping to Keras's positional arguments ({Adam: [0.001]}), or a Keras-style call
('SGD(0.1, momentum=0.9)', 'Adam(1e-3)'; literals only, never evaluated).
"""

from __future__ import annotations

from seqcli.errors import SeqcliError, did_you_mean


def resolve(value, table: dict, aliases: dict, what: str, where: str = "",
            order: dict | None = None, checks: dict | None = None) -> tuple[str, dict]:
    """(canonical name, full arguments with Keras's defaults), every argument checked.
    `order` names each setting's positional arguments in Keras's order; `checks` holds
    argument checks (key, or (name, key) for one setting's own, -> function returning an
    error or None) beyond the types."""
    name, args = named(value, table, aliases, what, where, order)
    canonical = _canonical(name, table, aliases)
    defaults, checks = table[canonical], checks or {}
    for key, given in args.items():
        if key not in defaults:
            raise SeqcliError(f"{canonical} has no argument `{key}`{did_you_mean(key, defaults)}; "
                              f"it takes: {', '.join(defaults) or 'none'}", where)
        problem = checks.get((canonical, key), checks.get(key))
        if problem is None:
            _check_type(canonical, key, given, defaults[key], where)
        elif problem(given):
            raise SeqcliError(f"{canonical}'s `{key}` {problem(given)}; received {given!r}",
                              where)
    return canonical, {**defaults, **args}


def named(value, table: dict, aliases: dict, what: str, where: str = "",
          order: dict | None = None) -> tuple[str, dict]:
    """(the name as written, keyword arguments): positional ones named in Keras's order."""
    name, positional, args = _split(value, what, where)
    canonical = _canonical(name, table, aliases)
    if canonical is None:
        known = sorted(set(table) | set(aliases))
        raise SeqcliError(f"unknown {what} {name!r}{did_you_mean(str(name), known)}; known: "
                          f"{', '.join(sorted(table))}", where)
    names = (order or {}).get(canonical, [])
    if len(positional) > len(names):
        raise SeqcliError(f"{name} takes at most {len(names)} positional arguments"
                          f"{' (' + ', '.join(names) + ')' if names else ''}; "
                          f"received {len(positional)}", where)
    for key, given in zip(names, positional):
        if key in args:
            raise SeqcliError(f"{name}'s `{key}` is given twice (by position and by keyword)",
                              where)
        args[key] = given
    return name, args


def _split(value, what, where):
    """(name, positional values, keyword arguments) of any accepted form."""
    if isinstance(value, str):
        return parse_call(value, what, where)
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        if args is None:
            args = {}
        if isinstance(args, list):  # {Adam: [0.001]}: Keras's positional arguments
            return name, args, {}
        if not isinstance(args, dict):
            raise SeqcliError(f"the arguments of {what} {name!r} must be a mapping, or a list "
                              "of positional arguments", where)
        return name, [], dict(args)
    raise SeqcliError(f"expected a {what} name or {{name: {{args}}}}, received {value!r}", where)


def parse_call(value: str, what: str, where: str = "") -> tuple[str, list, dict]:
    """(name, positional values, keyword arguments) of 'adam' or 'SGD(0.1, momentum=0.9)',
    errors placed at `where`."""
    from seqcli.keras_call import parse_named_call

    try:
        return parse_named_call(value, what)
    except SeqcliError as exc:
        raise _relocated(exc, where) from None


def _relocated(exc: SeqcliError, where: str) -> SeqcliError:
    """The call parser places errors in '<layer call>:1:COL'; the call came from `where`
    (an option such as --optimizer, or the spec), so say that, keeping the column."""
    from seqcli.keras_call import WHERE

    if not where or not exc.where.startswith(WHERE):
        return exc
    column = exc.where.rpartition(":")[2]
    return SeqcliError(exc.message, f"{where} (column {column} of the call)")


def _canonical(name, table, aliases):
    if not isinstance(name, str):
        return None
    if name in table:
        return name
    if name in aliases:
        return aliases[name]
    from seqcli.spec import snake_case  # SparseCategoricalCrossentropy -> sparse_...
    snake = snake_case(name)
    return snake if snake in table else aliases.get(snake)


def _check_type(name, key, value, default, where):
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        want = "true or false"
    elif isinstance(default, (int, float)) or default is None:  # None: an optional number
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
            or value is None and default is None
        want = "a number" if default is not None else "a number or null"
    else:
        ok = isinstance(value, type(default))
        want = type(default).__name__
    if not ok:
        raise SeqcliError(f"{name}'s `{key}` must be {want}; received {value!r}", where)


def split_names(groups) -> list[str] | None:
    """--metrics values, comma-separated or repeated, as a list; a comma inside a call's
    brackets or quotes ('AUC(curve="PR", num_thresholds=100)') stays in its call."""
    if not groups:
        return None
    names = []
    for group in groups:
        depth, quote, start = 0, None, 0
        for at, char in enumerate(group):
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            elif char == "," and depth == 0:
                names.append(group[start:at])
                start = at + 1
        names.append(group[start:])
    return [name.strip() for name in names if name.strip()]
