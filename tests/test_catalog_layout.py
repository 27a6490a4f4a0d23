"""`seqcli catalog` lays out its tables itself (importing tabulate was a quarter of its
start-up); the layout must stay tabulate's "simple" one, cell for cell, for every layer."""

import pytest
from tabulate import tabulate

from seqcli import catalog
from seqcli.registry import all_layers


def tabulated(table: str) -> str:
    """The same table laid out by tabulate: split the columns on the dashed rule."""
    header, rule, *rows = table.split("\n")
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    cut = lambda line: [line[a:b].strip() for a, b in spans]  # noqa: E731
    return tabulate([cut(row) for row in rows], headers=cut(header), tablefmt="simple")


@pytest.mark.parametrize("name", list(all_layers()))
def test_a_layers_arguments_table_is_laid_out_as_tabulate_would(name):
    table = catalog._arguments_table(all_layers()[name])
    assert table.count("\n") >= 2
    assert table == tabulated(table)


def test_the_overview_is_laid_out_as_tabulate_would():
    table = catalog.overview().split("\n\n")[0]  # the left-out list follows the table
    assert "Conv2D" in table
    assert table == tabulated(table)
