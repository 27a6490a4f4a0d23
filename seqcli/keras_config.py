"""Keras's model JSON (Keras 3's `config.json` and `to_json()`, Keras 2's
`model_config`) translated into seqcli's plain model data: exactly the dict a
JSON spec file holds, for the one builder.

`translate(config, name)` is a pure function: it returns the data and a dict from
paths in the data to places in the file ("model.keras:config.json: layers[3]
(Conv2D 'conv2d')"), so the builder's errors name the Keras file too.

Safety, stricter than Keras's safe_mode: nothing is imported or called because a
file names it. Every object must be one of Keras's own classes that seqcli
implements (or a setting: initializer, regularizer, constraint, dtype policy,
optimizer, loss, metric); Lambda, custom objects (a `registered_name` with a
package, a `module` outside Keras), Keras API functions used as gadgets and file
paths inside a config are refused, naming the layer. No numpy here: `summary` of
a Keras file stays light.
"""

from __future__ import annotations

import re

from seqcli.errors import SeqcliError

LAYER_MODULES = (None, "keras.layers", "keras", "keras.models")
SETTING_MODULES = (None, "keras", "keras.initializers", "keras.regularizers",
                   "keras.constraints", "keras.optimizers", "keras.optimizers.schedules",
                   "keras.losses", "keras.metrics", "keras.activations")
# Keras arguments seqcli has no field for, dropped when they hold the value that makes
# them no-ops (Keras's default); any other value is refused, naming the argument
NO_OP_VALUES = {"return_state": False, "stateful": False, "unroll": False,
                "time_major": False, "renorm": False, "renorm_clipping": None,
                "renorm_momentum": 0.99, "synchronized": False, "sparse": False,
                "ragged": False, "optional": False, "autocast": True, "seed": None,
                "lora_rank": None, "lora_alpha": None, "quantization_config": None,
                "input_dim": None, "fill_mode": "constant", "fill_value": 0.0,
                "interpolation": "nearest", "crop_to_aspect_ratio": False, "groups": 1}
NO_EFFECT = ("implementation", "input_length", "build_config", "shared_object_id")
RENAMED = {("LeakyReLU", "alpha"): "negative_slope"}  # Keras 2's name
# arguments that would make Keras read a file or a URL (CVE-2025-12058, CVE-2026-1462)
PATH_ARGUMENTS = ("vocabulary", "filepath", "file_path", "path", "idf_weights", "call_endpoint")
# Keras API functions used as gadgets in published attacks (CVE-2025-8747, CVE-2025-9906)
GADGETS = ("get_file", "enable_unsafe_deserialization", "load_model", "load_weights",
           "save_model", "set_random_seed", "clear_session")


def translate(config, name: str) -> tuple[dict, dict]:
    """(plain model data, {path: place}) for a Keras Sequential config."""
    translator = _Translator(name)
    if isinstance(config, list):  # Keras <= 2.2.3 stored a Sequential as its layers
        config = {"class_name": "Sequential", "config": {"layers": config}}
    data = translator.model(config, (), "config", top=True)
    return data, translator.places


class KerasSource:
    """Translated Keras JSON as a builder source: data plus each layer's place."""

    def __init__(self, name: str, data: dict, places: dict):
        self.name, self.data, self.places = name, data, places

    def where(self, path: tuple, key: bool = False) -> str:
        for length in range(len(path), -1, -1):  # the nearest layer that has a place
            if path[:length] in self.places:
                return self.places[path[:length]]
        return self.name

    def relative(self, path):
        raise SeqcliError("a Keras model file names no other files", self.where(path))

    def include(self, path):
        raise SeqcliError("a Keras model file includes no spec files", self.where(path))


def snake_case(name: str) -> str:
    """Keras 3's to_snake_case: SimpleRNN -> simple_rnn."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _Translator:
    def __init__(self, name: str):
        self.name = name
        self.places: dict = {}

    def fail(self, message: str, where: str):
        raise SeqcliError(message, f"{self.name}: {where}")

    # ------------------------------------------------------------ objects

    def unwrap(self, obj, where: str, modules) -> tuple[str, dict]:
        """(class name, config) of a serialized object, refused unless it is Keras's own."""
        if not isinstance(obj, dict) or not isinstance(obj.get("class_name"), str):
            self.fail(f"expected a Keras object with `class_name`; found {_short(obj)}", where)
        class_name, module = obj["class_name"], obj.get("module")
        config = obj.get("config", {})
        function = config if class_name == "function" and isinstance(config, str) else None
        if class_name in GADGETS or function in GADGETS or \
                (isinstance(module, str) and module.startswith(("keras.utils", "keras.config",
                                                                "keras.saving"))):
            api = f"{module or 'keras'}.{function or class_name}"
            self.fail(f"`{api}` is a Keras API function, not a model object; seqcli never "
                      "calls a function a file names", where)
        if module not in modules:
            self.fail(f"{class_name} comes from module {module!r}; seqcli reads only Keras's "
                      "own classes and never imports a module a file names", where)
        registered = obj.get("registered_name")
        if registered not in (None, class_name) or class_name == "function":
            self.fail(f"{class_name} is a custom object (registered as {registered!r}); "
                      "seqcli builds only Keras's own classes, never code from a file", where)
        if not isinstance(config, dict):
            self.fail(f"{class_name}'s config must be a mapping", where)
        return class_name, config

    def setting(self, obj, where: str):
        """An initializer, regularizer or constraint as a spec writes it."""
        if obj is None or isinstance(obj, (str, int, float)):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        args = {k: v for k, v in config.items() if k not in ("seed", "name") and v is not None}
        return {class_name: args} if args else class_name

    def dtype(self, value, where: str):
        name = value
        if isinstance(value, dict):
            _, config = self.unwrap(value, where, SETTING_MODULES)
            name = config.get("name")
        if name not in (None, "float32"):
            self.fail(f"dtype {name!r}: seqcli computes in float32 only", where)

    # ------------------------------------------------------------ models and layers

    def model(self, obj, path, where, top=False) -> dict:
        class_name, config = self.unwrap(obj, where, LAYER_MODULES)
        if class_name != "Sequential":
            self.fail(f"the model is a {class_name}; seqcli reads Sequential models", where)
        self.dtype(config.get("dtype"), where)
        data = {"name": config["name"]} if isinstance(config.get("name"), str) else {}
        layers = config.get("layers", [])
        if not isinstance(layers, list):
            self.fail("`layers` must be a list", where)
        entries = []
        for index, layer in enumerate(layers):
            entry = self.layer(layer, (*path, "layers", len(entries)),
                               f"{where}.layers[{index}]", index == 0, data)
            if entry is not None:
                entries.append(entry)
        if "input_shape" not in data and config.get("build_input_shape"):
            self.input_shape(config["build_input_shape"], data)
        if not top and config.get("trainable") is False:
            data["trainable"] = False
        data["layers"] = entries
        if top and isinstance(obj.get("compile_config"), dict):
            data["compile"] = self.compile(obj["compile_config"], "compile_config")
        return data

    @staticmethod
    def input_shape(batch_shape, data):
        data["input_shape"] = list(batch_shape[1:])
        if batch_shape[0] is not None:
            data["batch_size"] = batch_shape[0]

    def layer(self, obj, path, json_path, first, model_data):
        """One entry of `layers` (None for an InputLayer, which sets the model's shape);
        `json_path` is where it is in the file, e.g. config.layers[3]."""
        class_name = obj.get("class_name") if isinstance(obj, dict) else None
        config = obj.get("config") if isinstance(obj, dict) else None
        label = f"{json_path} ({class_name} " \
                f"{config.get('name') if isinstance(config, dict) else None!r})"
        self.places[path] = f"{self.name}: {json_path}"
        self.paths(class_name, config, label)
        class_name, config = self.unwrap(obj, label, LAYER_MODULES)
        if class_name == "InputLayer":
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            if shape is None and config.get("shape") is not None:
                shape = [config.get("batch_size"), *config["shape"]]
            if not isinstance(shape, list) or not shape:
                self.fail("an InputLayer without a shape", label)
            self.dtype(config.get("dtype"), label)
            self.input_shape(shape, model_data)
            return None
        if class_name == "Sequential":
            return {"Sequential": self.model(obj, (*path, "Sequential"), f"{json_path}.config")}
        return {class_name: self.arguments(class_name, config, (*path, class_name), label,
                                           json_path, model_data if first else None)}

    def paths(self, class_name, config, label):
        """Refuse a file path or URL in a layer's config before anything else."""
        if not isinstance(config, dict):
            return
        for key in PATH_ARGUMENTS:
            value = config.get(key)
            if isinstance(value, str) and value:
                self.fail(f"argument `{key}` names a file or URL ({_short(value)}); seqcli "
                          "reads nothing outside the model file; give the values inline", label)

    def arguments(self, class_name, config, path, label, json_path, first_model) -> dict:
        from seqcli.registry import lookup

        try:
            cls = lookup(class_name)
        except KeyError as exc:
            self.fail(f"{exc.args[0]}", label)
        known = {f.name for f in cls.arguments()} | set(cls.rule_arguments())
        args = {}
        for key, value in config.items():
            key = RENAMED.get((class_name, key), key)
            if key == "dtype":
                self.dtype(value, label)
            elif key in cls.wraps:
                args[key] = None if value is None else \
                    self.wrapped(value, (*path, key), f"{json_path}.config.{key}")
            elif key == "batch_input_shape" and first_model is not None and value:
                self.input_shape(value, first_model)  # Keras 2's first-layer shape
            elif key == "trainable" and value is True:
                continue
            elif key in known:
                value = self.value(key, value, f"{label}, argument `{key}`")
                if not _is_default(cls, key, value, config):
                    args[key] = value
            elif key in NO_EFFECT or key == "batch_input_shape" or value is None or (
                    key in NO_OP_VALUES and value == NO_OP_VALUES[key]) or (
                    key.endswith("_initializer")):
                continue  # unset, a no-op, or an initializer of a weight the layer lacks
                # (Keras 2's SeparableConv keeps an unused kernel_initializer)
            else:
                self.fail(f"the Keras argument `{key}`={_short(value)} is not supported by "
                          f"seqcli's {class_name} (it takes: {', '.join(sorted(known))})", label)
        if cls.wraps and "backward_layer" in args and _mirrors(args):
            del args["backward_layer"]  # what Keras makes itself from `layer`
        return args

    def wrapped(self, obj, path, json_path):
        class_name = obj.get("class_name") if isinstance(obj, dict) else None
        self.paths(class_name, obj.get("config") if isinstance(obj, dict) else None, json_path)
        class_name, config = self.unwrap(obj, json_path, LAYER_MODULES)
        label = f"{json_path} ({class_name} {config.get('name')!r})"
        self.places[path] = f"{self.name}: {json_path}"
        return {class_name: self.arguments(class_name, config, (*path, class_name), label,
                                           json_path, None)}

    def value(self, key, value, where):
        if key.endswith(("_initializer", "_regularizer", "_constraint")):
            return self.setting(value, where)
        if key == "activation" and isinstance(value, dict):
            class_name, config = self.unwrap(value, where, SETTING_MODULES)
            return config.get("name", class_name)
        if key == "axis" and isinstance(value, list) and len(value) == 1:
            return value[0]  # Keras 2 keeps a normalization axis as a list
        if isinstance(value, dict) and "class_name" in value:
            self.fail(f"a Keras object ({value.get('class_name')}) where seqcli expects a "
                      "plain value", where)
        return value

    # ------------------------------------------------------------ compile

    def compile(self, config, where) -> dict:
        result = {}
        if config.get("optimizer") is not None:
            result["optimizer"] = self.optimizer(config["optimizer"], f"{where}: optimizer")
        if config.get("loss") is not None:
            result["loss"] = self.loss(config["loss"], f"{where}: loss")
        metrics = config.get("metrics")
        if metrics:
            result["metrics"] = [self.metric(m, f"{where}: metrics") for m in _flat(metrics)]
        return result

    def optimizer(self, obj, where):
        if isinstance(obj, str):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        args = {}
        for key, value in config.items():
            if key in ("name", "is_legacy_optimizer", "loss_scale_factor",
                       "gradient_accumulation_steps", "jit_compile", "decay") or value is None:
                continue
            if key == "learning_rate" and isinstance(value, dict):
                value = self.setting(value, f"{where}: learning_rate")
            elif isinstance(value, float):
                value = float(f"{value:.7g}")  # Keras keeps float32 variables: 0.001, not 0.0010000000474974513
            args[key] = value
        return {class_name: args}

    def loss(self, obj, where):
        if isinstance(obj, str):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        args = {k: v for k, v in config.items()
                if k not in ("name", "dtype", "reduction") and v not in (None, False)
                and (k, v) != ("axis", -1)}
        name = snake_case(class_name)
        return {name: args} if args else name

    def metric(self, obj, where):
        if isinstance(obj, str):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        return config.get("name") or snake_case(class_name)


def _is_default(cls, key, value, config) -> bool:
    """Whether a value Keras wrote is what seqcli's default means (Keras writes every
    argument, resolved: data_format "channels_last", activation "linear", a pooling
    stride equal to its pool size, initializers with their default arguments)."""
    field = next((f for f in cls.arguments() if f.name == key), None)
    if field is None or key in ("name", "trainable"):
        return False
    default = field.default
    if default is None:
        return (key, value) in (("data_format", "channels_last"), ("activation", "linear")) \
            or (key == "strides" and value == config.get("pool_size"))
    if key.endswith("_initializer"):
        return _initializer(value) == _initializer(default)
    if isinstance(default, tuple):
        return isinstance(value, list) and tuple(value) == default
    return type(value) is type(default) and value == default


def _initializer(value):
    """An initializer setting with its defaults filled in, to compare two settings."""
    from seqcli.initializers import INITIALIZERS, check_initializer

    try:
        normal = check_initializer(value)
    except ValueError:
        return value
    name, args = (normal, {}) if isinstance(normal, str) else next(iter(normal.items()))
    return name, sorted({**INITIALIZERS[name], **args}.items())


def _mirrors(args) -> bool:
    """True when backward_layer is the copy Keras makes of `layer` (go_backwards flipped)."""
    (fwd_class, fwd), = args["layer"].items()
    back = args["backward_layer"]
    if not isinstance(back, dict) or list(back) != [fwd_class]:
        return False
    back = back[fwd_class]
    strip = ("name", "go_backwards")
    return {k: v for k, v in fwd.items() if k not in strip} == \
        {k: v for k, v in back.items() if k not in strip} and \
        bool(back.get("go_backwards")) != bool(fwd.get("go_backwards"))


def _flat(metrics):
    for metric in metrics:
        if isinstance(metric, list):
            yield from _flat(metric)
        else:
            yield metric


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
