"""Read a YAML or JSON spec into a node tree that remembers where everything is.

Both formats go through pyyaml's composer, which builds nodes without constructing
any object (so no tag can run code) and records each node's line, column and
character offset. The offsets let `edit.py` change a file surgically, keeping
comments and layout. Plain scalars are resolved by the YAML 1.2 core schema, a
superset of JSON's, so `no` stays a string and `1e-3` is a number in both formats.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import yaml

from seqcli.errors import SeqcliError

try:
    from yaml.cyaml import CParser as _Parser  # libyaml, when pyyaml was built with it
except ImportError:
    _Parser = None


class _KindResolver(yaml.resolver.BaseResolver):
    """Tags by node kind only. Plain scalars are resolved by `resolve_plain` (YAML 1.2),
    so pyyaml's YAML 1.1 guessing is wasted work; explicit tags still come through."""

    def resolve(self, kind, value, implicit):
        return {yaml.ScalarNode: self.DEFAULT_SCALAR_TAG,
                yaml.SequenceNode: self.DEFAULT_SEQUENCE_TAG}.get(kind, self.DEFAULT_MAPPING_TAG)


if _Parser is not None:
    class _Loader(_Parser, yaml.constructor.BaseConstructor, _KindResolver):
        def __init__(self, stream):
            _Parser.__init__(self, stream)
            yaml.constructor.BaseConstructor.__init__(self)
            _KindResolver.__init__(self)
else:  # no libyaml: the pure-Python parts, same behaviour
    class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                  yaml.composer.Composer, yaml.constructor.BaseConstructor, _KindResolver):
        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.BaseConstructor.__init__(self)
            _KindResolver.__init__(self)

MAX_NODES = 1_000_000  # values once aliases are expanded: a "billion laughs" stops here
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
    # id(node) -> (value,), filled by the validating pass so later look-ups are free
    values: dict = field(default_factory=dict, repr=False)

    def where(self, node: yaml.Node | None) -> str:
        """'file:line:col' of a node (1-based), or just the file name."""
        if node is None or node.start_mark is None:
            return self.name
        mark = node.start_mark
        return f"{self.name}:{mark.line + 1}:{mark.column + 1}"

    def value(self, node: yaml.Node):
        """The plain Python value of a node (dicts, lists, scalars); treat it as read-only."""
        cached = self.values.get(id(node))
        if cached is not None:
            return cached[0]
        return _Converter(self).convert(node)


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
        if (exc.context or "").startswith("expected a single document"):
            raise SeqcliError("a spec is one YAML document, and a second one (after `---`) "
                              "starts here", where)
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
    # one full pass: foreign tags, alias bombs, cycles, duplicate keys, bad scalars
    _Converter(doc, count_expansion="*" in text).convert(root)
    return doc


def _check_depth(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH; the scanner is iterative, so this is safe."""
    if _depth_bound(text) <= MAX_DEPTH:
        return  # provably shallow: skip the (slow, token by token) scan
    depth = 0
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if isinstance(token, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    _refuse_depth(name, token.start_mark)
            elif isinstance(token, _CLOSERS):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        # PyYAML 6.0.3+ has its own (deeper) limit, met while looking ahead for a key
        if "nesting depth" not in str(exc.problem):
            raise
        _refuse_depth(name, exc.problem_mark)


def _refuse_depth(name: str, mark) -> None:
    raise SeqcliError(f"the document nests deeper than {MAX_DEPTH} levels",
                      f"{name}:{mark.line + 1}:{mark.column + 1}")


def _depth_bound(text: str) -> int:
    """An upper bound on nesting: a block level takes at least one column of a line,
    and a flow level one bracket (brackets inside strings only make it looser)."""
    longest = max(map(len, text.splitlines()), default=0)
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", text):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return longest + deepest + 1


def _check_json(text: str, name: str) -> None:
    import json  # here: a YAML spec needs no json module (start-up)

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


_WORDS = {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}


def resolve_plain(text: str):
    """The YAML 1.2 core-schema value of an unquoted scalar."""
    if text[:1].isalpha() and text not in _WORDS:
        return text  # a plain word: the common case, decided at once
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        return int(text)  # a plain decimal integer, the other common case
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

    def __init__(self, doc: Document, count_expansion: bool = True):
        self.doc = doc
        # without an alias (`*`) in the text, expansion is the node count: nothing to measure
        self.count_expansion = count_expansion
        self.sizes: dict[int, int] = {}  # id(node) -> values it expands to, aliases included
        self.open: set[int] = set()  # nodes being converted: a revisit is a cycle

    def convert(self, node: yaml.Node):
        values = self.doc.values
        cached = values.get(id(node))
        if cached is not None:  # an alias to a node already converted: share its value
            return cached[0]
        if node.tag not in STANDARD_TAGS:
            raise SeqcliError(f"the YAML tag {node.tag!r} is not allowed; specs hold plain "
                              "mappings, lists, strings, numbers, booleans and null",
                              self.doc.where(node))
        kind = type(node)
        if kind is yaml.ScalarNode:
            value = self.scalar(node)
        else:
            if id(node) in self.open:
                raise SeqcliError("an alias refers to itself (a cycle)", self.doc.where(node))
            self.open.add(id(node))  # (an error ends the whole conversion: no cleanup needed)
            if kind is yaml.SequenceNode:
                value = [self.convert(item) for item in node.value]
            else:
                value = self.mapping(node)
            self.open.discard(id(node))
        values[id(node)] = (value,)
        if self.count_expansion:
            self._count(node)
        return value

    def _count(self, node) -> None:
        """Expanded size, memoized per node, so even a bomb is measured in linear time."""
        children = [] if isinstance(node, yaml.ScalarNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else
            [n for pair in node.value for n in pair])
        size = 1 + sum(self.sizes.get(id(child), 1) for child in children)
        self.sizes[id(node)] = size
        if size > MAX_NODES:
            raise SeqcliError(f"the document expands to more than {MAX_NODES:,} values "
                              "(aliases repeated too often?)", self.doc.where(node))

    def scalar(self, node: yaml.ScalarNode):
        if node.style:  # quoted or block scalar: always a string
            return node.value
        try:
            value = resolve_plain(node.value)
        except ValueError as exc:
            raise SeqcliError(str(exc), self.doc.where(node))
        if type(value) is float and not math.isfinite(value):
            raise SeqcliError(f"{node.value!r} is not a finite number", self.doc.where(node))
        return value

    def mapping(self, node: yaml.MappingNode) -> dict:
        result = {}
        for key_node, value_node in pairs(node, self.doc):
            key = self.convert(key_node)
            if type(key) is not str:
                raise SeqcliError(f"mapping keys must be strings, got {key!r}",
                                  self.doc.where(key_node))
            result[key] = self.convert(value_node)
        return result


def pairs(node: yaml.MappingNode, doc: Document):
    """A mapping's (key node, value node) pairs; a duplicate key is an error."""
    if id(node) in doc.values:  # already accepted by the validating pass
        return iter(node.value)
    return _checked_pairs(node, doc)


def _checked_pairs(node: yaml.MappingNode, doc: Document):
    if any(is_plain(key) and key.value == "<<" for key, _ in node.value):
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
