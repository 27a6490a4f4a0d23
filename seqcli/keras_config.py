"""Keras's model JSON (Keras 3's `config.json` and `to_json()`, Keras 2's `model_config`)
read as seqcli's plain model data, for the one builder.

Nothing is imported or built because a file names it: every object must be one of
Keras's own classes that seqcli implements (or a setting: initializer, regularizer,
constraint, dtype policy, optimizer, schedule, loss), or the file is refused with the
place and the reason. No numpy here: `summary` of a Keras file stays light.
"""

from __future__ import annotations

import re

from seqcli.errors import SeqcliError

# Keras arguments seqcli has no field for, dropped when they hold Keras's default (or
# have no effect on results); any other value is refused
IGNORED = {"quantization_config": None, "renorm": False, "renorm_clipping": None,
           "renorm_momentum": 0.99, "synchronized": False, "fill_mode": "constant",
           "fill_value": 0.0, "time_major": False, "lora_rank": None, "lora_alpha": None,
           "sparse": False, "ragged": False, "optional": False, "autocast": True,
           "input_dim": None, "groups": 1,
           "force_generator": False}  # (tf-keras's augmentation layers: its own RNG choice)
NO_EFFECT = {"implementation", "input_length", "build_config", "input_dtype"}
RENAMED = {("LeakyReLU", "alpha"): "negative_slope"}  # Keras 2's name
KERAS_LOSS_DEFAULTS = {"reduction": ("sum_over_batch_size", "auto"), "axis": (-1,),
                       "ignore_class": (None,)}
# values Keras writes out that seqcli's defaults already mean (left out of specs)
SAME_AS_DEFAULT = {("data_format", "channels_last"), ("activation", "linear")}
SETTING_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints",
                   "keras.optimizers", "keras.optimizers.schedules", "keras.losses",
                   "keras.metrics", "keras")
LAYER_MODULES = ("keras.layers", "keras", "keras.models", "keras.src.models.sequential")


class KerasSource:
    """Plain model data from Keras JSON, with each layer's place for error messages."""

    def __init__(self, name: str, data: dict, places: dict):
        self.name, self.data, self.places = name, data, places  # path prefix -> place

    def where(self, path: tuple, key: bool = False) -> str:
        """A layer entry (or its class) by its place; anything deeper by the file alone, as
        the builder's message names the layer and argument itself."""
        if path in self.places:
            return self.places[path]
        if key and path[:-1] in self.places:
            return self.places[path[:-1]]
        return self.name

    def relative(self, path):
        raise SeqcliError("a Keras model names no files", self.where(path))

    def include(self, path):
        raise SeqcliError("a Keras model includes no spec files", self.where(path))


def read(config, name: str) -> KerasSource:
    """The source of a Keras model config (a Sequential; Keras 2's bare list too)."""
    translator = _Translator(name)
    if isinstance(config, list):  # Keras <= 2.2.3 stored a Sequential as its layers
        config = {"class_name": "Sequential", "config": {"layers": config}}
    data = translator.model(config, (), "the model", top=True)
    return KerasSource(name, data, translator.places)


def snake_case(name: str) -> str:
    """Keras 3's to_snake_case (its weight paths): SimpleRNN -> simple_rnn."""
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
        registered = obj.get("registered_name")
        if class_name == "function":  # a Keras API function named as a value: a gadget
            function = obj.get("config") if isinstance(obj.get("config"), str) else registered
            self.fail(f"`{module or 'keras'}.{function}` is a function, not a model object; "
                      "seqcli never calls a function a file names", where)
        if module is not None and module not in modules:
            self.fail(f"{class_name} comes from module {module!r}; seqcli reads only Keras's own "
                      "classes and never imports a module a file names", where)
        if registered not in (None, class_name) or class_name == "function":
            self.fail(f"{class_name} is a custom object ({registered or class_name!r}); seqcli "
                      "builds only Keras's own classes, never code from a file", where)
        config = obj.get("config", {})
        if not isinstance(config, dict):
            self.fail(f"{class_name}'s config must be a mapping", where)
        return class_name, config

    def setting(self, obj, where: str):
        """An initializer, regularizer, constraint or schedule as seqcli writes it."""
        if obj is None or isinstance(obj, (str, int, float)):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        args = {k: v for k, v in config.items() if k not in ("seed", "name") and v is not None}
        return {class_name: args} if args else class_name

    # ------------------------------------------------------------ models and layers

    def model(self, obj, path, where, top=False) -> dict:
        class_name, config = self.unwrap(obj, where, LAYER_MODULES)
        if class_name != "Sequential":
            self.fail(f"the model is a {class_name}; seqcli reads Sequential models", where)
        data = {"name": config.get("name", "sequential")}
        if not top and config.get("trainable") is False:
            data["trainable"] = False
        layers = config.get("layers", [])
        if not isinstance(layers, list):
            self.fail("`layers` must be a list", where)
        entries = []
        for layer in layers:
            entry = self.layer(layer, (*path, "layers", len(entries)), len(entries))
            (args,) = entry.values()
            if entries and isinstance(args, dict):  # Keras 2 repeats batch_input_shape
                args.pop("input_shape", None)     # on later layers; Keras ignores it
            entries.append(entry)
        if entries and "Input" not in entries[0] and config.get("build_input_shape"):
            entries.insert(0, {"Input": _input(config["build_input_shape"])})
            self._shift(path)
        data["layers"] = entries
        if top and obj.get("compile_config"):
            data["compile"] = self.compile(obj["compile_config"], "compile_config")
        return data

    def _shift(self, path):
        """Places recorded for layers[i] move to layers[i + 1] after an inserted Input."""
        prefix = (*path, "layers")
        moved = {}
        for key, place in self.places.items():
            if key[:len(prefix)] == prefix and len(key) > len(prefix):
                key = (*prefix, key[len(prefix)] + 1, *key[len(prefix) + 1:])
            moved[key] = place
        self.places = moved

    def layer(self, obj, path, index):
        where = f"layers[{index}]"
        class_name, config = self.unwrap(obj, where, LAYER_MODULES)
        named = f" {config['name']!r}" if isinstance(config.get("name"), str) else ""
        label = f"layers[{index}] ({class_name}{named})"
        self.places[path] = f"{self.name}: {label}"
        if class_name == "InputLayer":
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            if shape is None and config.get("shape") is not None:
                shape = [config.get("batch_size"), *config["shape"]]
            if shape is None:
                self.fail("an InputLayer with no shape", label)
            self._dtype(config.get("dtype"), label)
            return {"Input": _input(shape)}
        if class_name == "Sequential":
            return {"Sequential": self.model(obj, path + ("Sequential",), label)}
        return {class_name: self.arguments(class_name, config, path + (class_name,), label)}

    def arguments(self, class_name, config, path, label) -> dict:
        from seqcli.registry import lookup

        try:
            cls = lookup(class_name)
        except KeyError as exc:
            self.fail(exc.args[0], label)
        known = set(cls.argument_names()) | set(cls.rule_arguments())
        args = {}
        for key, value in config.items():
            key = RENAMED.get((class_name, key), key)
            if key == "dtype":
                self._dtype(value, label)
            elif key in getattr(cls, "wraps", ()) and isinstance(value, list):  # cells
                args[key] = [self.layer(item, (*path, key, i), i) for i, item in enumerate(value)]
                self.places[(*path, key)] = f"{self.name}: {label}, argument `{key}`"
            elif key in getattr(cls, "wraps", ()):
                args[key] = None if value is None else self.layer(value, (*path, key), 0)
                self.places[(*path, key)] = f"{self.name}: {label}, argument `{key}`"
            elif key == "batch_input_shape" or key == "input_shape":
                args["input_shape"] = list(value[1:]) if key == "batch_input_shape" else value
            elif isinstance(value, str) and (key, value) in SAME_AS_DEFAULT:
                continue
            elif key == "strides" and "pool_size" in known and value == config.get("pool_size"):
                continue  # Keras writes its default (strides = pool_size) resolved
            elif key in known:
                args[key] = self.value(key, value, f"{label}, argument `{key}`")
                if class_name == "BatchNormalization" and key == "axis" and \
                        isinstance(value, list) and len(value) == 1:
                    args[key] = value[0]  # Keras 2 writes [3] for 3
            elif key in NO_EFFECT or (key in IGNORED and value == IGNORED[key]) or value is None \
                    or key.endswith("_initializer"):  # (Keras 2's unused kernel_ on Depthwise)
                continue
            else:
                self.fail(f"the Keras argument `{key}`={_short(value)} is not supported by "
                          f"seqcli's {class_name}", label)
        if class_name == "Bidirectional":
            _undo_bidirectional_copies(args)
        return args

    def value(self, key, value, where):
        if key.endswith("_initializer"):
            return _without_defaults(self.setting(value, where))
        if key.endswith(("_regularizer", "_constraint")):
            return self.setting(value, where)
        if key == "activation" and isinstance(value, dict):
            class_name, config = self.unwrap(value, where, ("keras.activations", "keras"))
            return config if isinstance(config, str) else class_name
        return value

    def _dtype(self, value, where):
        name = value
        if isinstance(value, dict):
            _, config = self.unwrap(value, where, SETTING_MODULES)
            name = config.get("name")
        if name not in (None, "float32"):
            self.fail(f"dtype {name!r}: seqcli computes in float32", where)

    # ------------------------------------------------------------ compile

    def compile(self, config, where) -> dict:
        if not isinstance(config, dict):
            self.fail("compile_config must be a mapping", where)
        result = {}
        if config.get("optimizer") is not None:
            result["optimizer"] = self.optimizer(config["optimizer"], f"{where}: optimizer")
        if config.get("loss") is not None:
            result["loss"] = self.loss(config["loss"], f"{where}: loss")
        for key in ("metrics", "weighted_metrics"):
            if config.get(key):
                result[key] = [self.metric(m, f"{where}: {key}") for m in _flat(config[key])]
        return result

    def optimizer(self, obj, where):
        from seqcli.setting_tables import OPTIMIZER_ALIASES as ALIASES, OPTIMIZERS

        if isinstance(obj, str):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        defaults = OPTIMIZERS.get(ALIASES.get(class_name, class_name), {})
        args = {}
        for key, value in config.items():
            if key in ("name", "is_legacy_optimizer", "loss_scale_factor",
                       "gradient_accumulation_steps", "jit_compile", "decay") or \
                    (key in defaults and defaults[key] == value):  # Keras's defaults
                continue
            if key == "learning_rate" and isinstance(value, dict):
                value = self.setting(value, f"{where}: learning_rate")
                value = {value: {}} if isinstance(value, str) else value
            args[key] = value
        args = {k: _float32_shortest(v) for k, v in args.items()}
        args = {k: v for k, v in args.items() if not (k in defaults and defaults[k] == v)}
        name = ALIASES.get(class_name, class_name)  # seqcli's spelling: Adam -> adam
        return {name: args} if args else name

    def loss(self, obj, where):
        if isinstance(obj, str):
            return obj
        from seqcli.setting_tables import LOSS_ALIASES as ALIASES, LOSSES
        from seqcli.settings import _canonical

        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        name = _canonical(class_name, LOSSES, ALIASES) or class_name  # seqcli's spelling
        own = LOSSES.get(name, {})
        defaults = {k: (v,) for k, v in own.items()}
        for key, values in KERAS_LOSS_DEFAULTS.items():  # unless the loss's own differs
            if own.get(key, values[0]) == values[0]:  # (Dice's axis is None, not -1)
                defaults[key] = values
        args = {k: v for k, v in config.items()  # Keras's defaults left out
                if k not in ("name", "dtype") and v not in defaults.get(k, ())}
        return {name: args} if args else name

    def metric(self, obj, where):
        """A metric object as seqcli's {Class: {args}}, its arguments at Keras's
        defaults left out (a plain name where nothing is left)."""
        from seqcli.setting_tables import METRIC_ALIASES, METRIC_DEFAULT_NAMES, METRICS
        from seqcli.settings import _canonical

        if isinstance(obj, str):
            return obj
        class_name, config = self.unwrap(obj, where, SETTING_MODULES)
        name = _canonical(class_name, METRICS, METRIC_ALIASES)
        if name is None:  # not one seqcli computes: named as Keras logs it
            return config.get("name") or class_name
        defaults = METRICS[name]
        args = {k: v for k, v in config.items()
                if k in defaults and k != "dtype" and v != defaults[k]}
        if args.get("name") == METRIC_DEFAULT_NAMES.get(name, name):
            del args["name"]
        if "thresholds" in args and name == "auc":
            args.pop("num_thresholds", None)  # Keras's count of the given thresholds
        if not args and name not in METRIC_DEFAULT_NAMES:
            return name
        return {class_name: args}


def _float32_shortest(value):
    """A float Keras kept as a float32 variable (learning_rate 0.0010000000474974513)
    as the shortest decimal with the same float32 value (0.001), as the user wrote it."""
    import struct

    if not isinstance(value, float) or value != value:
        return value
    try:
        packed = struct.pack("<f", value)
    except OverflowError:
        return value
    if struct.unpack("<f", packed)[0] != value:
        return value  # not a float32 value: keep it as written
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


def _undo_bidirectional_copies(args):
    """Bidirectional as the user wrote it: Keras's config holds the copies Keras made,
    `forward_<name>` and a mirrored `backward_layer`, each with zero_output_for_mask set
    to return_sequences (which seqcli's Bidirectional sets the same way itself)."""
    layers = [args.get(key) for key in ("layer", "backward_layer")]
    for entry in layers:
        if isinstance(entry, dict) and len(entry) == 1:
            inner = next(iter(entry.values()))
            if inner.get("zero_output_for_mask") == inner.get("return_sequences", False):
                inner.pop("zero_output_for_mask", None)
    forward, backward = layers
    if not (isinstance(forward, dict) and isinstance(backward, dict)):
        return
    (kind, fwd), = forward.items()
    name = fwd.get("name")
    if list(backward) != [kind] or not isinstance(name, str) or not name.startswith("forward_"):
        return
    back = dict(backward[kind])
    mirrored = back.pop("name", None) == f"backward_{name[len('forward_'):]}" and \
        back.pop("go_backwards", False) != fwd.get("go_backwards", False)
    if mirrored and back == {k: v for k, v in fwd.items() if k not in ("name", "go_backwards")}:
        del args["backward_layer"]  # what Keras makes itself from `layer`
        fwd["name"] = name[len("forward_"):]  # the wrapped layer's own name


def _without_defaults(setting):
    """An initializer without the arguments that hold its defaults: Keras writes
    Embedding's "uniform" as RandomUniform(minval=-0.05, maxval=0.05)."""
    from seqcli.initializers import ALIASES, INITIALIZERS

    if not isinstance(setting, dict) or len(setting) != 1:
        return setting
    (name, args), = setting.items()
    defaults = INITIALIZERS.get(ALIASES.get(name, name))
    if defaults is None or not isinstance(args, dict):
        return setting
    args = {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}
    return {name: args} if args else name


def _input(batch_shape) -> dict:
    entry = {"shape": list(batch_shape[1:])}
    if batch_shape[0] is not None:
        entry["batch_size"] = batch_shape[0]
    return entry


def _flat(metrics):
    for metric in metrics:
        if isinstance(metric, list):
            yield from _flat(metric)
        else:
            yield metric


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
