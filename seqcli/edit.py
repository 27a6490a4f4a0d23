"""Edit a spec's text in place of re-writing it, so comments and layout survive.

Each change is a splice at offsets taken from the node tree: set a layer's
`trainable`, append a layer entry, remove the last one. The caller re-loads
the result to check it before anything is written.
"""

from __future__ import annotations

import yaml

from seqcli.document import Document, is_mapping, is_null, is_sequence
from seqcli.errors import SeqcliError


def keep_line_endings(old: str, new: str) -> str:
    """A spec written with Windows line endings (CRLF) keeps them in the lines an edit
    adds, which are written with LF."""
    if "\r\n" not in old:
        return new
    import re

    return re.sub(r"(?<!\r)\n", "\r\n", new)


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits; later offsets first so earlier ones hold."""
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def top_mapping(doc: Document) -> dict:
    """The top-level {key: (key node, value node)} of a spec the builder accepted."""
    return {key_node.value: (key_node, value_node) for key_node, value_node in doc.root.value}


def layer_entry_nodes(doc: Document) -> list:
    """The entry nodes of the top-level layers (an Input entry is not a layer)."""
    from seqcli.registry import lookup

    seq = top_mapping(doc)["layers"][1]
    entries = [] if is_null(seq) else seq.value
    return [node for node in entries if not lookup(_class_name(node)).is_input]


def _class_name(entry) -> str:
    if isinstance(entry.value, str):  # a bare class name: `- Flatten`
        return entry.value
    for key_node, value_node in entry.value:
        if key_node.value == "type":
            return value_node.value
    return entry.value[0][0].value


# ---------------------------------------------------------------- trainable

def set_trainable(doc: Document, indices: list[int], value: bool) -> str:
    """The spec text with `trainable: value` on the given top-level layers."""
    entries = layer_entry_nodes(doc)
    edits = [_trainable_edit(doc, entries[i], value) for i in indices]
    return splice(doc.text, [e for e in edits if e is not None])


def _trainable_edit(doc: Document, entry, value: bool):
    literal = "true" if value else "false"
    key = '"trainable"' if doc.fmt == "json" else "trainable"
    if isinstance(entry.value, str):  # `- Flatten` becomes `- Flatten: {trainable: false}`
        if value:
            return None
        start, end = entry.start_mark.index, entry.end_mark.index
        if doc.fmt == "json":
            return start, end, f'{{{doc.text[start:end]}: {{{key}: {literal}}}}}'
        return start, end, f"{doc.text[start:end]}: {{{key}: {literal}}}"
    args = _args_node(doc, entry)
    if is_null(args) and value:
        return None
    if is_null(args):  # `Flatten:` or `Flatten: null`
        start, end = args.start_mark.index, args.end_mark.index
        gap = "" if doc.text[start - 1:start].isspace() else " "
        return start, end, f"{gap}{{{key}: {literal}}}"
    for key_node, value_node in args.value:
        if key_node.value == "trainable":
            return value_node.start_mark.index, value_node.end_mark.index, literal
    if value:
        return None  # no `trainable` key: the layer is trainable already (Keras's default)
    if args.flow_style:
        if not args.value:
            return args.start_mark.index, args.end_mark.index, f"{{{key}: {literal}}}"
        at = content_end(args.value[-1][1])
        return at, at, f", {key}: {literal}"
    at = line_end(doc.text, content_end(args))
    indent = " " * args.value[0][0].start_mark.column
    prefix = "" if doc.text[:at].endswith("\n") else "\n"
    return at, at, f"{prefix}{indent}{key}: {literal}\n"


def _args_node(doc: Document, entry):
    """The node holding a layer's arguments: a mapping, or null in the short form."""
    keys = [k.value for k, _ in entry.value]
    if "type" in keys:
        return entry
    return entry.value[0][1]


# ---------------------------------------------------------------- append and pop

def append_entry(doc: Document, class_name: str, args: dict) -> str:
    """The spec text with one more layer entry at the end of `layers`."""
    keys = top_mapping(doc)
    key_node, seq = keys["layers"] if "layers" in keys else (None, None)
    if key_node is None:
        raise SeqcliError("the spec has no `layers:` list to add to", doc.where(doc.root))
    if doc.fmt == "json":
        import json  # here: a YAML spec needs no json module (start-up)

        return _append_json(doc, seq, json.dumps({class_name: args}, ensure_ascii=False))
    entry = f"{class_name}: {_flow_yaml(args)}"
    if is_null(seq) or (is_sequence(seq) and seq.flow_style and not seq.value):
        # `layers: []` or `layers:` becomes a block list
        indent = " " * (key_node.start_mark.column + 2)
        start = _colon(doc, key_node) + 1
        end = max(seq.end_mark.index, start)
        return splice(doc.text, [(start, end, f"\n{indent}- {entry}")])
    if not is_sequence(seq):
        raise SeqcliError("`layers` must be a list", doc.where(seq))
    if seq.flow_style:
        at = content_end(seq.value[-1])
        return splice(doc.text, [(at, at, f", {{{entry}}}")])
    first = seq.value[0]
    dash = doc.text.rfind("-", 0, first.start_mark.index)
    indent = " " * (dash - doc.text.rfind("\n", 0, dash) - 1)
    at = line_end(doc.text, content_end(seq))
    prefix = "" if doc.text[:at].endswith("\n") else "\n"
    return splice(doc.text, [(at, at, f"{prefix}{indent}- {entry}\n")])


def _append_json(doc: Document, seq, entry: str) -> str:
    if not seq.value:
        return splice(doc.text, [(seq.start_mark.index, seq.end_mark.index, f"[{entry}]")])
    last = seq.value[-1]
    line_start = doc.text.rfind("\n", 0, last.start_mark.index) + 1
    lead = doc.text[line_start:last.start_mark.index]
    at = content_end(last)
    separator = f",\n{lead}" if lead.strip() == "" and line_start > 0 else ", "
    return splice(doc.text, [(at, at, separator + entry)])


def _colon(doc, key_node) -> int:
    return doc.text.index(":", key_node.end_mark.index)


def pop_entry(doc: Document) -> str:
    """The spec text without its last layer entry."""
    entries = layer_entry_nodes(doc)
    if not entries:
        raise SeqcliError("There are no layers in the model to pop", doc.where(doc.root))
    key_node, seq = top_mapping(doc)["layers"]
    last = entries[-1]
    if seq.flow_style:
        if len(seq.value) == 1:
            return splice(doc.text, [(seq.start_mark.index + 1, seq.end_mark.index - 1, "")])
        return splice(doc.text, [(content_end(seq.value[-2]), content_end(last), "")])
    dash = doc.text.rfind("-", 0, last.start_mark.index)
    start = doc.text.rfind("\n", 0, dash) + 1
    end = line_end(doc.text, content_end(last))
    edits = [(start, end, "")]
    if len(seq.value) == 1:  # the list becomes `layers: []`, a trailing comment kept
        start = _colon(doc, key_node) + 1
        end = start + len(doc.text[start:]) - len(doc.text[start:].lstrip(" \t"))
        edits.append((start, end, " [] " if doc.text[end:end + 1] == "#" else " []"))
    return splice(doc.text, edits)


# ---------------------------------------------------------------- helpers

def content_end(node) -> int:
    """Where a node's own text ends (block collections' marks run on past comments)."""
    while (is_mapping(node) or is_sequence(node)) and not node.flow_style and node.value:
        node = node.value[-1][1] if is_mapping(node) else node.value[-1]
    return node.end_mark.index


def line_end(text: str, position: int) -> int:
    """The offset just past the end of the line holding `position`."""
    newline = text.find("\n", position)
    return len(text) if newline < 0 else newline + 1


def _flow_yaml(args: dict) -> str:
    return yaml.safe_dump(args, default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=2**31).strip()
