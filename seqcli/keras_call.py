"""Parse a layer written in Keras call syntax, literals only, never evaluated.

`Conv2D(32, 3, activation="relu")` -> ("Conv2D", {"filters": 32, "kernel_size": 3,
"activation": "relu"}). Only the call's shape is read from Python's own parser
(`ast`); each argument must be a literal (`ast.literal_eval`), so no name is
looked up and no code runs.
"""

from __future__ import annotations

import ast

from seqcli.errors import SeqcliError
from seqcli.registry import lookup

WHERE = "<layer call>"


def parse_call(source: str) -> tuple[str, dict]:
    """(class name, keyword arguments) of a call such as `layers.Dense(4)`."""
    call = _parse(source, "a layer call such as 'Dense(10, activation=\"relu\")'")
    class_name = _class_name(call.func)
    try:
        cls = lookup(class_name)
    except KeyError as exc:
        raise SeqcliError(exc.args[0], _where(call.func)) from None
    return cls.__name__, _arguments(cls, call)


def parse_named_call(source: str, what: str) -> tuple[str, list, dict]:
    """(name, positional values, keyword arguments) of 'adam', 'Adam(1e-3)' or
    'SGD(0.1, momentum=0.9)'; the caller names the positional ones in Keras's order."""
    if source.strip().isidentifier():
        return source.strip(), [], {}
    call = _parse(source, f"{what} name or call such as 'Name(arg=value)'")
    positional = []
    for index, node in enumerate(call.args):
        if isinstance(node, ast.Starred):
            raise SeqcliError("*args cannot be used; write each argument", _where(node))
        positional.append(_literal(node, index + 1))
    args = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SeqcliError("**kwargs cannot be used; write each argument",
                              _where(keyword.value))
        if keyword.arg in args:
            raise SeqcliError(f"argument `{keyword.arg}` is given twice", _where(keyword.value))
        args[keyword.arg] = _literal(keyword.value, keyword.arg)
    return _class_name(call.func), positional, args


def _parse(source: str, expected: str) -> ast.Call:
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise SeqcliError(f"not a Python call expression: {exc.msg}",
                          f"{WHERE}:1:{exc.offset or 1}") from None
    if not isinstance(tree.body, ast.Call):
        raise SeqcliError(f"expected {expected}", f"{WHERE}:1:1")
    return tree.body


def _class_name(func) -> str:
    # accept keras.layers.Dense, layers.Dense, tf.keras.layers.Dense, keras.Input, Dense
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    raise SeqcliError("the called thing must be a layer class name", _where(func))


def _arguments(cls, call: ast.Call) -> dict:
    args = {}
    if len(call.args) > len(cls.positional):
        extra = call.args[len(cls.positional)]
        raise SeqcliError(f"{cls.__name__} takes at most {len(cls.positional)} positional "
                          f"arguments ({', '.join(cls.positional)})", _where(extra))
    wraps = cls.wraps
    for name, node in zip(cls.positional, call.args):
        if isinstance(node, ast.Starred):
            raise SeqcliError("*args cannot be used; write each argument", _where(node))
        args[name] = _literal(node, name, name in wraps)
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SeqcliError("**kwargs cannot be used; write each argument",
                              _where(keyword.value))
        if keyword.arg in args:
            raise SeqcliError(f"argument `{keyword.arg}` is given twice", _where(keyword.value))
        args[keyword.arg] = _literal(keyword.value, keyword.arg, keyword.arg in wraps)
    return args


def _literal(node, name, layer_allowed=False):
    """The value of a literal argument; `name` is its keyword, or its position (from 1)."""
    if layer_allowed and isinstance(node, (ast.List, ast.Tuple)) and node.elts and \
            all(isinstance(e, ast.Call) for e in node.elts):  # RNN([LSTMCell(4), ...])
        return [_literal(e, name, True) for e in node.elts]
    if layer_allowed and isinstance(node, ast.Call):  # a wrapped layer: Bidirectional(LSTM(8))
        class_name, args = _class_name(node.func), None
        try:
            cls = lookup(class_name)
        except KeyError as exc:
            raise SeqcliError(exc.args[0], _where(node.func)) from None
        args = _arguments(cls, node)
        return {cls.__name__: args}
    try:
        return _plain(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        what = f"positional argument {name}" if isinstance(name, int) else f"argument `{name}`"
        raise SeqcliError(f"{what} must be a literal (a number, string, True/False/None, or a "
                          "list/tuple/dict of those); seqcli never evaluates code",
                          _where(node)) from None


def _plain(value):
    """Tuples become lists, so the value writes out as YAML/JSON."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset, bytes, complex)):
        raise ValueError("not a spec value")
    return value


def _where(node) -> str:
    return f"{WHERE}:1:{getattr(node, 'col_offset', 0) + 1}"
