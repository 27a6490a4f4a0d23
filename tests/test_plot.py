"""`seqcli plot`: SVG, DOT and Mermaid diagrams that name every layer, shape and arrow.

The expected layers, shapes and arrows are worked out here from the model itself
(its traced shapes), not from the plot module's own graph.
"""

import glob
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from seqcli import spec as spec_module
from seqcli.layers.base import format_shape
from seqcli.model import Sequential
from tests.conftest import GOLDEN, SPECS

SVG = "{http://www.w3.org/2000/svg}"
ALL_SPECS = sorted(os.path.relpath(p, SPECS)
                   for p in glob.glob(os.path.join(SPECS, "**", "*.yaml"), recursive=True)
                   if not p.endswith("typo.yaml"))  # the README's example of an error
NAMES_SPEC = os.path.join(GOLDEN, "keras3_names.yaml")
NEEDS_SHAPE = {"guide_unbuilt.yaml": ["--input-shape", "4"]}


def expected_layers(model: Sequential, batch_input_shape, expand: bool, prefix=""):
    """(id, name, class, input shape, output shape) of each drawn layer, in order."""
    found = []
    for layer, shape_in, shape_out in zip(model.layers, model.layer_inputs(batch_input_shape),
                                          model.trace(batch_input_shape)):
        path = prefix + layer.name
        if expand and isinstance(layer, Sequential) and layer.layers:
            found += expected_layers(layer, shape_in, True, path + "/")
        else:
            found.append((path, layer.name, type(layer).__name__, format_shape(shape_in),
                          format_shape(shape_out)))
    return found


def model_of(spec_file, options):
    model = spec_module.load(spec_file).model
    if "--input-shape" in options:
        model = model.with_input((None, 4))
    return model


def plot(cli, tmp_path, spec_file, extension, *options):
    out = tmp_path / f"model{extension}"
    result = cli("plot", spec_file, "-o", out, *options)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    return out.read_text(encoding="utf-8")


def check_svg(text, layers):
    root = ET.fromstring(text)
    groups = {g.get("id"): " ".join("".join(t.itertext()) for t in g.iter(SVG + "text"))
              for g in root.iter(SVG + "g") if g.get("class") == "layer"}
    assert set(groups) == {"layer:" + path for path, *_ in layers}
    for path, name, class_name, shape_in, shape_out in layers:
        label = groups["layer:" + path]
        assert f"{name} ({class_name})" in label
        assert f"Input shape: {shape_in}" in label and f"Output shape: {shape_out}" in label
    arrows = [e for e in root.iter(SVG + "polyline") if e.get("class") == "edge"]
    assert len(arrows) == max(len(layers) - 1, 0)
    return root


def check_dot(text, layers):
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    nodes = dict(re.findall(r'^\s*"([^"]+)" \[label=<(.*)>, fontname', text, re.M))
    assert list(nodes) == [path for path, *_ in layers]
    for path, name, class_name, shape_in, shape_out in layers:
        assert f"<b>{name}</b> ({class_name})" in nodes[path]
        assert f"Input shape: <b>{shape_in}</b>" in nodes[path]
        assert f"Output shape: <b>{shape_out}</b>" in nodes[path]
    arrows = re.findall(r'^\s*"([^"]+)" -> "([^"]+)" \[penwidth=2\];$', text, re.M)
    chain = [path for path, *_ in layers]
    assert sorted(arrows) == sorted(zip(chain, chain[1:]))


def check_mermaid(text, layers, rankdir="TB"):
    lines = text.splitlines()
    assert lines[0] == "---" and lines[2] == "---" and lines[3] == f"flowchart {rankdir}"
    nodes = re.findall(r'^\s*(n\d+)\["(.*)"\]$', text, re.M)
    assert len(nodes) == len(layers)
    ids = {}
    for (key, label), (path, name, class_name, shape_in, shape_out) in zip(nodes, layers):
        assert label.startswith(f"<b>{name}</b> ({class_name})")
        assert f"Input shape: <b>{shape_in}</b>" in label
        assert f"Output shape: <b>{shape_out}</b>" in label
        ids[key] = path
    arrows = re.findall(r"^\s*(n\d+) ==> (n\d+)$", text, re.M)
    chain = [path for path, *_ in layers]
    assert sorted((ids[a], ids[b]) for a, b in arrows) == sorted(zip(chain, chain[1:]))
    opened = sum(1 for line in lines if line.strip().startswith("subgraph "))
    assert opened == sum(1 for line in lines if line.strip() == "end")


@pytest.mark.parametrize("expand", [False, True])
@pytest.mark.parametrize("name", ALL_SPECS)
def test_plot_draws_every_spec_in_every_format(cli, tmp_path, name, expand):
    options = NEEDS_SHAPE.get(name, []) + (["--expand-nested", "--show-trainable"]
                                           if expand else [])
    spec_file = os.path.join(SPECS, name)
    model = model_of(spec_file, options)
    layers = expected_layers(model, model.batch_input_shape, expand)
    check_svg(plot(cli, tmp_path, spec_file, ".svg", *options), layers)
    check_dot(plot(cli, tmp_path, spec_file, ".dot", *options), layers)
    check_mermaid(plot(cli, tmp_path, spec_file, ".mmd", *options), layers)


def test_nested_models_are_dashed_boxes_around_their_layers(cli, tmp_path):
    text = plot(cli, tmp_path, NAMES_SPEC, ".svg", "--expand-nested")
    root = ET.fromstring(text)
    boxes = {g.get("id"): g.find(SVG + "rect") for g in root.iter(SVG + "g")}
    outer, inner = boxes["model:入れ子の層"], boxes["model:入れ子の層/deeper"]
    assert outer.get("stroke-dasharray") and inner.get("stroke-dasharray")

    def span(rect):
        x, y = float(rect.get("x")), float(rect.get("y"))
        return x, y, x + float(rect.get("width")), y + float(rect.get("height"))

    def inside(a, b):
        return b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3]

    deep = span(boxes["layer:入れ子の層/deeper/layer_normalization_inside_two_levels_of_nesting"])
    assert inside(deep, span(inner)) and inside(span(inner), span(outer))
    assert not inside(span(boxes["layer:flatten"]), span(outer))
    dot = plot(cli, tmp_path, NAMES_SPEC, ".dot", "--expand-nested")
    assert 'subgraph "cluster_入れ子の層/deeper" {' in dot and "style=dashed;" in dot


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_layers_do_not_overlap_and_follow_the_direction(cli, tmp_path, rankdir):
    spec_file = os.path.join(SPECS, "guide_cnn.yaml")
    root = ET.fromstring(plot(cli, tmp_path, spec_file, ".svg", "--rankdir", rankdir))
    rects = [g.find(SVG + "rect") for g in root.iter(SVG + "g") if g.get("class") == "layer"]
    spans = [(float(r.get("x")), float(r.get("y")), float(r.get("width")),
              float(r.get("height"))) for r in rects]
    assert len(spans) == 11
    along = 1 if rankdir == "TB" else 0
    for before, after in zip(spans, spans[1:]):
        assert before[along] + before[along + 2] < after[along]  # strictly after, with a gap
    width, height = float(root.get("width")), float(root.get("height"))
    assert all(x >= 0 and y >= 0 and x + w <= width and y + h <= height
               for x, y, w, h in spans)
    assert f"rankdir={rankdir};" in plot(cli, tmp_path, spec_file, ".dot", "--rankdir", rankdir)
    model = spec_module.load(spec_file).model
    check_mermaid(plot(cli, tmp_path, spec_file, ".mmd", "--rankdir", rankdir.lower()),
                  expected_layers(model, model.batch_input_shape, False), rankdir)


def test_trainable_marks_only_layers_with_weights(cli, tmp_path):
    root = ET.fromstring(plot(cli, tmp_path, os.path.join(SPECS, "guide_transfer.yaml"),
                              ".svg", "--show-trainable", "--expand-nested"))
    marks = {g.get("id"): "".join(g.itertext()) for g in root.iter(SVG + "g")
             if g.get("class") == "layer"}
    assert "Non-trainable" in marks["layer:base/conv2d"]
    assert "trainable" not in marks["layer:base/max_pooling2d"].lower()
    assert "Trainable" in marks["layer:dense"] and "Non-" not in marks["layer:dense"]
    mermaid = plot(cli, tmp_path, os.path.join(GOLDEN, "frozen_mlp.yaml"), ".mmd",
                   "--show-trainable")
    assert mermaid.count("class n") == 4 and "classDef frozen" in mermaid


def test_no_show_shapes_leaves_names_only(cli, tmp_path):
    text = plot(cli, tmp_path, os.path.join(SPECS, "guide_mlp.yaml"), ".svg", "--no-show-shapes")
    assert "shape" not in text and "dense_3" in text
    ET.fromstring(text)


def test_hostile_names_are_escaped_in_every_format(cli, tmp_path):
    spec_file = tmp_path / "hostile.yaml"
    spec_file.write_text('name: "<title><script>alert(1)<script>"\ninput_shape: [3]\n'
                         'layers:\n  - Dense: {units: 2, name: "a<b>&\\"c\\" #d --> e"}\n',
                         encoding="utf-8")
    svg = plot(cli, tmp_path, spec_file, ".svg")
    root = ET.fromstring(svg)
    assert root.find(SVG + "title").text == "<title><script>alert(1)<script>"
    assert not list(root.iter(SVG + "script")) and "<script>" not in svg
    assert 'a<b>&"c" #d --> e (Dense)' in "".join(root.itertext())
    dot = plot(cli, tmp_path, spec_file, ".dot")
    assert '"a<b>&\\"c\\" #d --> e" [label=<' in dot and "a&lt;b&gt;&amp;&quot;c&quot;" in dot
    mermaid = plot(cli, tmp_path, spec_file, ".mmd")
    assert "a#lt;b#gt;#amp;#quot;c#quot; #35;d --#gt; e" in mermaid
    assert "<script>" not in mermaid.split("---")[2]


def test_unknown_extension_is_a_usage_error_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "model.png"
    result = cli("plot", os.path.join(SPECS, "guide_mlp.yaml"), "-o", out)
    assert result.exit_code == 2
    assert ".svg, .dot or .mmd" in result.stderr and "model.png" in result.stderr
    assert not out.exists()


def test_a_bad_spec_leaves_the_old_diagram_alone(cli, tmp_path):
    out = tmp_path / "model.svg"
    out.write_text("old", encoding="utf-8")
    result = cli("plot", os.path.join(SPECS, "guide_unbuilt.yaml"), "-o", out)
    assert result.exit_code == 1 and "not yet been built" in result.stderr
    assert out.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["model.svg"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_graphviz_reads_the_dot_file(cli, tmp_path):
    import subprocess

    source = plot(cli, tmp_path, NAMES_SPEC, ".dot", "--expand-nested", "--show-trainable")
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True,
                          check=True)
    root = ET.fromstring(done.stdout)
    drawn = " ".join(root.itertext())
    assert "layer_normalization_inside_two_levels_of_nesting" in drawn and "Non-trainable" in drawn


def test_layer_activations_as_keras_names_them(cli, tmp_path):
    spec_file = tmp_path / "acts.yaml"
    spec_file.write_text("input_shape: [4, 3]\nlayers:\n  - Dense: {units: 2}\n"
                         "  - LSTM: {units: 2, activation: relu}\n  - Dropout: {rate: 0.5}\n",
                         encoding="utf-8")
    root = ET.fromstring(plot(cli, tmp_path, spec_file, ".svg", "--show-layer-activations"))
    labels = {g.get("id"): "".join(g.itertext()) for g in root.iter(SVG + "g")}
    assert "Activation: linear" in labels["layer:dense"]  # Keras's name for none
    assert "Activation: relu" in labels["layer:lstm"]
    assert "Activation" not in labels["layer:dropout"]
    dot = plot(cli, tmp_path, spec_file, ".dot", "--show-layer-activations")
    assert dot.count("Activation: <b>") == 2 and "Activation: <b>relu</b>" in dot
    mermaid = plot(cli, tmp_path, spec_file, ".mmd", "--show-layer-activations")
    assert mermaid.count("Activation: <b>") == 2
    assert "Activation" not in plot(cli, tmp_path, spec_file, ".svg")


def test_the_readme_shows_real_plot_output(cli, tmp_path, monkeypatch):
    """The Mermaid diagram pasted in the README, and docs/guide_transfer.svg, are what
    seqcli writes today."""
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    shown = re.search(r"```mermaid\n(.*?)```", readme, re.S).group(1)
    options = ["--expand-nested", "--show-trainable"]
    spec_file = os.path.join("specs", "guide_transfer.yaml")
    assert plot(cli, tmp_path, spec_file, ".mmd", *options) == shown
    with open(os.path.join(ROOT, "docs", "guide_transfer.svg"), encoding="utf-8") as handle:
        assert plot(cli, tmp_path, spec_file, ".svg", *options) == handle.read()
