"""The augmentation layers: Keras's formulas with the random factors fixed (fixtures from
make_catalog.py augment), seqcli's own draws within Keras's ranges, and their place in
training (random, seeded) and at inference (the identity, or RandomCrop's window)."""

import glob
import json
import os

import numpy as np
import pytest

from seqcli import spec as spec_module
from seqcli.errors import ArgError, SeqcliError
from seqcli.layers.augmentation import Factor
from tests.conftest import FIXTURES

CASES = sorted(glob.glob(os.path.join(FIXTURES, "augment", "*.npz")))


def load(path):
    data = np.load(path, allow_pickle=False)
    layer = spec_module.load_text(str(data["spec"]), "case.json").model.layers[0]
    factors = {k[2:]: data[k] for k in data.files if k.startswith("t:")}
    return layer, data, factors


def layer_of(entry, shape):
    text = json.dumps({"input_shape": list(shape), "layers": [entry]})
    return spec_module.load_text(text, "case.json").model.layers[0]


def test_every_augmentation_layer_has_formula_fixtures():
    from seqcli.layers.augmentation import Augmentation
    from seqcli.registry import all_layers

    names = {name for name, cls in all_layers().items() if issubclass(cls, Augmentation)}
    assert names == {type(load(path)[0]).__name__ for path in CASES}


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_transform_matches_keras_with_its_factors(path):
    layer, data, factors = load(path)
    y, cache = layer.transform(data["x"], factors)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-5)
    dx = layer.transform_backward(cache, data["r"])
    np.testing.assert_allclose(dx, data["g:x"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", [p for p in CASES if "rotation" in p],
                         ids=lambda p: os.path.basename(p)[:-4])
def test_rotation_matrix_is_keras_s(path):
    layer, data, factors = load(path)
    height, width = layer.to_last(data["x"]).shape[1:3]
    np.testing.assert_allclose(layer.matrices(factors, height, width),
                               data["t:rotation_matrix"], atol=1e-5)


RANGES = [  # (layer, key, low, high): where Keras's get_random_transformation draws
    ({"RandomRotation": {"factor": [-0.1, 0.3]}}, "angle", -36.0, 108.0),
    ({"RandomRotation": {"factor": 0.2}}, "angle", -72.0, 72.0),
    ({"RandomZoom": {"height_factor": [-0.3, 0.5]}}, "height_zoom", 0.7, 1.5),
    ({"RandomZoom": {"height_factor": 0.2, "width_factor": 0.6}}, "width_zoom", 0.4, 1.6),
    ({"RandomContrast": {"factor": 0.3}}, "contrast_factor", 1.0, 1.3),  # Keras 3's: >= 1
    ({"RandomContrast": {"factor": [0.2, 0.5]}}, "contrast_factor", 0.8, 1.5),
    ({"RandomBrightness": {"factor": 0.1}}, "rgb_delta", -25.5, 25.5),
    ({"RandomBrightness": {"factor": [0.0, 0.5], "value_range": [0, 1]}}, "rgb_delta", 0, 0.5),
    ({"RandomShear": {"x_factor": [0.2, 0.6]}}, "shear_factor", -0.6, 0.6),
]


@pytest.mark.parametrize("entry,key,low,high", RANGES)
def test_draws_cover_keras_s_range(entry, key, low, high):
    layer = layer_of(entry, [4, 5, 2])
    values = np.concatenate([np.ravel(layer.draw((50, 4, 5, 2), np.random.default_rng(s))[key])
                             for s in range(20)])
    assert values.min() >= low and values.max() <= high
    spread = high - low
    assert values.min() < low + 0.05 * spread and values.max() > high - 0.05 * spread


def test_erasing_boxes_take_keras_s_share_of_each_side():
    layer = layer_of({"RandomErasing": {"scale": [0.09, 0.25]}}, [20, 30, 1])
    masks = layer.draw((200, 20, 30, 1), np.random.default_rng(0))["batch_masks"][..., 0]
    rows, cols = masks.any(axis=2).sum(axis=1), masks.any(axis=1).sum(axis=1)
    assert rows.min() >= 0.3 * 20 - 1 and rows.max() <= 0.5 * 20 + 1  # sqrt of the scale
    assert cols.min() >= 0.3 * 30 - 1 and cols.max() <= 0.5 * 30 + 1


def test_translation_and_crop_draws():
    layer = layer_of({"RandomTranslation": {"height_factor": [0.1, 0.2], "width_factor": 0.5}},
                     [10, 8, 1])
    shifts = layer.draw((400, 10, 8, 1), np.random.default_rng(0))["translations"]
    assert shifts[:, 0].min() >= -4 and shifts[:, 0].max() <= 4  # width first, in pixels
    assert shifts[:, 1].min() >= 1 and shifts[:, 1].max() <= 2
    crop = layer_of({"RandomCrop": {"height": 3, "width": 4}}, [6, 8, 1])
    starts = {tuple(crop.draw((2, 6, 8, 1), np.random.default_rng(s)).values())
              for s in range(200)}
    assert starts == {(h, w) for h in range(4) for w in range(5)}  # every window, no more
    flips = layer_of({"RandomFlip": {}}, [3, 3, 1]).draw((1000, 3, 3, 1),
                                                          np.random.default_rng(1))["flips"]
    assert 400 < flips.sum() < 600


def run_model(layers, x, training, seed=0):
    text = json.dumps({"input_shape": list(x.shape[1:]), "layers": layers})
    model = spec_module.load_text(text, "case.json").model
    rng = np.random.default_rng(seed) if training else None
    return model.run({}, x, training=training, rng=rng).output


AUGMENTS = [{"RandomFlip": {}}, {"RandomRotation": {"factor": 0.3}},
            {"RandomZoom": {"height_factor": 0.3}},
            {"RandomTranslation": {"height_factor": 0.2, "width_factor": 0.2}},
            {"RandomContrast": {"factor": 0.5}}, {"RandomBrightness": {"factor": 0.3}},
            {"RandomShear": {"x_factor": 0.3, "y_factor": 0.3}}, {"RandomInvert": {}},
            {"RandomGrayscale": {}}]


@pytest.mark.parametrize("entry", AUGMENTS, ids=lambda e: next(iter(e)))
def test_identity_at_inference_random_and_seeded_in_training(entry):
    x = np.random.default_rng(0).uniform(0, 255, (8, 6, 5, 3)).astype(np.float32)
    assert run_model([entry], x, training=False) is x
    first, again = run_model([entry], x, True, 1), run_model([entry], x, True, 1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, x)
    assert not np.array_equal(first, run_model([entry], x, True, 2))


def test_random_crop_inference_is_the_centre_window_resized():
    x = np.arange(2 * 6 * 10 * 1, dtype=np.float32).reshape(2, 6, 10, 1)
    y = run_model([{"RandomCrop": {"height": 3, "width": 3}}], x, training=False)
    assert y.shape == (2, 3, 3, 1)
    # the 6x6 centre window (columns 2..7), halved bilinearly: its 2x2 blocks' means
    window = x[:, :, 2:8]
    np.testing.assert_allclose(y, window.reshape(2, 3, 2, 3, 2, 1).mean(axis=(2, 4)))
    same = run_model([{"RandomCrop": {"height": 6, "width": 10}}], x, training=False)
    np.testing.assert_array_equal(same, x)


def test_fit_trains_through_augmentation(tmp_path, cli):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.uniform(0, 1, (16, 6, 6, 1)).astype(np.float32),
             y=rng.integers(0, 2, 16))
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [6, 6, 1]\nlayers:\n"
                    "  - RandomFlip: {mode: horizontal}\n"
                    "  - RandomRotation: {factor: 0.1, fill_mode: constant}\n"
                    "  - RandomCrop: {height: 4, width: 4}\n"
                    "  - Flatten: {}\n  - Dense: {units: 2}\n")
    args = ("fit", spec, "--data", tmp_path / "d.npz", "--epochs", "2", "--seed", "3",
            "--loss", "sparse_categorical_crossentropy")
    assert cli(*args, "-o", tmp_path / "a.npz").exit_code == 0
    assert cli(*args, "-o", tmp_path / "b.npz").exit_code == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a["dense/kernel"], b["dense/kernel"])
    np.save(tmp_path / "x.npy", np.ones((1, 6, 6, 1), np.float32))
    result = cli("run", spec, "--input", tmp_path / "x.npy", "--weights", tmp_path / "a.npz",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0 and np.load(tmp_path / "y.npy").shape == (1, 2)


BAD = [
    ({"RandomRotation": {"factor": 1.5}}, "factor", "in the range [-1, 1]"),
    ({"RandomRotation": {"factor": [0.1, 0.2, 0.3]}}, "factor", "a list of two numbers"),
    ({"RandomZoom": {"height_factor": -1.0}}, "height_factor", "in the range (-1, 1]"),
    ({"RandomZoom": {"height_factor": 0.1, "width_factor": [0.1, 2]}}, "width_factor",
     "(-1, 1]"),
    ({"RandomTranslation": {"height_factor": 0.1, "width_factor": [-1.2, 0]}},
     "width_factor", "[-1, 1]"),
    ({"RandomContrast": {"factor": -0.1}}, "factor", "[0, 1]"),
    ({"RandomBrightness": {"factor": 0.1, "value_range": [0]}}, "value_range",
     "list of two numbers"),
    ({"RandomRotation": {"factor": 0.1, "fill_mode": "mirror"}}, "fill_mode", "reflect"),
    ({"RandomZoom": {"height_factor": 0.1, "interpolation": "bicubic"}}, "interpolation",
     "nearest, bilinear"),
    ({"RandomFlip": {"mode": "diagonal"}}, "mode", "horizontal_and_vertical"),
    ({"RandomCrop": {"height": 0, "width": 2}}, "height", "positive integer"),
    ({"RandomShear": {"x_factor": -0.2}}, "x_factor", "[0, 1]"),
    ({"RandomInvert": {"factor": 1.2}}, "factor", "[0, 1]"),
    ({"RandomGrayscale": {"factor": [0.1, 0.2]}}, "factor", "between 0 and 1"),
    ({"RandomColorJitter": {"hue_factor": 1.5}}, "hue_factor", "`hue_factor` argument"),
    ({"RandomColorJitter": {"contrast_factor": 0.1, "data_format": "channels_first"}},
     "data_format", "channels_last images only"),
]


@pytest.mark.parametrize("entry,name,words", BAD, ids=lambda v: str(v)[:30])
def test_bad_arguments_are_refused_in_keras_s_words(entry, name, words):
    (class_name, args), = entry.items()
    from seqcli.registry import lookup

    with pytest.raises(ArgError) as error:
        lookup(class_name).create({**args, "name": "x"})
    assert error.value.arg == name and words in str(error.value)


def test_images_must_be_rank_4_and_grayscale_needs_rgb():
    with pytest.raises(SeqcliError, match="expected ndim=4, found ndim=3"):
        layer_of({"RandomFlip": {}}, [4, 3])
    with pytest.raises(SeqcliError, match="expected 3 .RGB. or 1 .Grayscale."):
        layer_of({"RandomGrayscale": {}}, [4, 3, 2])


FILES = sorted(glob.glob(os.path.join(FIXTURES, "keras_files", "catalog", "augment_*.npz")))


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p)[:-4])
def test_keras_files_with_augmentation_read_and_write(path):
    """seqcli reads Keras's .keras (its arguments, weights and outputs), and Keras read
    seqcli's rewrite of it with the same layer configs and outputs (make_catalog.py files)."""
    from seqcli import runner
    from seqcli import weights as weights_module
    from seqcli.engines.numpy_engine import NumpyEngine

    data = np.load(path, allow_pickle=False)
    loaded = spec_module.load(path[:-4] + ".keras")
    model = runner.build_for(loaded.model, data["x"])
    weights, _ = weights_module.load(model, None, embedded=loaded.weights)
    y = runner.predict(NumpyEngine(model, weights), data["x"])
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-5)
    keras_configs = json.loads(str(data["configs"]))
    for layer, (class_name, config) in zip(model.layers, keras_configs):
        assert type(layer).__name__ == class_name
        kinds = {f.name: f.metadata["kind"] for f in type(layer).arguments()}
        for key, value in layer.config().items():  # what seqcli read is what Keras wrote
            if isinstance(kinds.get(key), Factor):  # (RandomShear reads Keras's (-f, f) as f)
                assert kinds[key].bounds(value) == kinds[key].bounds(
                    kinds[key](key, config[key])), (class_name, key)
            elif key != "name":
                assert json.loads(json.dumps(value)) == config[key], (class_name, key)
    assert json.loads(str(data["configs_loaded"])) == json.loads(str(data["configs"]))
    np.testing.assert_allclose(data["y_loaded"], data["y"], rtol=1e-5, atol=1e-5)


def test_the_fixture_script_takes_every_augmentation_layer_s_gradient_at_inference():
    """Keras's training-mode gradient would be through its own random draws."""
    import sys

    from seqcli.layers.augmentation import Augmentation
    from seqcli.registry import all_layers

    sys.path.insert(0, os.path.join(FIXTURES))
    from make_catalog import AUGMENTATION

    assert AUGMENTATION == {name for name, cls in all_layers().items()
                            if issubclass(cls, Augmentation)}


def test_a_keras_2_augmentation_config_reads():
    """tf-keras writes `force_generator: false` on its augmentation layers."""
    from seqcli import keras_config

    config = {"class_name": "Sequential", "config": {"name": "k2", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8, 8, 3]}},
        {"class_name": "RandomFlip", "config": {"name": "flip", "mode": "horizontal",
                                                "seed": None, "force_generator": False}},
        {"class_name": "RandomRotation", "config": {
            "name": "rot", "factor": 0.1, "fill_mode": "reflect", "fill_value": 0.0,
            "interpolation": "bilinear", "seed": 3, "force_generator": False}}]}}
    data = keras_config.read(config, "k2.json").data
    assert data["layers"][1:] == [{"RandomFlip": {"name": "flip", "mode": "horizontal",
                                                  "seed": None}},
                                  {"RandomRotation": {"name": "rot", "factor": 0.1,
                                                      "fill_mode": "reflect", "fill_value": 0.0,
                                                      "interpolation": "bilinear",
                                                      "seed": 3}}]
