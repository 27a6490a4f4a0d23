"""Read a YAML or JSON spec into a node tree that remembers where everything is.

Both formats go through pyyaml's composer, which builds nodes without constructing
any object (so no tag can run code) and records each node's line, column and
character offset. The offsets let `edit.py` change a file surgically, keeping
comments and layout. Plain scalars are resolved by the YAML 1.2 core schema, a
superset of JSON's, so `no` stays a string and `1e-3` is a number in both formats.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import yaml

from seqcli.errors import SeqcliError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_NODES = 100_000  # alias expansion budget: a "billion laughs" file stops here
MAX_DEPTH = 100  # nesting bound, checked on tokens before any (recursive) composing
_OPENERS = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken,
            yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken)
_CLOSERS = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)
STANDARD_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT_HEX = re.compile(r"^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


@dataclass
class Document:
    """A parsed spec: its text, its format, and the root node."""

    name: str  # what error messages call the file: a path or "<stdin>"
    text: str
    fmt: str  # "yaml" or "json"
    root: yaml.Node

    def where(self, node: yaml.Node | None) -> str:
        """'file:line:col' of a node (1-based), or just the file name."""
        if node is None or node.start_mark is None:
            return self.name
        mark = node.start_mark
        return f"{self.name}:{mark.line + 1}:{mark.column + 1}"

    def value(self, node: yaml.Node):
        """The plain Python value of a node (dicts, lists, scalars)."""
        return _Converter(self).convert(node, depth=0)


def sniff_format(name: str, text: str) -> str:
    """JSON for .json files and for text whose first non-blank byte is '{'."""
    if name.lower().endswith(".json"):
        return "json"
    if name.lower().endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


def parse(text: str, name: str, fmt: str | None = None) -> Document:
    """Parse spec text; a syntax error becomes a located SeqcliError."""
    fmt = fmt or sniff_format(name, text)
    if fmt == "json":
        _check_json(text, name)
        # JSON allows tabs as white space; YAML does not. Outside strings (where
        # JSON forbids raw tabs anyway) a space is the same, at the same offset.
        text_for_yaml = text.replace("\t", " ")
    else:
        text_for_yaml = text
    try:
        _check_depth(text_for_yaml, name)
        root = yaml.compose(text_for_yaml, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise SeqcliError(f"invalid {fmt.upper()}: {exc.problem or exc.context}", where)
    except yaml.reader.ReaderError as exc:
        line = text_for_yaml.count("\n", 0, exc.position) + 1
        column = exc.position - (text_for_yaml.rfind("\n", 0, exc.position) + 1) + 1
        raise SeqcliError(f"invalid {fmt.upper()}: the control character "
                          f"U+{ord(exc.character) if isinstance(exc.character, str) else exc.character:04X} "
                          "is not allowed in a spec", f"{name}:{line}:{column}")
    except yaml.YAMLError as exc:
        raise SeqcliError(f"invalid {fmt.upper()}: {' '.join(str(exc).split())}", name)
    except RecursionError:
        raise SeqcliError("the document is nested too deeply to read", name)
    if root is None:
        raise SeqcliError("the spec is empty; expected a mapping with a `layers:` list", name)
    doc = Document(name=name, text=text, fmt=fmt, root=root)
    doc.value(root)  # one full pass: foreign tags, alias bombs, cycles, bad scalars
    return doc


def _check_depth(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH; the scanner is iterative, so this is safe."""
    depth = 0
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, _OPENERS):
            depth += 1
            if depth > MAX_DEPTH:
                mark = token.start_mark
                raise SeqcliError(f"the document nests deeper than {MAX_DEPTH} levels",
                                  f"{name}:{mark.line + 1}:{mark.column + 1}")
        elif isinstance(token, _CLOSERS):
            depth -= 1


def _check_json(text: str, name: str) -> None:
    def refuse_constant(token):
        raise ValueError(f"{token} is not valid JSON; use a finite number")

    try:
        json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise SeqcliError(f"invalid JSON: {exc.msg}", f"{name}:{exc.lineno}:{exc.colno}")
    except ValueError as exc:
        raise SeqcliError(str(exc), name)
    except RecursionError:
        raise SeqcliError("the document is nested too deeply to read", name)


def resolve_plain(text: str):
    """The YAML 1.2 core-schema value of an unquoted scalar."""
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _INT.match(text):
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits.startswith("0"):
            raise ValueError(
                f"{text!r} has a leading zero, which YAML 1.1 reads as octal; "
                "write it without the zero, or quote it for a string"
            )
        return int(text)
    if _INT_OCT_HEX.match(text):
        return int(text, 0)
    if _FLOAT.match(text):
        return float(text)
    if _SPECIAL_FLOAT.match(text):
        return float(text.replace(".", "").lower())
    return text


class _Converter:
    """Turns nodes into values, refusing foreign tags and unbounded expansion."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.budget = MAX_NODES
        self.open: set[int] = set()  # nodes being converted: a revisit is a cycle

    def convert(self, node: yaml.Node, depth: int):
        self.budget -= 1
        if self.budget < 0:
            raise SeqcliError(
                f"the document expands to more than {MAX_NODES:,} values "
                "(aliases repeated too often?)", self.doc.where(node))
        if node.tag not in STANDARD_TAGS:
            raise SeqcliError(
                f"the YAML tag {node.tag!r} is not allowed; specs hold plain "
                "mappings, lists, strings, numbers, booleans and null",
                self.doc.where(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.open:
            raise SeqcliError("an alias refers to itself (a cycle)", self.doc.where(node))
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, depth + 1) for item in node.value]
            return self.mapping(node, depth)
        finally:
            self.open.discard(id(node))

    def scalar(self, node: yaml.ScalarNode):
        if not is_plain(node):  # quoted or block scalar: always a string
            return node.value
        try:
            value = resolve_plain(node.value)
        except ValueError as exc:
            raise SeqcliError(str(exc), self.doc.where(node))
        if isinstance(value, float) and not math.isfinite(value):
            raise SeqcliError(f"{node.value!r} is not a finite number", self.doc.where(node))
        return value

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict:
        result = {}
        for key_node, value_node in pairs(node, self.doc):
            key = self.convert(key_node, depth + 1)
            if not isinstance(key, str):
                raise SeqcliError(f"mapping keys must be strings, got {key!r}",
                                  self.doc.where(key_node))
            result[key] = self.convert(value_node, depth + 1)
        return result


def pairs(node: yaml.MappingNode, doc: Document):
    """A mapping's (key node, value node) pairs; a duplicate key is an error."""
    if any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
        raise SeqcliError("YAML merge keys (<<) are not supported; write the keys out",
                          doc.where(node))
    seen = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key is not None and key in seen:
            raise SeqcliError(f"duplicate key {key!r} (first at {doc.where(seen[key])})",
                              doc.where(key_node))
        if key is not None:
            seen[key] = key_node
        yield key_node, value_node


def is_mapping(node) -> bool:
    return isinstance(node, yaml.MappingNode)


def is_sequence(node) -> bool:
    return isinstance(node, yaml.SequenceNode)


def is_plain(node) -> bool:
    """An unquoted scalar (libyaml says style '', pure-Python pyyaml None)."""
    return isinstance(node, yaml.ScalarNode) and not node.style


def is_null(node) -> bool:
    return is_plain(node) and bool(_NULL.match(node.value))
