"""Two models compared layer by layer (`seqcli diff`). No numpy: it works on summary rows.

Layers are matched by name first, then the ones left over by position among the
leftovers. A nested model is compared recursively: its row is "changed" when any inner
layer is, and lists the inner changes under "layers".
"""

from __future__ import annotations

import json

from seqcli.summary import Row, Summary


def compare(old: Summary, new: Summary) -> dict:
    """A JSON-ready report: {"same", "layers": [changes], "totals": {...}}."""
    layers = _compare_rows(old.rows, new.rows)
    totals = {"params": [old.total_params, new.total_params],
              "macs": [sum(r.macs for r in old.rows), sum(r.macs for r in new.rows)]}
    input_shape = [_jsonable(old.input_shape), _jsonable(new.input_shape)]
    same = not layers and input_shape[0] == input_shape[1]
    report = {"same": same, "layers": layers, "totals": totals}
    if input_shape[0] != input_shape[1]:
        report["input_shape"] = input_shape
    return report


def _compare_rows(old_rows: list[Row], new_rows: list[Row]) -> list[dict]:
    pairs = _match(old_rows, new_rows)
    changes = []
    for old, new in pairs:
        if old is None:
            changes.append(_whole("added", new))
        elif new is None:
            changes.append(_whole("removed", old))
        else:
            change = _changed(old, new)
            if change:
                changes.append(change)
    return changes


def _match(old_rows, new_rows) -> list[tuple]:
    """(old, new) pairs in model order, None on the side a layer is missing. Layers left
    over after matching names pair by position among the leftovers of the same class: a
    Conv2D where a Dense was is a removed layer and an added one, not a changed one."""
    old_names = {row.name: row for row in old_rows}
    partner = {id(row): old_names[row.name] for row in new_rows if row.name in old_names}
    taken = {id(row) for row in partner.values()}
    for class_name in {row.class_name for row in new_rows}:
        old_left = [r for r in old_rows if r.class_name == class_name and id(r) not in taken]
        new_left = [r for r in new_rows if r.class_name == class_name and id(r) not in partner]
        partner.update({id(n): o for n, o in zip(new_left, old_left)})
    paired = {id(row) for row in partner.values()}
    removed = [(i, row) for i, row in enumerate(old_rows) if id(row) not in paired]
    old_index = {id(row): i for i, row in enumerate(old_rows)}
    pairs = []
    for position, row in enumerate(new_rows):
        # removed layers go before the next layer both models share
        upcoming = [old_index[id(partner[id(r)])] for r in new_rows[position:]
                    if id(r) in partner]
        limit = upcoming[0] if upcoming else len(old_rows)
        while removed and removed[0][0] < limit:
            pairs.append((removed.pop(0)[1], None))
        pairs.append((partner.get(id(row)), row))
    return pairs + [(row, None) for _, row in removed]


def _whole(status: str, row: Row) -> dict:
    return {"status": status, "name": row.name, "class_name": row.class_name,
            "output_shape": _jsonable(row.output_shape), "params": row.params,
            "macs": row.macs}


def _changed(old: Row, new: Row) -> dict | None:
    change = {}
    if old.name != new.name:
        change["renamed"] = [old.name, new.name]
    if old.class_name != new.class_name:
        change["class"] = [old.class_name, new.class_name]
    arguments = changed_arguments(old.layer, new.layer)
    if arguments:
        change["arguments"] = arguments
    for key in ("output_shape", "params", "trainable_params", "macs"):
        before, after = _jsonable(getattr(old, key)), _jsonable(getattr(new, key))
        if before != after:
            change[key] = [before, after]
    inner = _compare_rows(old.children, new.children)
    if inner:
        change["layers"] = inner
    if not change:
        return None
    return {"status": "changed", "name": new.name, "class_name": new.class_name, **change}


def changed_arguments(old_layer, new_layer) -> dict:
    """{argument: [old, new]} over both layers' config() (an argument missing from one
    config has that layer's default value); inner layers of a nested model are compared
    as rows, not here."""
    before, after = _config(old_layer), _config(new_layer)
    changed = {}
    for key in list(before) + [k for k in after if k not in before]:
        if key in ("name", "layers"):
            continue
        old_value = _jsonable(before[key] if key in before else getattr(old_layer, key, None))
        new_value = _jsonable(after[key] if key in after else getattr(new_layer, key, None))
        if old_value != new_value:
            changed[key] = [old_value, new_value]
    return changed


def _config(layer) -> dict:
    config = dict(layer.config())
    for wrapped in ("layer", "backward_layer"):  # Bidirectional, TimeDistributed
        inner = config.get(wrapped)
        if inner is not None and hasattr(inner, "config"):
            config[wrapped] = {type(inner).__name__: inner.config()}
    return config


def _jsonable(value):
    """Plain JSON data: tuples become lists; objects their config or their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "config"):
        return {type(value).__name__: _jsonable(value.config())}
    return str(value)


# ---------------------------------------------------------------- rendering

def render_json(report: dict) -> str:
    return json.dumps(report, indent=2)


def render_text(report: dict, old_name: str, new_name: str) -> str:
    lines = [f"--- {old_name}", f"+++ {new_name}"]
    if "input_shape" in report:
        lines.append(f"~ input shape: {_shape(report['input_shape'][0])} -> "
                     f"{_shape(report['input_shape'][1])}")
    lines += _layer_lines(report["layers"], "")
    params, macs = report["totals"]["params"], report["totals"]["macs"]
    lines.append(f"Total params: {_arrow(params)}")
    lines.append(f"MACs: {_arrow(macs)}")
    lines.append("same" if report["same"] else "differ")
    return "\n".join(lines) + "\n"


def _layer_lines(changes: list[dict], indent: str) -> list[str]:
    lines = []
    for change in changes:
        label = f"{change['name']} ({change['class_name']})"
        if change["status"] != "changed":
            sign = "+" if change["status"] == "added" else "-"
            lines.append(f"{indent}{sign} {label}: {_shape(change['output_shape'])}, "
                         f"{change['params']:,} params")
            continue
        lines.append(f"{indent}~ {label}")
        detail = indent + "    "
        if "renamed" in change:
            lines.append(f"{detail}name: {change['renamed'][0]} -> {change['renamed'][1]}")
        if "class" in change:
            lines.append(f"{detail}class: {change['class'][0]} -> {change['class'][1]}")
        for key, (old, new) in change.get("arguments", {}).items():
            lines.append(f"{detail}{key}: {_value(old)} -> {_value(new)}")
        if "output_shape" in change:
            old, new = change["output_shape"]
            lines.append(f"{detail}output shape: {_shape(old)} -> {_shape(new)}")
        for key, label_text in (("params", "params"), ("trainable_params", "trainable params"),
                                ("macs", "MACs")):
            if key == "trainable_params" and change.get(key) == change.get("params"):
                continue  # all of the change is trainable: said once
            if key in change:
                lines.append(f"{detail}{label_text}: {_arrow(change[key])}")
        lines += _layer_lines(change.get("layers", []), detail)
    return lines


def _arrow(pair) -> str:
    old, new = pair
    if old == new:
        return f"{old:,} (unchanged)"
    return f"{old:,} -> {new:,} ({new - old:+,})"


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _value(value) -> str:
    return json.dumps(value)
