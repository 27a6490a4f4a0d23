"""The contract every registered layer meets, checked the same way for all of them."""

import dataclasses
import json

import numpy as np
import pytest

from seqcli.engines.numpy_engine import NumpyEngine
from seqcli import runner
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.catalog import details
from seqcli.errors import ArgError
from seqcli.registry import all_layers
from tests.catalog_examples import CATALOG_EXAMPLES

# class -> [(entry args, one sample's input shape)]: more than one where arguments matter
EXAMPLES = {
    "Dense": [({"units": 3}, [5]), ({"units": 2, "use_bias": False, "activation": "tanh"}, [4, 6])],
    "Activation": [({"activation": "softmax"}, [7]), ({"activation": "gelu"}, [2, 3])],
    "Dropout": [({"rate": 0.3}, [6]), ({"rate": 0.5, "noise_shape": [None, 1, 3]}, [4, 3])],
    "Flatten": [({}, [3, 4, 5]), ({"data_format": "channels_first"}, [2, 3, 4])],
    "Conv2D": [({"filters": 4, "kernel_size": 3}, [8, 9, 2]),
               ({"filters": 4, "kernel_size": [3, 2], "strides": 2, "padding": "same"}, [7, 9, 3]),
               ({"filters": 6, "kernel_size": 3, "groups": 3, "dilation_rate": 2}, [9, 9, 3]),
               ({"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, [3, 5, 6])],
    "MaxPooling2D": [({}, [6, 7, 2]), ({"pool_size": 3, "strides": 2, "padding": "same"}, [7, 8, 3]),
                     ({"data_format": "channels_first"}, [2, 6, 6])],
    "GlobalMaxPooling2D": [({}, [4, 5, 3]), ({"keepdims": True}, [4, 5, 3])],
    "Sequential": [({"layers": [{"Dense": {"units": 4}}, {"Dropout": {"rate": 0.1}}]}, [3])],
    "Input": [({"shape": [4]}, [4])],
    "MaxPooling1D": [({}, [7, 3]), ({"pool_size": 3, "strides": 2, "padding": "same"}, [8, 2])],
    "MaxPooling3D": [({}, [4, 5, 4, 2]), ({"pool_size": [2, 1, 3], "padding": "same"}, [3, 4, 5, 2])],
    "AveragePooling1D": [({"pool_size": 2}, [7, 3]), ({"pool_size": 3, "strides": 2, "padding": "same"}, [8, 2])],
    "AveragePooling2D": [({"pool_size": 2}, [6, 7, 2]), ({"pool_size": 3, "strides": 2, "padding": "same"},
                                           [7, 8, 3]),
                         ({"pool_size": [2, 3], "data_format": "channels_first"}, [2, 6, 6])],
    "AveragePooling3D": [({"pool_size": 2}, [4, 5, 4, 2]), ({"pool_size": 3, "strides": 2, "padding": "same"},
                                              [5, 4, 5, 2])],
    "GlobalMaxPooling1D": [({}, [5, 3]), ({"keepdims": True, "data_format": "channels_first"},
                                          [3, 5])],
    "GlobalMaxPooling3D": [({}, [3, 4, 2, 2])],
    "GlobalAveragePooling1D": [({}, [5, 3]), ({"keepdims": True}, [5, 3])],
    "GlobalAveragePooling2D": [({}, [4, 5, 3]), ({"data_format": "channels_first"}, [3, 4, 5])],
    "GlobalAveragePooling3D": [({"keepdims": True}, [3, 4, 2, 2])],
    "ZeroPadding1D": [({}, [4, 2]), ({"padding": [2, 0]}, [3, 2])],
    "ZeroPadding2D": [({}, [3, 4, 2]), ({"padding": [[1, 2], [0, 1]],
                                         "data_format": "channels_first"}, [2, 3, 4])],
    "ZeroPadding3D": [({"padding": [1, 0, 2]}, [2, 3, 2, 2])],
    "Cropping1D": [({}, [5, 2]), ({"cropping": [0, 2]}, [5, 3])],
    "Cropping2D": [({"cropping": 1}, [4, 5, 2]), ({"cropping": [[1, 0], [0, 2]],
                                                   "data_format": "channels_first"}, [2, 4, 5])],
    "Cropping3D": [({}, [3, 4, 3, 2])],
    "UpSampling1D": [({}, [3, 2]), ({"size": 3}, [2, 2])],
    "UpSampling2D": [({}, [3, 2, 2]), ({"size": [1, 3], "interpolation": "bilinear"}, [3, 4, 2]),
                     ({"size": 2, "interpolation": "bilinear", "data_format": "channels_first"},
                      [2, 3, 3])],
    "UpSampling3D": [({"size": [2, 1, 2]}, [2, 3, 2, 2])],
    "BatchNormalization": [({}, [5]), ({"axis": 1, "center": False, "momentum": 0.9},
                                        [3, 4, 2]), ({}, [4, 4, 3])],
    "LayerNormalization": [({}, [6]), ({"axis": [1, 2], "scale": False}, [3, 4]),
                           ({"rms_scaling": True}, [5])],
    "GroupNormalization": [({"groups": 2}, [4, 6]), ({"groups": -1, "axis": 1}, [3, 5])],
    "UnitNormalization": [({}, [5]), ({"axis": [1, 2]}, [3, 4])],
    "SpatialDropout1D": [({"rate": 0.5}, [4, 3])],
    "SpatialDropout2D": [({"rate": 0.3}, [3, 3, 2]),
                         ({"rate": 0.5, "data_format": "channels_first"}, [2, 3, 3])],
    "SpatialDropout3D": [({"rate": 0.4}, [2, 2, 2, 3])],
    "GaussianNoise": [({"stddev": 0.5}, [5])],
    "GaussianDropout": [({"rate": 0.3}, [5])],
    "AlphaDropout": [({"rate": 0.2}, [6]), ({"rate": 0.5, "noise_shape": [None, 1, 4]}, [3, 4])],
    "ActivityRegularization": [({"l1": 0.01, "l2": 0.02}, [5])],
    "Conv1D": [({"filters": 3, "kernel_size": 3}, [7, 2]),
               ({"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, [8, 3]),
               ({"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same", "groups": 2,
                 "data_format": "channels_first"}, [2, 7])],
    "Conv3D": [({"filters": 2, "kernel_size": 2}, [3, 4, 3, 2]),
               ({"filters": 3, "kernel_size": [3, 1, 2], "strides": [2, 1, 1], "padding": "same"},
                [4, 3, 4, 2])],
    "Conv1DTranspose": [({"filters": 2, "kernel_size": 3, "strides": 2}, [4, 3]),
                        ({"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same",
                          "output_padding": 1}, [3, 2])],
    "Conv2DTranspose": [({"filters": 2, "kernel_size": 3}, [3, 3, 2]),
                        ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
                         [3, 4, 2]),
                        ({"filters": 2, "kernel_size": [2, 3], "strides": [2, 1],
                          "output_padding": [1, 0], "data_format": "channels_first"}, [2, 3, 3]),
                        ({"filters": 2, "kernel_size": 3, "dilation_rate": 2}, [3, 3, 2])],
    "Conv3DTranspose": [({"filters": 2, "kernel_size": 2, "strides": 2}, [2, 3, 2, 2])],
    "DepthwiseConv1D": [({"kernel_size": 3}, [6, 2]),
                        ({"kernel_size": 2, "depth_multiplier": 2, "strides": 2,
                          "padding": "same"}, [7, 3])],
    "DepthwiseConv2D": [({"kernel_size": 3}, [5, 5, 2]),
                        ({"kernel_size": [2, 3], "depth_multiplier": 3, "padding": "same",
                          "data_format": "channels_first"}, [2, 4, 5])],
    "SeparableConv1D": [({"filters": 4, "kernel_size": 3}, [6, 2])],
    "SeparableConv2D": [({"filters": 3, "kernel_size": 3, "depth_multiplier": 2}, [5, 5, 2]),
                        ({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                         [6, 5, 3])],
    "SimpleRNN": [({"units": 3}, [4, 2]),
                  ({"units": 2, "return_sequences": True, "go_backwards": True,
                    "activation": "relu"}, [3, 2])],
    "LSTM": [({"units": 3}, [4, 2]),
             ({"units": 2, "return_sequences": True, "go_backwards": True,
               "unit_forget_bias": False}, [3, 3]),
             ({"units": 2, "dropout": 0.3, "recurrent_dropout": 0.3}, [3, 2])],
    "GRU": [({"units": 3}, [4, 2]), ({"units": 2, "reset_after": False,
                                       "return_sequences": True}, [3, 3]),
            ({"units": 2, "use_bias": False}, [3, 2])],
    "Bidirectional": [({"layer": {"LSTM": {"units": 2, "return_sequences": True}}}, [3, 2]),
                      ({"layer": {"GRU": {"units": 2}}, "merge_mode": "mul"}, [4, 3]),
                      ({"layer": {"SimpleRNN": {"units": 2, "return_sequences": True}},
                        "merge_mode": "ave"}, [3, 2])],
    "TimeDistributed": [({"layer": {"Dense": {"units": 3}}}, [4, 2]),
                        ({"layer": {"Conv2D": {"filters": 2, "kernel_size": 2}}}, [2, 4, 4, 1])],
    "Rescaling": [({"scale": 0.5, "offset": -1}, [3, 2]), ({"scale": [1, 2, 3]}, [2, 3])],
    "Normalization": [({}, [4]), ({"axis": [1, 2]}, [2, 3]),
                      ({"mean": [1.0, 2.0], "variance": [4.0, 0.25]}, [3, 2]),
                      ({"axis": None, "mean": 2.0, "variance": 9.0, "invert": True}, [3])],
    "CenterCrop": [({"height": 3, "width": 2}, [5, 5, 2]),
                   ({"height": 6, "width": 4, "data_format": "channels_first"}, [2, 4, 5])],
    "Resizing": [({"height": 5, "width": 3}, [3, 4, 2]),
                 ({"height": 2, "width": 6, "interpolation": "nearest"}, [5, 3, 2]),
                 ({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, [3, 6, 1])],
    "Identity": [({}, [3, 2])],
    "Reshape": [({"target_shape": [6, 2]}, [3, 4]), ({"target_shape": [-1, 3]}, [2, 3, 2])],
    "Permute": [({"dims": [2, 1]}, [3, 4]), ({"dims": [3, 1, 2]}, [2, 3, 4])],
    "RepeatVector": [({"n": 3}, [4])],
    "Embedding": [({"input_dim": 7, "output_dim": 3}, [5], "indices"),
                  ({"input_dim": 4, "output_dim": 2}, [2, 3], "indices")],
    "ReLU": [({}, [6]), ({"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.2}, [3, 4])],
    "LeakyReLU": [({}, [5]), ({"negative_slope": 0.05}, [2, 3])],
    "PReLU": [({}, [4]), ({"shared_axes": [1, 2]}, [3, 4, 2])],
    "ELU": [({}, [5]), ({"alpha": 0.5}, [2, 3])],
    "Softmax": [({}, [5]), ({"axis": 1}, [3, 4]), ({"axis": [1, 2]}, [2, 3, 2])],
}

EXAMPLES.update(CATALOG_EXAMPLES)

# (class, args, sample shape, input kind): "normal" floats, "indices" below input_dim,
# or "indices:N" below N
CASES = [(name, example[0], example[1], example[2] if len(example) > 2 else "normal")
         for name, examples in EXAMPLES.items() for example in examples]


def make_input(kind, args, shape, rng):
    if kind.startswith("indices"):
        top = int(kind.split(":")[1]) if ":" in kind else args["input_dim"]
        return rng.integers(0, top, shape).astype(np.float64)
    return rng.standard_normal(shape)


def is_cell(class_name):
    return getattr(all_layers()[class_name], "is_cell", False)


def entry(class_name, args):
    if is_cell(class_name):  # a cell runs only inside an RNN
        return {"RNN": {"cell": {class_name: args}}}
    return {class_name: args}


def build(class_name, args, sample_shape):
    text = json.dumps({"input_shape": sample_shape, "layers": [entry(class_name, args)]})
    return spec_module.load_text(text, "example.json").model


def test_a_cell_alone_is_refused_with_the_way_to_use_it():
    from seqcli.errors import SeqcliError

    text = json.dumps({"input_shape": [3, 2], "layers": [{"LSTMCell": {"units": 2}}]})
    with pytest.raises(SeqcliError, match=r"recurrent cell.*wrap it in an RNN"):
        spec_module.load_text(text, "example.json").model.output_shape((None, 3, 2))


def test_every_registered_layer_has_examples():
    assert set(all_layers()) == set(EXAMPLES)


@pytest.mark.parametrize("class_name,args,shape,kind", CASES)
def test_forward_shape_equals_inferred_shape(class_name, args, shape, kind):
    model = build(class_name, args, shape)
    x = make_input(kind, args, (3, *shape), np.random.default_rng(0)).astype(np.float32)
    weights = weights_module.fresh(model, seed=1)
    y = runner.predict(NumpyEngine(model, weights), x)
    assert y.shape == model.output_shape((3, *shape))
    assert model.output_shape((None, *shape))[1:] == y.shape[1:]
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("class_name,args,shape,kind", CASES)
def test_param_count_is_the_sum_of_weight_sizes(class_name, args, shape, kind):
    from seqcli.summary import summarize

    model = build(class_name, args, shape)
    weights = weights_module.fresh(model)
    specs = weights_module.specs_of(model)
    assert set(weights) == {s.name for s in specs}
    assert all(weights[s.name].shape == tuple(s.shape) for s in specs)
    assert all(weights[s.name].dtype == np.dtype(s.dtype) for s in specs)
    assert summarize(model).total_params == sum(w.size for w in weights.values())


@pytest.mark.parametrize("class_name,args,shape,kind", CASES)
def test_config_round_trip(class_name, args, shape, kind):
    model = build(class_name, args, shape)
    if class_name == "Input":
        assert model.layers == () and model.input_shape == tuple(shape)
        return
    layer = model.layers[0]
    if is_cell(class_name):
        cell = layer.cell
        assert build(class_name, cell.config(), shape).layers[0].cell == cell
    again = build(type(layer).__name__, layer.config(), shape).layers[0]
    assert again == layer
    assert layer.where == "example.json:1:" + str(json.dumps({"input_shape": shape,
                                                             "layers": []}).index("[]") + 2)


@pytest.mark.parametrize("class_name", sorted(EXAMPLES))
def test_layers_compare_hash_print_and_refuse_changes_as_dataclasses_do(class_name):
    args, shape = EXAMPLES[class_name][0][:2]
    model = build(class_name, args, shape)
    layer = model.layers[0] if model.layers else model  # Input makes no layer
    twin = build(class_name, args, shape).layers[0] if model.layers else build(
        class_name, args, shape)
    assert layer == twin and hash(layer) == hash(twin) and layer is not twin
    moved = dataclasses.replace(layer, where="elsewhere.yaml:9:9")  # not compared
    assert moved == layer and hash(moved) == hash(layer)
    assert dataclasses.replace(layer, name="renamed") != layer
    assert layer != 3 and layer.__eq__(3) is NotImplemented
    shown = [f"{f.name}={getattr(layer, f.name)!r}" for f in dataclasses.fields(layer)
             if f.name not in ("rules", "where")]
    assert repr(layer) == f"{type(layer).__name__}({', '.join(shown)})"
    for change in (lambda: setattr(layer, "name", "x"), lambda: delattr(layer, "name"),
                   lambda: setattr(layer, "new_attribute", 1)):
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot (assign to|delete) field"):
            change()


def test_a_layer_is_made_from_keyword_arguments_and_defaults_then_checked():
    from seqcli.layers.core import Dense

    layer = Dense(name="d", units=3)
    assert (layer.units, layer.activation, layer.use_bias, layer.rules, layer.where) == \
        (3, None, True, (), "")
    with pytest.raises(TypeError, match="missing the keyword argument 'units'"):
        Dense(name="d")
    with pytest.raises(TypeError, match="unexpected keyword argument 'unit'"):
        Dense(name="d", units=3, unit=4)
    with pytest.raises(TypeError):
        Dense("d", 3)  # keyword-only, as before
    with pytest.raises(ArgError, match="units"):
        Dense(name="d", units=0)  # __post_init__ checks every argument
    assert dataclasses.replace(layer, units=5) == Dense(name="d", units=5)


def test_a_layer_repr_reads_as_before():
    layer = build("Dense", {"units": 3}, [5]).layers[0]
    assert repr(layer) == ("Dense(name='dense', trainable=True, dtype='float32', units=3, "
                           "activation=None, use_bias=True, kernel_initializer='glorot_uniform', "
                           "bias_initializer='zeros')")


def test_every_layer_class_takes_its_dataclass_methods_from_layer():
    # made with `layer_class`: dataclasses' own __init__, __eq__, __hash__, __repr__ and
    # frozen __setattr__/__delattr__ would compile six methods per class, at every
    # start-up that loads its family
    from seqcli.layers.base import Layer

    for cls in all_layers().values():
        for klass in cls.__mro__[:cls.__mro__.index(Layer)]:
            assert not {"__init__", "__eq__", "__hash__", "__repr__", "__setattr__",
                        "__delattr__"} & set(vars(klass)), klass


@pytest.mark.parametrize("class_name", sorted(EXAMPLES))
def test_catalog_documents_every_argument(class_name):
    text = details(class_name)
    cls = all_layers()[class_name]
    for name in cls.argument_names():
        assert name in text
    assert "weights:" in text


@pytest.mark.parametrize("class_name", sorted(set(EXAMPLES) - {"Sequential", "Input"}))
def test_unknown_and_missing_arguments_are_named(class_name):
    cls = all_layers()[class_name]
    args = EXAMPLES[class_name][0][0]
    with pytest.raises(ArgError) as unknown:
        cls.create({**args, "name": "x", "not_an_argument": 1})
    assert unknown.value.arg == "not_an_argument"
    required = [name for f, name in zip(cls.arguments(), cls.argument_names())
                if f.default is dataclasses.MISSING and name != "name"]
    for name in required:
        with pytest.raises(ArgError) as missing:
            cls.create({k: v for k, v in args.items() if k != name} | {"name": "x"})
        assert missing.value.arg == name


def numeric_gradient(f, array, index, step=1e-6):
    saved = array[index]
    array[index] = saved + step
    up = f()
    array[index] = saved - step
    down = f()
    array[index] = saved
    return (up - down) / (2 * step)


def sample_indices(shape, rng, count=8):
    flat = rng.choice(int(np.prod(shape)), size=min(count, int(np.prod(shape))), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


@pytest.mark.parametrize("class_name,args,shape,kind", CASES)
def test_backward_matches_finite_differences(class_name, args, shape, kind):
    """dL/dx and dL/dweights for L = sum(y * r), in float64, against central differences."""
    model = build(class_name, args, shape)
    rng = np.random.default_rng(3)
    x = make_input(kind, args, (2, *shape), rng)
    params = weights_module.nest({k: v.astype(np.float64) + rng.normal(0, 0.1, v.shape)
                                  for k, v in weights_module.fresh(model).items()})
    converge_vector_u(params)
    r = rng.standard_normal(model.output_shape((2, *shape)))

    def loss():  # the same random draws every time; layers' own loss terms included
        result = model.run(params, x, training=True, rng=np.random.default_rng(5))
        return float(np.sum(result.output * r)) + result.penalty

    y, cache = model.forward_train(params, x, np.random.default_rng(5))
    dx, grads = model.backward(params, cache, r)
    assert dx.shape == x.shape and y.dtype == np.float64
    if kind.startswith("indices"):  # integer inputs have no gradient
        assert not dx.any()
    for index in sample_indices(x.shape, rng) if kind == "normal" else []:
        assert dx[index] == pytest.approx(numeric_gradient(loss, x, index), rel=1e-5, abs=1e-6)
    flat_grads, flat_params = weights_module.flatten(grads), weights_module.flatten(params)
    trainable = {spec.name for spec in weights_module.specs_of(model) if spec.trainable}
    assert set(flat_grads) == trainable  # moving statistics have no gradient
    for key, grad in flat_grads.items():
        assert grad.shape == flat_params[key].shape
        for index in sample_indices(grad.shape, rng):
            expected = numeric_gradient(loss, flat_params[key], index)
            assert grad[index] == pytest.approx(expected, rel=1e-5, abs=1e-6), key


def converge_vector_u(params):
    """SpectralNormalization holds its power iteration's u and v constant in the gradient,
    as Keras does (stop_gradient); from the kernel's top singular vector that is the true
    derivative of the spectral norm, so finite differences can check it."""
    for layer in params.values():
        if isinstance(layer, dict) and "vector_u" in layer:
            kernel = layer["kernel"] if "kernel" in layer else layer["embeddings"]
            top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]))[2][0]
            layer["vector_u"] = top[None, :]


@pytest.mark.parametrize("name", sorted(__import__("seqcli.activations").activations.ACTIVATIONS))
def test_every_activation_gradient(name):
    from seqcli import activations

    z = np.linspace(-7.3, 7.1, 57).reshape(3, 19)  # crosses every kink, none exactly
    f, grad = activations.get(name), activations.gradient(name)
    r = np.random.default_rng(0).standard_normal(z.shape)
    analytic = grad(z, f(z), r)
    for index in np.ndindex(z.shape):
        expected = numeric_gradient(lambda: float(np.sum(f(z) * r)), z, index)
        assert analytic[index] == pytest.approx(expected, rel=1e-5, abs=1e-6), (name, index)


def test_summaries_of_every_layer_never_import_numpy():
    """Shapes and parameter counts need no arrays: a summary of each example, in a fresh
    process, leaves numpy unimported."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    specs = [json.dumps({"input_shape": shape, "layers": [entry(name, args)]})
             for name, args, shape, _ in CASES]
    code = ("import sys, json\nfrom seqcli import spec, summary\n"
            f"for text in json.loads({json.dumps(json.dumps(specs))}):\n"
            "    summary.render_text(summary.summarize(spec.load_text(text, 'x.json').model))\n"
            "assert 'numpy' not in sys.modules, 'numpy was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_registry_index_matches_the_registered_layers():
    from seqcli.registry import ALIASES, FAMILIES

    registered = all_layers()
    for module, names in FAMILIES.items():
        for name in names:
            cls = registered[ALIASES.get(name, name)]
            assert cls.__module__ == module, name
    assert set(registered) | set(ALIASES) == {n for names in FAMILIES.values() for n in names}
