"""Property tests: random stacks infer the shapes their forward pass produces,
and random specs end in a model or a located SeqcliError, never anything else."""

import json
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqcli.engines.numpy_engine import NumpyEngine
from seqcli import runner
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.activations import ACTIVATIONS
from seqcli.errors import SeqcliError

image_layers = st.one_of(
    st.builds(lambda f, k, s, p, a: {"Conv2D": {"filters": f, "kernel_size": k, "strides": s,
                                                "padding": p, "activation": a}},
              st.integers(1, 4), st.integers(1, 3), st.integers(1, 2),
              st.sampled_from(["valid", "same"]), st.sampled_from(sorted(ACTIVATIONS))),
    st.builds(lambda k, p: {"MaxPooling2D": {"pool_size": k, "padding": p}},
              st.integers(1, 3), st.sampled_from(["valid", "same"])),
    st.just({"Dropout": {"rate": 0.2}}),
)
head_layers = st.lists(st.one_of(
    st.builds(lambda u, a: {"Dense": {"units": u, "activation": a}}, st.integers(1, 5),
              st.sampled_from(sorted(ACTIVATIONS))),
    st.just({"Activation": {"activation": "softmax"}}),
), max_size=3)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 12), channels=st.integers(1, 3),
       body=st.lists(image_layers, max_size=4),
       pool=st.sampled_from([{"Flatten": {}}, {"GlobalMaxPooling2D": {}}]), head=head_layers)
def test_random_stacks_forward_to_their_inferred_shape(size, channels, body, pool, head):
    text = json.dumps({"input_shape": [size, size, channels], "layers": body + [pool] + head})
    try:
        model = spec_module.load_text(text, "random.json").model
    except SeqcliError as exc:
        assert "zero or negative" in str(exc)  # a window larger than the image
        return
    x = np.random.default_rng(0).standard_normal((2, size, size, channels)).astype(np.float32)
    y = runner.predict(NumpyEngine(model, weights_module.fresh(model)), x)
    assert y.shape == model.output_shape((2, size, size, channels))
    assert y.dtype == np.float32


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False, width=32)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=3),
    max_leaves=12)
entries = st.one_of(
    st.dictionaries(st.sampled_from(["Dense", "Conv2D", "Flatten", "Dropout", "MaxPool2D",
                                     "Input", "Sequential", "Nope"]),
                    st.dictionaries(st.sampled_from(["units", "filters", "kernel_size", "rate",
                                                     "shape", "layers", "name", "padding",
                                                     "trainable", "bogus"]), json_values,
                                    max_size=3) | st.none(),
                    min_size=1, max_size=2),
    json_values)


@settings(max_examples=150, deadline=None)
@given(spec=st.dictionaries(st.sampled_from(["name", "input_shape", "layers", "batch_size",
                                             "extra"]),
                            json_values | st.lists(entries, max_size=4), max_size=4),
       as_yaml=st.booleans())
def test_random_specs_end_in_a_model_or_a_located_error(spec, as_yaml):
    import yaml

    text = yaml.safe_dump(spec) if as_yaml else json.dumps(spec)
    name = "random.yaml" if as_yaml else "random.json"
    try:
        spec_module.load_text(text, name)
    except SeqcliError as exc:
        assert str(exc).startswith(name)
        assert "\n" not in str(exc).strip()


GUIDE_SPECS = []
for _name in ("guide_cnn.yaml", "guide_features.yaml", "guide_mlp.yaml", "guide_input_shape.yaml"):
    with open(os.path.join(os.path.dirname(__file__), "..", "specs", _name), encoding="utf-8") as _handle:
        GUIDE_SPECS.append(_handle.read())
GUIDE_SPECS.append(json.dumps({"input_shape": [8, 8, 3], "layers": [
    {"Conv2D": {"filters": 4, "kernel_size": 3}}, {"Flatten": {}}, {"Dense": {"units": 2}}]}))

mutation = st.tuples(st.sampled_from(["delete", "insert", "replace"]), st.floats(0, 1),
                     st.sampled_from(list("[]{}:,-#&*!'\"\n 0123456789aeZ\t") + ["\x00", "é"]))


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(GUIDE_SPECS), edits=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_specs_end_in_a_model_or_a_located_error(base, edits):
    text = base
    for kind, where, char in edits:
        at = int(where * len(text))
        if kind == "delete":
            text = text[:at] + text[at + 1:]
        elif kind == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + char + text[at + 1:]
    name = "mutated.json" if base.startswith("{") else "mutated.yaml"
    try:
        spec_module.load_text(text, name)
    except SeqcliError as exc:
        assert str(exc).startswith(name)
        assert "\n" not in str(exc).strip()
