"""The one builder: plain model data, from any reader, into a Sequential.

Plain model data is what a JSON spec holds: a mapping with `layers` (entries
`{ClassName: {args}}` or `{type: ClassName, ...args}`) and optional `name`,
`input_shape`, `batch_size`, `compile`. A reader hands it over as a *source*:

    source.name                 what messages call the file
    source.data                 the plain data
    source.where(path, key)     "file:line:col" of the value (or key) at a path
                                such as ("layers", 2, "Conv2D", "filters")
    source.include(path)        the source of a nested spec file named at path
    source.relative(path)       a file path value at path, relative to the source

so every error names the place in the user's file, whatever the format.
"""

from __future__ import annotations

import dataclasses
import gc
import re
from contextlib import contextmanager

from seqcli.args import Int, LayerName, Optional, ShapeArg
from seqcli.errors import ArgError, SeqcliError, did_you_mean
from seqcli.model import Sequential
from seqcli.registry import lookup

TOP_KEYS = ("name", "input_shape", "batch_size", "compile", "layers")
NESTED_KEYS = ("name", "layers", "spec", "weights", "trainable", "input_shape", "batch_size")


def build(source) -> tuple[Sequential, dict | None]:
    """(model, compile settings) from a source; a built model is traced once here."""
    return _Builder().document(source, top=True)


def snake_case(name: str) -> str:
    """Keras's to_snake_case: Conv2D -> conv2d, ReLU -> re_lu."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if insecure[0] != "_" else "private" + insecure


class Namer:
    """Keras's automatic names: base, base_1, base_2... in order of appearance."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        count = self.counts.get(base, 0)
        self.counts[base] = count + 1
        return base if count == 0 else f"{base}_{count}"


@contextmanager
def collector_paused():
    """Building a spec allocates many objects and no garbage cycles; the cyclic
    collector would rescan them again and again (superlinear for big specs). After
    the build they live as long as the command, so they are frozen out of later scans."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def entry_parts(source, path: tuple, entry) -> tuple:
    """(class name, (path, is a key) of where the class is written, arguments, path of
    the arguments); the class's place is turned into "file:line:col" only for an error.
    A bare class name (`- Flatten`) is that class with Keras's defaults."""
    if isinstance(entry, str) and entry:
        return entry, (path, False), {}, path
    if not isinstance(entry, dict) or not entry:
        raise SeqcliError("a layer entry is `ClassName: {args}`, a mapping with "
                          "`type: ClassName`, or a bare class name (`- Flatten`)",
                          source.where(path))
    if "type" in entry:
        args = {k: v for k, v in entry.items() if k != "type"}
        return entry["type"], ((*path, "type"), False), args, path
    if len(entry) != 1:
        raise SeqcliError(f"a layer entry has one key, its class (or uses `type:`); found "
                          f"{len(entry)} keys: {', '.join(map(str, entry))}", source.where(path))
    [(class_name, args)] = entry.items()
    args_path = (*path, class_name)
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        raise SeqcliError(f"the arguments of {class_name} must be a mapping, e.g. "
                          f"`{class_name}: {example_args(class_name, args)}`",
                          source.where(args_path))
    return class_name, (args_path, True), args, args_path


def example_args(class_name, given) -> str:
    """The mapping a user most likely meant: a lone value named as the class's first
    positional argument (`LSTM: 4` -> `{units: 4}`)."""
    try:
        first = lookup(class_name).positional[0]
    except (KeyError, IndexError, AttributeError):
        return "{name: value}"
    value = given if isinstance(given, (int, float, str)) and not isinstance(given, bool) \
        else "..."
    return f"{{{first}: {value}}}"


def _frozen(layer):
    """The layer with trainable false, a nested model's layers included."""
    changes = {"trainable": False}
    if isinstance(layer, Sequential):
        changes["layers"] = tuple(_frozen(inner) for inner in layer.layers)
    return dataclasses.replace(layer, **changes)


class _Builder:
    def __init__(self):
        self.namer = Namer()
        self.names: dict[str, str] = {}  # layer name -> where it was defined

    # ------------------------------------------------------------ models

    def document(self, source, top: bool, overrides=None, where=""):
        keys = self._keyed(source, (), source.data, TOP_KEYS, "spec",
                           "a spec is a mapping with a `layers:` list (and optional name, "
                           "input_shape, batch_size, compile)")
        compile_settings = keys.get("compile")
        if compile_settings is not None and not isinstance(compile_settings, dict):
            raise SeqcliError("`compile` must be a mapping (optimizer, loss, metrics)",
                              source.where(("compile",)))
        model = self.model(source, (), keys, source.where(()), overrides or {}, where)
        if top and model.built:
            model.plan  # noqa: B018 (traced here, so a bad shape fails at load; kept)
        return model, compile_settings

    @staticmethod
    def _keyed(source, path, data, allowed, what, not_mapping) -> dict:
        if not isinstance(data, dict):
            raise SeqcliError(not_mapping, source.where(path))
        for key in data:
            if key not in allowed:
                raise SeqcliError(f"unknown key {key!r} in the {what}"
                                  f"{did_you_mean(str(key), allowed)}; allowed: "
                                  f"{', '.join(allowed)}", source.where((*path, key), key=True))
        return data

    def model(self, source, path, keys, owner_where, overrides, where) -> Sequential:
        values = {k: v for k, v in keys.items() if k not in ("layers", "compile")}
        values.update(overrides)

        def checked(key, kind, value):
            try:
                return kind(key, value)
            except ArgError as exc:
                at = source.where((*path, key)) if key in keys else source.name
                raise SeqcliError(str(exc), at) from None

        name = values.get("name")
        name = checked("name", LayerName(), self.namer("sequential") if name is None else name)
        name_where = source.where((*path, "name")) if "name" in keys else where or source.name
        if where:  # a nested model is a layer; the top model's name is its own (as in Keras)
            self._claim_name(name, name_where)
        shape_sources = []
        if values.get("input_shape") is not None:
            shape = checked("input_shape", ShapeArg(), values["input_shape"])
            shape_sources.append(("input_shape", shape, None, source.where((*path, "input_shape"))))
        batch_size = checked("batch_size", Optional(Int(1)), values.get("batch_size"))
        layers = []
        for index, entry in enumerate(self._entries(source, path, keys, owner_where)):
            layer = self.entry(source, (*path, "layers", index), entry, index, shape_sources,
                               first=not layers)
            if layer is not None:
                layers.append(layer)
        input_shape, batch_size = _input_shape(shape_sources, batch_size)
        if values.get("trainable") is False:  # as Keras: freezing a model freezes its layers
            layers = [_frozen(layer) for layer in layers]
        try:
            model = Sequential(name=name, trainable=values.get("trainable", True),
                               input_shape=input_shape, batch_size=batch_size,
                               layers=tuple(layers), weights=values.get("weights"), where=where)
        except ArgError as exc:
            at = source.where((*path, exc.arg)) if exc.arg in keys else owner_where
            raise SeqcliError(str(exc), at) from None
        model.check_masks()
        return model

    @staticmethod
    def _entries(source, path, keys, owner_where) -> list:
        if "layers" not in keys:
            raise SeqcliError("missing `layers:` (a list of layer entries; may be empty: [])",
                              owner_where)
        entries = keys["layers"]
        if entries is None:
            return []
        if not isinstance(entries, list):
            raise SeqcliError("`layers` must be a list of layer entries",
                              source.where((*path, "layers")))
        return entries

    # ------------------------------------------------------------ entries

    def entry(self, source, path, entry, index, shape_sources, first: bool):
        """One entry: a layer (nested models included), or None for an Input."""
        class_name, class_at, args, args_path = entry_parts(source, path, entry)
        try:
            cls = lookup(class_name)
        except KeyError as exc:
            raise SeqcliError(exc.args[0], source.where(*class_at)) from None
        where = source.where(path)
        if cls.is_input:
            self._input(source, cls, source.where(*class_at), args, args_path, index,
                        shape_sources)
            return None
        if cls is Sequential:
            return self._nested(source, source.where(*class_at), args, args_path, where,
                                shape_sources, first)
        # a wrapper's layer arguments are layer entries of their own, built first (as in
        # Keras, where the inner layer exists, and takes its name, before the wrapper)
        written, args = set(args), dict(args)
        for key in cls.wraps:
            value = args.get(key)
            if isinstance(value, list):  # StackedRNNCells' cells
                args[key] = tuple(self.entry(source, (*args_path, key, i), item, index, [],
                                             False) for i, item in enumerate(value))
            elif value is not None:
                args[key] = self.entry(source, (*args_path, key), value, index, [], False)
        if "input_shape" in args:
            self._take_input_shape(source, args, args_path, first, shape_sources)
        if "name" not in args:  # only unnamed layers take (and advance) an automatic name
            args["name"] = self.namer(cls.auto_name or snake_case(cls.__name__))
        try:
            layer = cls.create(args, where=where)
        except ArgError as exc:
            known = set(cls.argument_names())
            # point at the value of a bad argument, at the key of an unknown one
            at = source.where((*args_path, exc.arg), key=exc.arg not in known) \
                if exc.arg in written else source.where(*class_at)
            raise SeqcliError(f"layers[{index}] ({cls.__name__} {args['name']!r}), argument "
                              f"`{exc.arg}`: {exc}", at) from None
        self._claim_name(layer.name, where)
        return layer

    def _take_input_shape(self, source, args, args_path, first, shape_sources):
        at = source.where((*args_path, "input_shape"))
        if not first:
            raise SeqcliError("`input_shape` belongs on the first layer only (Keras 2 style); "
                              "or give `input_shape:` at the top of the spec", at)
        try:
            shape = ShapeArg()("input_shape", args.pop("input_shape"))
        except ArgError as exc:
            raise SeqcliError(str(exc), at) from None
        shape_sources.append(("the first layer's input_shape", shape, None, at))

    @staticmethod
    def _input(source, cls, class_where, args, args_path, index, shape_sources):
        if index != 0:
            raise SeqcliError("an Input entry must come first in `layers`", class_where)
        try:
            spec = cls.create({"name": None, **args})
        except ArgError as exc:
            at = source.where((*args_path, exc.arg)) if exc.arg in args else class_where
            raise SeqcliError(f"Input, argument `{exc.arg}`: {exc}", at) from None
        shape_sources.append(("Input", spec.shape, spec.batch_size, class_where))

    def _nested(self, source, class_where, args, args_path, where, shape_sources, first):
        for key in args:
            if key not in NESTED_KEYS:
                raise SeqcliError(f"a nested Sequential has no key {key!r}"
                                  f"{did_you_mean(str(key), NESTED_KEYS)}; allowed: "
                                  f"{', '.join(NESTED_KEYS)}",
                                  source.where((*args_path, key), key=True))
        if ("spec" in args) == ("layers" in args):
            raise SeqcliError("a nested Sequential needs either `layers:` or `spec: FILE`",
                              class_where)
        overrides = {k: args[k] for k in ("name", "trainable") if k in args}
        if "weights" in args:
            overrides["weights"] = source.relative((*args_path, "weights"))
        if "spec" in args:
            inner = source.include((*args_path, "spec"))
            model, _ = self.document(inner, top=False, overrides=overrides, where=where)
        else:
            model = self.model(source, args_path, args, class_where, overrides, where)
        # a first nested model's input shape is the outer model's (Keras 2 style);
        # a later one's is checked against what reaches it when shapes are traced
        if model.input_shape is not None and first:
            shape_sources.append((f"the nested model {model.name!r}", model.input_shape,
                                  None, class_where))
        return model

    def _claim_name(self, name, where):
        if name in self.names:
            raise SeqcliError(f"the name {name!r} is used twice (first at {self.names[name]}); "
                              "layer names must be unique in a spec", where)
        self.names[name] = where
        return name


def _input_shape(sources, batch_size):
    """The one input shape the spec gives (or None); two that disagree are an error."""
    shape = None
    for label, value, batch, where in sources:
        if shape is not None and tuple(value) != tuple(shape):
            raise SeqcliError(f"the input shape is given twice and disagrees: "
                              f"{list(shape)} before, {list(value)} in {label}", where)
        shape = value
        if batch is not None:
            if batch_size is not None and batch != batch_size:
                raise SeqcliError(f"batch_size is given twice and disagrees: "
                                  f"{batch_size} and {batch}", where)
            batch_size = batch
    return shape, batch_size
