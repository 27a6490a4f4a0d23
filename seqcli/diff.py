"""Two models compared layer by layer: added, removed and changed layers, their
arguments, shapes and parameter counts, and the totals. A nested model is compared
recursively: its inner changes are listed under it. No numpy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """One model's layer as the diff sees it (shape and counts None when unbuilt)."""

    name: str
    class_name: str
    arguments: dict
    output_shape: tuple | None
    params: int | None
    macs: int | None
    children: tuple = ()  # a nested model's layers, as entries


@dataclass
class Change:
    status: str  # "added", "removed", "changed" or "same"
    a: Entry | None
    b: Entry | None
    arguments: dict = field(default_factory=dict)  # name -> (a's value, b's value)
    inner: list = field(default_factory=list)  # a nested model's changes


def entries(model) -> list[Entry]:
    """The top-level layers of a model, with shapes and counts when it is built."""
    if not model.built:
        return _unbuilt(model.layers)
    from seqcli import summary

    return _built(summary.summarize(model).rows)


def _unbuilt(layers) -> list[Entry]:
    return [Entry(layer.name, type(layer).__name__, _arguments(layer), None, None, None,
                  tuple(_unbuilt(getattr(layer, "layers", None) or ())))
            for layer in layers]


def _built(rows) -> list[Entry]:
    return [Entry(row.layer.name, type(row.layer).__name__, _arguments(row.layer),
                  tuple(row.output_shape), row.params, row.macs, tuple(_built(row.children)))
            for row in rows]


def _arguments(layer) -> dict:
    """The layer's arguments as its config writes them, plus the defaults the config
    leaves out (so a changed default shows its old value, not nothing)."""
    import dataclasses

    # a nested model's layers are compared as entries of their own, not as one argument
    skipped = ("name", "layers") if hasattr(layer, "layers") else ("name",)
    config = {key: value for key, value in layer.config().items() if key not in skipped}
    if dataclasses.is_dataclass(layer):
        for field_ in dataclasses.fields(layer):
            if field_.repr and field_.name not in config and field_.name not in skipped:
                value = getattr(layer, field_.name)
                if isinstance(value, (str, int, float, bool, tuple)):
                    config[field_.name] = list(value) if isinstance(value, tuple) else value
    return config


def compare(a: list[Entry], b: list[Entry]) -> list[Change]:
    """Layers matched by name first, then the rest by position (same class); in b's order, each
    removed layer placed where it stood in a."""
    pairs = _match(a, b)
    changes, matched_a = [], {i for i, _ in pairs if i is not None}
    for i, j in pairs:
        changes.append(_change(a[i] if i is not None else None,
                               b[j] if j is not None else None))
    # removed layers: listed after the layer that preceded them in a
    for i, entry in enumerate(a):
        if i not in matched_a:
            changes.insert(_after(changes, a, i), Change("removed", entry, None))
    return changes


def _match(a, b) -> list[tuple]:
    names_a = {entry.name: i for i, entry in enumerate(a)}
    by_name = {j: names_a[entry.name] for j, entry in enumerate(b) if entry.name in names_a}
    free_a = [i for i in range(len(a)) if i not in by_name.values()]
    pairs = []
    for j in range(len(b)):
        if j in by_name:
            pairs.append((by_name[j], j))
        elif j in free_a and a[j].class_name == b[j].class_name:
            # same position and class, unmatched by name on both sides: a renamed layer
            free_a.remove(j)
            pairs.append((j, j))
        else:
            pairs.append((None, j))
    return pairs


def _after(changes, a, i) -> int:
    """Where a removed layer a[i] goes: after the change holding a[i - 1], else first."""
    for position in range(len(changes) - 1, -1, -1):
        earlier = changes[position].a
        if earlier is not None and _index(a, earlier) < i:
            return position + 1
    return 0


def _index(entries_list, entry) -> int:
    return next(k for k, other in enumerate(entries_list) if other is entry)


def _change(a: Entry | None, b: Entry | None) -> Change:
    if a is None:
        return Change("added", None, b)
    keys = list(a.arguments) + [k for k in b.arguments if k not in a.arguments]
    arguments = {k: (a.arguments.get(k), b.arguments.get(k)) for k in keys
                 if a.arguments.get(k) != b.arguments.get(k)}
    inner = compare(list(a.children), list(b.children))
    same = (not arguments and a.name == b.name and a.class_name == b.class_name
            and a.output_shape == b.output_shape and a.params == b.params
            and all(change.status == "same" for change in inner))
    return Change("same" if same else "changed", a, b, arguments, inner)


def totals(entries_of_model: list[Entry]) -> dict:
    return {key: (None if any(getattr(e, key) is None for e in entries_of_model)
                  else sum(getattr(e, key) for e in entries_of_model))
            for key in ("params", "macs")}


# ---------------------------------------------------------------- rendering

def _shape(shape) -> str:
    return "?" if shape is None else "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1
                                                                          else "") + ")"


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"


def _label(entry: Entry) -> str:
    return f"{entry.name} ({entry.class_name})"


def render_text(changes: list[Change], a: list[Entry], b: list[Entry]) -> str:
    lines = _change_lines(changes, "")
    if not lines:
        lines.append("same: no layer differs")
    before, after = totals(a), totals(b)
    for key in ("params", "macs"):
        lines.append(f"total {key}: {_count(before[key])} -> {_count(after[key])}"
                     + _delta(before[key], after[key]))
    return "\n".join(lines) + "\n"


def _change_lines(changes: list[Change], indent: str) -> list[str]:
    lines = []
    for change in changes:
        if change.status == "same":
            continue
        if change.status == "added":
            entry = change.b
            lines.append(f"{indent}+ {_label(entry)}: output {_shape(entry.output_shape)}, "
                         f"params {_count(entry.params)}")
            continue
        if change.status == "removed":
            entry = change.a
            lines.append(f"{indent}- {_label(entry)}: output {_shape(entry.output_shape)}, "
                         f"params {_count(entry.params)}")
            continue
        lines.append(f"{indent}~ {_changed_label(change)}")
        lines.extend(f"{indent}    {name}: {_value(old)} -> {_value(new)}"
                     for name, (old, new) in change.arguments.items())
        if change.a.output_shape != change.b.output_shape:
            lines.append(f"{indent}    output: {_shape(change.a.output_shape)} -> "
                         f"{_shape(change.b.output_shape)}")
        if change.a.params != change.b.params:
            lines.append(f"{indent}    params: {_count(change.a.params)} -> "
                         f"{_count(change.b.params)}")
        lines += _change_lines(change.inner, indent + "    ")
    return lines


def _changed_label(change: Change) -> str:
    a, b = change.a, change.b
    if (a.name, a.class_name) == (b.name, b.class_name):
        return _label(a)
    return f"{_label(a)} -> {_label(b)}"


def _value(value) -> str:
    import json

    return "(unset)" if value is None else json.dumps(value)


def _delta(old, new) -> str:
    if old is None or new is None or old == new:
        return ""
    return f" ({new - old:+,})"


def to_json(changes: list[Change], a: list[Entry], b: list[Entry]) -> dict:
    return {
        "same": all(change.status == "same" for change in changes),
        "layers": [_change_dict(change) for change in changes],
        "totals": {key: [totals(a)[key], totals(b)[key]] for key in ("params", "macs")},
    }


def _change_dict(change: Change) -> dict:
    result = {"status": change.status,
              "a": _entry_dict(change.a), "b": _entry_dict(change.b)}
    if change.arguments:
        result["arguments"] = {k: list(v) for k, v in change.arguments.items()}
    if any(inner.status != "same" for inner in change.inner):
        result["layers"] = [_change_dict(inner) for inner in change.inner]
    return result


def _entry_dict(entry: Entry | None):
    if entry is None:
        return None
    return {"name": entry.name, "class_name": entry.class_name,
            "output_shape": None if entry.output_shape is None else list(entry.output_shape),
            "params": entry.params, "macs": entry.macs}
