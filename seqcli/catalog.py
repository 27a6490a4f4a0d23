"""`seqcli catalog`: the known layers, and one layer's arguments and weights."""

from __future__ import annotations

import dataclasses

from seqcli.errors import SeqcliError
from seqcli.registry import all_layers, lookup


def overview() -> str:
    from tabulate import tabulate

    rows = [[name, ", ".join(cls.aliases), cls.summary] for name, cls in all_layers().items()]
    table = tabulate(rows, headers=["layer", "aliases", "what it does"], tablefmt="simple")
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
    from tabulate import tabulate

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
    return tabulate(rows, headers=["argument", "type", "default", "notes"], tablefmt="simple")
