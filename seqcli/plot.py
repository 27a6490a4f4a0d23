"""The model as a diagram, drawn the way Keras's `plot_model` draws it.

Keras (`keras/src/utils/model_visualization.py`) gives graphviz one node per layer:
a black table whose header is "**name** (Class)" and whose second row holds
"Input shape: **...**", "Output shape: **...**" and, with show_trainable, a green
"Trainable" or red "Non-trainable" cell (layers with weights only); consecutive
layers are joined by thick arrows, and an expanded nested model is a dashed box
labelled with its name. seqcli builds that graph from the summary rows and writes
it as SVG (laid out here, no graphviz), as graphviz DOT, or as Mermaid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from seqcli.layers.base import format_shape
from seqcli.summary_keras3 import cell_len

FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid",
           ".mermaid": "mermaid"}


# ---------------------------------------------------------------- the graph

@dataclass
class Node:
    id: str
    name: str
    class_name: str
    input_shape: tuple
    output_shape: tuple
    params: int
    trainable: bool
    activation: str | None = None  # None: the layer has no activation argument


@dataclass(frozen=True)
class Show:
    """What each layer's box shows (plot_model's show_* arguments)."""

    shapes: bool = True
    trainable: bool = False
    activations: bool = False


@dataclass
class Cluster:
    """An expanded nested model: its name and its blocks in order."""

    id: str
    name: str
    blocks: list = field(default_factory=list)


def build_graph(summary, expand_nested: bool) -> list:
    """The top-level blocks: a Node per layer, a Cluster per expanded nested model."""
    return _blocks(summary.rows, "", expand_nested)


def _blocks(rows, prefix: str, expand_nested: bool) -> list:
    blocks = []
    for row in rows:
        path = f"{prefix}{row.name}"
        if expand_nested and row.children:
            blocks.append(Cluster(path, row.name, _blocks(row.children, path + "/", True)))
        else:
            blocks.append(Node(path, row.name, row.class_name, tuple(row.input_shape),
                               tuple(row.output_shape), row.params, row.trainable,
                               _activation_of(row.layer)))
    return blocks


def _activation_of(layer) -> str | None:
    """The activation Keras would name: a layer without one given is "linear"."""
    if not hasattr(layer, "activation"):
        return None
    return str(layer.activation) if layer.activation is not None else "linear"


def first_node(block) -> Node | None:
    while isinstance(block, Cluster):
        if not block.blocks:
            return None
        block = block.blocks[0]
    return block


def last_node(block) -> Node | None:
    while isinstance(block, Cluster):
        if not block.blocks:
            return None
        block = block.blocks[-1]
    return block


def edges(blocks) -> list[tuple[Node, Node]]:
    """Arrows between consecutive layers, into and out of expanded models (as Keras)."""
    result = []
    for block in blocks:
        if isinstance(block, Cluster):
            result += edges(block.blocks)
    for before, after in zip(blocks, blocks[1:]):
        source, target = last_node(before), first_node(after)
        if source is not None and target is not None:
            result.append((source, target))
    return result


def activation_cell(node: Node, show: Show) -> tuple[str, str, str] | None:
    """The row under the title with the layer's activation, if shown and it has one."""
    if show.activations and node.activation is not None:
        return ("Activation: ", node.activation, "white")
    return None


def cells(node: Node, show: Show) -> list[tuple[str, str, str]]:
    """The bottom row of a node: (plain text, bold text, fill) per cell."""
    row = []
    if show.shapes:
        row.append(("Input shape: ", format_shape(node.input_shape), "white"))
        row.append(("Output shape: ", format_shape(node.output_shape), "white"))
    if show.trainable and node.params:  # Keras marks only layers that have weights
        row.append(("", "Trainable", "forestgreen") if node.trainable
                   else ("", "Non-trainable", "firebrick"))
    return row


# ---------------------------------------------------------------- SVG

FONT = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
ADVANCE = 0.61  # a monospace glyph's advance in em (DejaVu Sans Mono: 0.602)
TITLE_SIZE, CELL_SIZE, LABEL_SIZE = 16, 14, 14
PAD = 10  # Keras's cellpadding
SPACING = 2  # the black rules between cells (graphviz's cellspacing)
GAP = 40  # between consecutive blocks: room for the arrow
CLUSTER_PAD = 14


def text_width(text: str, size: int) -> float:
    return cell_len(text) * ADVANCE * size


@dataclass
class Box:
    """A block's laid-out size and, once placed, its position."""

    block: object
    width: float
    height: float
    children: list = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0
    cell_widths: list = field(default_factory=list)


def _title_height() -> float:
    return TITLE_SIZE * 1.2 + 2 * PAD


def _cell_height() -> float:
    return CELL_SIZE * 1.2 + 2 * PAD


def _measure(block, options, horizontal: bool) -> Box:
    if isinstance(block, Cluster):
        children = [_measure(child, options, horizontal) for child in block.blocks]
        label = text_width(block.name, LABEL_SIZE) + 2 * CLUSTER_PAD
        if horizontal:
            inner_w = sum(c.width for c in children) + GAP * max(len(children) - 1, 0)
            inner_h = max((c.height for c in children), default=0)
        else:
            inner_w = max((c.width for c in children), default=0)
            inner_h = sum(c.height for c in children) + GAP * max(len(children) - 1, 0)
        width = max(inner_w + 2 * CLUSTER_PAD, label)
        height = inner_h + 2 * CLUSTER_PAD + LABEL_SIZE * 1.5
        return Box(block, width, height, children)
    row = cells(block, options)
    activation = activation_cell(block, options)
    title = text_width(f"{block.name} ({block.class_name})", TITLE_SIZE) + 2 * PAD
    if activation:
        title = max(title, text_width(activation[0] + activation[1], CELL_SIZE) + 2 * PAD)
    widths = [text_width(plain + bold, CELL_SIZE) + 2 * PAD for plain, bold, _ in row]
    row_width = sum(widths) + SPACING * max(len(widths) - 1, 0)
    inner = max(title, row_width)
    if widths and row_width < inner:  # a wide title: the cells share the extra room
        extra = (inner - row_width) / len(widths)
        widths = [w + extra for w in widths]
    rows_below = bool(row) + bool(activation)
    height = 2 * SPACING + _title_height() + rows_below * (SPACING + _cell_height())
    return Box(block, inner + 2 * SPACING, height, cell_widths=widths)


def _place(box: Box, x: float, y: float, horizontal: bool) -> None:
    box.x, box.y = x, y
    if not box.children:
        return
    top = y + CLUSTER_PAD + LABEL_SIZE * 1.5
    if horizontal:
        cursor = x + CLUSTER_PAD
        inner_h = box.height - (top - y) - CLUSTER_PAD
        for child in box.children:
            _place(child, cursor, top + (inner_h - child.height) / 2, True)
            cursor += child.width + GAP
    else:
        for child in box.children:
            _place(child, x + (box.width - child.width) / 2, top, False)
            top += child.height + GAP


def _stack(boxes, horizontal: bool) -> tuple[float, float]:
    """Place the top-level boxes; returns the drawing's size."""
    margin = 20
    if horizontal:
        height = max((b.height for b in boxes), default=0)
        cursor = margin
        for box in boxes:
            _place(box, cursor, margin + (height - box.height) / 2, True)
            cursor += box.width + GAP
        return cursor - GAP + margin if boxes else 2 * margin, height + 2 * margin
    width = max((b.width for b in boxes), default=0)
    cursor = margin
    for box in boxes:
        _place(box, margin + (width - box.width) / 2, cursor, False)
        cursor += box.height + GAP
    return width + 2 * margin, (cursor - GAP + margin if boxes else 2 * margin)


def _flatten(boxes):
    for box in boxes:
        yield box
        yield from _flatten(box.children)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg_node(box: Box, options) -> list[str]:
    node, x, y, w = box.block, box.x, box.y, box.width
    out = [f'<g class="layer" id={quoteattr("layer:" + node.id)}>',
           f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(box.height)}" '
           'fill="black"/>',
           f'<text x="{_num(x + w / 2)}" y="{_num(y + SPACING + _title_height() / 2)}" '
           f'dy="0.35em" text-anchor="middle" font-size="{TITLE_SIZE}" fill="white">'
           f'<tspan font-weight="bold">{escape(node.name)}</tspan> '
           f'({escape(node.class_name)})</text>']
    cy = y + 2 * SPACING + _title_height()
    activation = activation_cell(node, options)
    if activation:
        out += _svg_cell(activation, x + SPACING, cy, w - 2 * SPACING)
        cy += _cell_height() + SPACING
    cx = x + SPACING
    for cell, cw in zip(cells(node, options), box.cell_widths):
        out += _svg_cell(cell, cx, cy, cw)
        cx += cw + SPACING
    out.append("</g>")
    return out


def _svg_cell(cell, x: float, y: float, width: float) -> list[str]:
    plain, bold, fill = cell
    colour = "black" if fill == "white" else "white"
    return [f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" '
            f'height="{_num(_cell_height())}" fill="{fill}"/>',
            f'<text x="{_num(x + width / 2)}" y="{_num(y + _cell_height() / 2)}" '
            f'dy="0.35em" text-anchor="middle" font-size="{CELL_SIZE}" '
            f'fill="{colour}">{escape(plain)}<tspan font-weight="bold">'
            f'{escape(bold)}</tspan></text>']


def _svg_cluster(box: Box) -> list[str]:
    return [f'<g class="model" id={quoteattr("model:" + box.block.id)}>',
            f'<rect x="{_num(box.x)}" y="{_num(box.y)}" width="{_num(box.width)}" '
            f'height="{_num(box.height)}" fill="none" stroke="black" '
            'stroke-dasharray="6 4"/>',
            f'<text x="{_num(box.x + CLUSTER_PAD / 2)}" y="{_num(box.y + LABEL_SIZE * 1.3)}" '
            f'font-size="{LABEL_SIZE}">{escape(box.block.name)}</text>', "</g>"]


def _svg_edge(a: Box, b: Box, horizontal: bool) -> str:
    """A right-angled arrow (Keras asks graphviz for orthogonal splines)."""
    if horizontal:
        x1, y1 = a.x + a.width, a.y + a.height / 2
        x2, y2 = b.x, b.y + b.height / 2
        mid = (x1 + x2) / 2
        points = [(x1, y1), (mid, y1), (mid, y2), (x2, y2)]
    else:
        x1, y1 = a.x + a.width / 2, a.y + a.height
        x2, y2 = b.x + b.width / 2, b.y
        mid = (y1 + y2) / 2
        points = [(x1, y1), (x1, mid), (x2, mid), (x2, y2)]
    path = " ".join(f"{_num(px)},{_num(py)}" for px, py in points)
    return (f'<polyline class="edge" points="{path}" fill="none" stroke="black" '
            'stroke-width="2" marker-end="url(#arrow)"/>')


def render_svg(title: str, blocks, options: Show, rankdir="TB") -> str:
    horizontal = rankdir == "LR"
    boxes = [_measure(block, options, horizontal) for block in blocks]
    width, height = _stack(boxes, horizontal)
    by_id = {id(box.block): box for box in _flatten(boxes)}
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" '
           f'height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
           f'font-family="{FONT}">',
           f"<title>{escape(title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" '
           'markerHeight="5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="black"/>'
           '</marker></defs>',
           f'<rect width="{_num(width)}" height="{_num(height)}" fill="white"/>']
    for box in _flatten(boxes):
        out += _svg_cluster(box) if isinstance(box.block, Cluster) else _svg_node(box, options)
    for a, b in edges(blocks):
        out.append(_svg_edge(by_id[id(a)], by_id[id(b)], horizontal))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- DOT

def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _dot_label(node: Node, options) -> str:
    """Keras's make_layer_label: an HTML-like graphviz table."""
    row = cells(node, options)
    span = max(1, len(row))
    label = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" color="white">'
             f"<b>{_html(node.name)}</b> ({_html(node.class_name)})</font></td></tr>")
    activation = activation_cell(node, options)
    if activation:
        label += (f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">'
                  f"{_html(activation[0])}<b>{_html(activation[1])}</b></font></td></tr>")
    if row:
        label += "<tr>"
        for plain, bold, fill in row:
            colour = ' color="white"' if fill != "white" else ""
            label += (f'<td bgcolor="{fill}"><font point-size="14"{colour}>{_html(plain)}'
                      f"<b>{_html(bold)}</b></font></td>")
        label += "</tr>"
    return label + "</table>>"


def _dot_blocks(blocks, options, indent: str) -> list[str]:
    out = []
    for block in blocks:
        if isinstance(block, Cluster):
            out.append(f"{indent}subgraph {_dot_id('cluster_' + block.id)} {{")
            out.append(f"{indent}  style=dashed;")
            out.append(f"{indent}  label={_dot_id(block.name)};")
            out.append(f"{indent}  labeljust=l;")
            out += _dot_blocks(block.blocks, options, indent + "  ")
            out.append(f"{indent}}}")
        else:
            out.append(f"{indent}{_dot_id(block.id)} [label={_dot_label(block, options)}, "
                       'fontname="Helvetica", border=0, margin=0];')
    return out


def render_dot(title: str, blocks, options: Show, rankdir="TB") -> str:
    out = [f"digraph {_dot_id(title)} {{", f"  rankdir={rankdir};", "  concentrate=true;",
           "  dpi=200;", "  splines=ortho;", "  node [shape=record];"]
    out += _dot_blocks(blocks, options, "  ")
    out += [f"  {_dot_id(a.id)} -> {_dot_id(b.id)} [penwidth=2];" for a, b in edges(blocks)]
    return "\n".join(out + ["}"]) + "\n"


# ---------------------------------------------------------------- Mermaid

def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: its own entity codes, never raw HTML."""
    return "".join({"&": "#amp;", "<": "#lt;", ">": "#gt;", '"': "#quot;",
                    "#": "#35;"}.get(char, char) for char in text)


def _mermaid_blocks(blocks, options, ids, indent: str) -> list[str]:
    out = []
    for block in blocks:
        key = ids.setdefault(block.id, f"{'c' if isinstance(block, Cluster) else 'n'}{len(ids)}")
        if isinstance(block, Cluster):
            out.append(f'{indent}subgraph {key}["{_mermaid_text(block.name)}"]')
            out += _mermaid_blocks(block.blocks, options, ids, indent + "  ")
            out.append(f"{indent}end")
            continue
        lines = [f"<b>{_mermaid_text(block.name)}</b> ({_mermaid_text(block.class_name)})"]
        activation = activation_cell(block, options)
        for plain, bold, fill in ([activation] if activation else []) + cells(block, options):
            lines.append(f"{_mermaid_text(plain)}<b>{_mermaid_text(bold)}</b>")
        out.append(f'{indent}{key}["{"<br/>".join(lines)}"]')
        if options.trainable and block.params:
            out.append(f"{indent}class {key} {'trainable' if block.trainable else 'frozen'}")
    return out


def render_mermaid(title: str, blocks, options: Show, rankdir="TB") -> str:
    ids: dict[str, str] = {}
    out = ["---", f"title: {json.dumps(title)}", "---", f"flowchart {rankdir}"]
    out += _mermaid_blocks(blocks, options, ids, "  ")
    out += [f"  {ids[a.id]} ==> {ids[b.id]}" for a, b in edges(blocks)]
    if options.trainable:
        out += ["  classDef trainable stroke:#228b22,stroke-width:3px",
                "  classDef frozen stroke:#b22222,stroke-width:3px"]
    return "\n".join(out) + "\n"


RENDERERS = {"svg": render_svg, "dot": render_dot, "mermaid": render_mermaid}


def render(fmt: str, summary, show: Show = Show(), expand_nested=False, rankdir="TB") -> str:
    blocks = build_graph(summary, expand_nested)
    return RENDERERS[fmt](summary.name, blocks, show, rankdir)
