"""`seqcli catalog`: the known layers, and one layer's arguments and weights."""

from __future__ import annotations

import dataclasses

from seqcli.errors import SeqcliError
from seqcli.registry import all_layers, lookup


def overview() -> str:
    rows = [[name, ", ".join(cls.aliases), cls.summary] for name, cls in all_layers().items()]
    table = _table(rows, ["layer", "aliases", "what it does"])
    return table + "\n\n" + left_out_text()


def left_out_text() -> str:
    """The Keras 3 layers seqcli does not build, grouped by why."""
    import textwrap

    from seqcli.left_out import left_out

    lines = ["Left out (Keras 3 layers seqcli does not build):"]
    for why, names in left_out():
        lines.append(textwrap.fill(f"- {', '.join(names)}: {why}.", width=100,
                                   subsequent_indent="  "))
    lines.append(textwrap.fill(
        "And Keras's own random stream: the dropout, noise and augmentation layers draw from "
        "seqcli's (seeded by fit --seed), so their training-time draws are not Keras's.",
        width=100))
    return "\n".join(lines) + "\n"


def details(class_name: str) -> str:
    try:
        cls = lookup(class_name)
    except KeyError as exc:
        raise SeqcliError(exc.args[0], f"catalog {class_name}") from None
    lines = [f"{cls.__name__}: {cls.summary}"]
    if cls.aliases:
        lines.append(f"aliases: {', '.join(cls.aliases)}")
    lines.append("")
    lines.append(_arguments_table(cls))
    lines.append("")
    lines.append(f"weights: {cls.weights_doc}")
    return "\n".join(lines) + "\n"


def _arguments_table(cls) -> str:
    rows = []
    for f in cls.arguments():
        if f.default is dataclasses.MISSING:
            default = "(required)" if f.name != "name" else "(automatic)"
        else:
            default = "null" if f.default is None else repr(f.default)
        rows.append([f.metadata.get("keras") or f.name, f.metadata["kind"].describe, default,
                     f.metadata.get("doc", "")])
    for name in cls.rule_arguments():
        kind = "constraint" if name.endswith("_constraint") else "regularizer"
        rows.append([name, f"{kind} name | {{name: {{args}}}}", "null",
                     "applied after each step" if kind == "constraint" else "adds to the loss"])
    return _table(rows, ["argument", "type", "default", "notes"])


def _table(rows: list, headers: list) -> str:
    """Text cells in tabulate's "simple" layout: left-aligned columns two spaces apart, at
    least two wider than their header, a dashed rule under the header. Written here
    because importing tabulate (which looks up its own version with importlib.metadata)
    costs about as much as the rest of `seqcli catalog Conv2D`."""
    cells = [[str(cell).strip() for cell in row] for row in rows]
    widths = [max([len(header) + 2] + [len(row[i]) for row in cells])
              for i, header in enumerate(headers)]

    def line(row):
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]),
                      *(line(row) for row in cells)])
