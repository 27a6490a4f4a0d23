"""Build a Sequential from a spec document, with every error located in the file."""

from __future__ import annotations

import gc
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import yaml

from seqcli import document
from seqcli.document import Document, is_mapping, is_null, is_sequence, pairs
from seqcli.args import Int, LayerName, Optional, ShapeArg
from seqcli.errors import ArgError, SeqcliError, did_you_mean
from seqcli.model import Sequential
from seqcli.registry import lookup

TOP_KEYS = ("name", "input_shape", "batch_size", "compile", "layers")
NESTED_KEYS = ("name", "layers", "spec", "weights", "trainable", "input_shape", "batch_size")
MAX_SPEC_BYTES = 16 * 2**20


@dataclass
class Spec:
    """A loaded spec: the model, the compile settings, and the document it came from."""

    model: Sequential
    compile: dict | None
    doc: Document


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


def read_text(path: str, stdin=None) -> tuple[str, str]:
    """(display name, text) of a spec file, or of standard input for '-'."""
    if path == "-":
        stream = stdin or sys.stdin
        data = stream.read()
        if isinstance(data, bytes):
            data = _decode(data, "<stdin>")
        return "<stdin>", data
    try:
        if os.path.isdir(path):
            raise SeqcliError("is a directory; expected a spec file (.yaml, .yml or .json)", path)
        if os.path.getsize(path) > MAX_SPEC_BYTES:
            raise SeqcliError(f"the file is larger than {MAX_SPEC_BYTES:,} bytes; "
                              "a spec is a small text file", path)
        with open(path, "rb") as handle:
            return path, _decode(handle.read(), path)
    except OSError as exc:
        raise SeqcliError(exc.strerror or str(exc), path) from None


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeqcliError(f"not UTF-8 text (byte {exc.start}); a spec is a YAML or JSON "
                          "text file", name) from None
    if "\x00" in text:
        raise SeqcliError("binary data (a NUL byte); a spec is a YAML or JSON text file", name)
    return text


def load(path: str, stdin=None) -> Spec:
    name, text = read_text(path, stdin)
    return load_text(text, name)


def load_text(text: str, name: str, fmt: str | None = None) -> Spec:
    with _collector_paused():
        doc = document.parse(text, name, fmt)
        loader = _Loader(Namer(), [])
        model, compile_settings = loader.load_document(doc, top=True)
    return Spec(model=model, compile=compile_settings, doc=doc)


@contextmanager
def _collector_paused():
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


def top_mapping(doc: Document) -> dict:
    """The top-level {key: (key node, value node)}, checked against TOP_KEYS."""
    if not is_mapping(doc.root):
        raise SeqcliError("a spec is a mapping with a `layers:` list (and optional name, "
                          "input_shape, batch_size, compile)", doc.where(doc.root))
    return _keyed(doc, doc.root, TOP_KEYS, "spec")


def _keyed(doc, node, allowed, what) -> dict:
    found = {}
    for key_node, value_node in pairs(node, doc):
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in allowed:
            raise SeqcliError(f"unknown key {key!r} in the {what}{did_you_mean(str(key), allowed)}; "
                              f"allowed: {', '.join(allowed)}", doc.where(key_node))
        found[key] = (key_node, value_node)
    return found


def layer_entries(doc: Document, keys: dict, owner_node) -> list:
    """The nodes of the `layers:` list."""
    if "layers" not in keys:
        raise SeqcliError("missing `layers:` (a list of layer entries; may be empty: [])",
                          doc.where(owner_node))
    node = keys["layers"][1]
    if is_null(node):
        return []
    if not is_sequence(node):
        raise SeqcliError("`layers` must be a list of layer entries", doc.where(node))
    return list(node.value)


def entry_parts(doc: Document, node) -> tuple:
    """(class name, class node, [(key node, value node)] of arguments) of a layer entry."""
    if not is_mapping(node) or not node.value:
        raise SeqcliError("a layer entry is `ClassName: {args}` or a mapping with "
                          "`type: ClassName`", doc.where(node))
    items = list(pairs(node, doc))
    keys = [k.value for k, _ in items]
    if "type" in keys:
        class_node = items[keys.index("type")][1]
        return class_node.value, class_node, [kv for kv in items if kv[0].value != "type"]
    if len(items) != 1:
        raise SeqcliError(f"a layer entry has one key, its class (or uses `type:`); found "
                          f"{len(items)} keys: {', '.join(map(str, keys))}", doc.where(node))
    class_node, args_node = items[0]
    if is_null(args_node):
        return class_node.value, class_node, []
    if not is_mapping(args_node):
        raise SeqcliError(f"the arguments of {class_node.value} must be a mapping, e.g. "
                          f"`{class_node.value}: {{units: 10}}`", doc.where(args_node))
    return class_node.value, class_node, list(pairs(args_node, doc))


def _frozen(layer):
    """The layer with trainable false, a nested model's layers included."""
    import dataclasses

    changes = {"trainable": False}
    if isinstance(layer, Sequential):
        changes["layers"] = tuple(_frozen(inner) for inner in layer.layers)
    return dataclasses.replace(layer, **changes)


def _checked(doc, keys, key, kind, value):
    """A model-level value checked by its argument kind, the error located."""
    try:
        return kind(key, value)
    except ArgError as exc:
        raise SeqcliError(str(exc), doc.where(keys[key][1] if key in keys else None)) from None


class _Loader:
    def __init__(self, namer: Namer, open_files: list[str]):
        self.namer = namer
        self.open_files = open_files  # spec files being loaded: a repeat is a cycle
        self.names: dict[str, str] = {}  # layer name -> where it was defined

    # ------------------------------------------------------------ models

    def load_document(self, doc: Document, top: bool, overrides=None, where=""):
        keys = top_mapping(doc)
        compile_settings = None
        if "compile" in keys:
            compile_settings = doc.value(keys["compile"][1])
            if compile_settings is not None and not isinstance(compile_settings, dict):
                raise SeqcliError("`compile` must be a mapping (optimizer, loss, metrics)",
                                  doc.where(keys["compile"][1]))
        model = self.load_model(doc, keys, doc.root, overrides or {}, where)
        if top:
            self._check_built(model)
        return model, compile_settings

    def load_model(self, doc, keys, owner_node, overrides, where) -> Sequential:
        values = {k: doc.value(v) for k, (_, v) in keys.items() if k not in ("layers", "compile")}
        values.update(overrides)
        name = values.get("name")
        if name is None:
            name = self.namer("sequential")
        name = _checked(doc, keys, "name", LayerName(), name)
        name_where = doc.where(keys["name"][1]) if "name" in keys else where or doc.name
        name = self._claim_name(name, name_where)
        shape_sources = []
        if values.get("input_shape") is not None:
            shape = _checked(doc, keys, "input_shape", ShapeArg(), values["input_shape"])
            shape_sources.append(("input_shape", shape, None, keys["input_shape"][1]))
        batch_size = _checked(doc, keys, "batch_size", Optional(Int(1)), values.get("batch_size"))
        layers = []
        for index, entry in enumerate(layer_entries(doc, keys, owner_node)):
            layer = self.load_entry(doc, entry, index, shape_sources, first=not layers)
            if layer is not None:
                layers.append(layer)
        input_shape, batch_size = self._input_shape(doc, shape_sources, batch_size)
        if values.get("trainable") is False:  # as Keras: freezing a model freezes its layers
            layers = [_frozen(layer) for layer in layers]
        try:
            model = Sequential(name=name, trainable=values.get("trainable", True),
                               input_shape=input_shape, batch_size=batch_size,
                               layers=tuple(layers), weights=values.get("weights"), where=where)
        except ArgError as exc:
            node = keys[exc.arg][1] if exc.arg in keys else owner_node
            raise SeqcliError(str(exc), doc.where(node)) from None
        model.check_masks()
        return model

    def _input_shape(self, doc, sources, batch_size):
        """The one input shape the spec gives (or None); two that disagree are an error."""
        shape = None
        for label, value, batch, node in sources:
            if shape is not None and tuple(value) != tuple(shape):
                raise SeqcliError(f"the input shape is given twice and disagrees: "
                                  f"{list(shape)} before, {list(value)} in {label}",
                                  doc.where(node))
            shape = value
            if batch is not None:
                if batch_size is not None and batch != batch_size:
                    raise SeqcliError(f"batch_size is given twice and disagrees: "
                                      f"{batch_size} and {batch}", doc.where(node))
                batch_size = batch
        return shape, batch_size

    def _check_built(self, model: Sequential):
        if model.built:
            model.trace(model.batch_input_shape)

    # ------------------------------------------------------------ entries

    def load_entry(self, doc, node, index, shape_sources, first: bool):
        """One entry: a layer (nested models included), or None for an Input."""
        class_name, class_node, arg_items = entry_parts(doc, node)
        try:
            cls = lookup(class_name)
        except KeyError as exc:
            raise SeqcliError(exc.args[0], doc.where(class_node)) from None
        where = doc.where(node)
        if cls.is_input:
            self._load_input(doc, cls, class_node, arg_items, index, shape_sources)
            return None
        if cls is Sequential:
            return self._load_nested(doc, class_node, arg_items, where, shape_sources, first)
        nodes = {k.value: v for k, v in arg_items}
        key_nodes = {k.value: k for k, v in arg_items}
        # a wrapper's layer arguments are layer entries of their own, built first (as in
        # Keras, where the inner layer exists, and takes its name, before the wrapper)
        inner = {key: self.load_entry(doc, nodes[key], index, [], first=False)
                 for key in getattr(cls, "wraps", ()) if key in nodes and not is_null(nodes[key])}
        args = {k.value: inner.get(k.value) or doc.value(v) for k, v in arg_items}
        if "input_shape" in args:
            self._take_input_shape(doc, args, nodes, first, shape_sources)
        if "name" not in args:  # only unnamed layers take (and advance) an automatic name
            args["name"] = self.namer(snake_case(cls.__name__))
        try:
            layer = cls.create(args, where=where)
        except ArgError as exc:
            known = {f.name for f in cls.arguments()}
            # point at the value of a bad argument, at the key of an unknown one
            node = (nodes if exc.arg in known else key_nodes).get(exc.arg, class_node)
            raise SeqcliError(f"layers[{index}] ({cls.__name__} {args['name']!r}), argument "
                              f"`{exc.arg}`: {exc}", doc.where(node)) from None
        self._claim_name(layer.name, where)
        return layer

    def _take_input_shape(self, doc, args, nodes, first, shape_sources):
        node = nodes["input_shape"]
        if not first:
            raise SeqcliError("`input_shape` belongs on the first layer only (Keras 2 style); "
                              "or give `input_shape:` at the top of the spec", doc.where(node))
        try:
            shape = ShapeArg()("input_shape", args.pop("input_shape"))
        except ArgError as exc:
            raise SeqcliError(str(exc), doc.where(node)) from None
        shape_sources.append(("the first layer's input_shape", shape, None, node))

    def _load_input(self, doc, cls, class_node, arg_items, index, shape_sources):
        if index != 0:
            raise SeqcliError("an Input entry must come first in `layers`", doc.where(class_node))
        args = {k.value: doc.value(v) for k, v in arg_items}
        nodes = {k.value: v for k, v in arg_items}
        try:
            spec = cls.create({"name": None, **args})
        except ArgError as exc:
            raise SeqcliError(f"Input, argument `{exc.arg}`: {exc}",
                              doc.where(nodes.get(exc.arg, class_node))) from None
        shape_sources.append(("Input", spec.shape, spec.batch_size, class_node))

    def _load_nested(self, doc, class_node, arg_items, where, shape_sources, first):
        nodes = {}
        for key_node, value_node in arg_items:
            if key_node.value not in NESTED_KEYS:
                raise SeqcliError(f"a nested Sequential has no key {key_node.value!r}"
                                  f"{did_you_mean(str(key_node.value), NESTED_KEYS)}; allowed: "
                                  f"{', '.join(NESTED_KEYS)}", doc.where(key_node))
            nodes[key_node.value] = (key_node, value_node)
        if ("spec" in nodes) == ("layers" in nodes):
            raise SeqcliError("a nested Sequential needs either `layers:` or `spec: FILE`",
                              doc.where(class_node))
        weights = self._relative_path(doc, nodes, "weights")
        overrides = {k: doc.value(v) for k, (_, v) in nodes.items() if k in ("name", "trainable")}
        if weights:
            overrides["weights"] = weights
        if "spec" not in nodes:
            model = self.load_model(doc, nodes, class_node, overrides, where)
        else:
            model = self._load_nested_file(doc, nodes, overrides, where)
        # a first nested model's input shape is the outer model's (Keras 2 style);
        # a later one's is checked against what reaches it when shapes are traced
        if model.input_shape is not None and first:
            shape_sources.append((f"the nested model {model.name!r}", model.input_shape,
                                  None, class_node))
        return model

    def _load_nested_file(self, doc, nodes, overrides, where):
        path = self._relative_path(doc, nodes, "spec")
        real = os.path.realpath(path)
        if real in self.open_files or real == os.path.realpath(doc.name):
            raise SeqcliError(f"{path} includes itself (a cycle of nested specs)",
                              doc.where(nodes["spec"][1]))
        try:
            name, text = read_text(path)
        except SeqcliError as exc:
            raise SeqcliError(f"cannot read the nested spec {path}: {exc.message}",
                              doc.where(nodes["spec"][1])) from None
        inner = document.parse(text, name)
        self.open_files.append(real)
        try:
            model, _ = self.load_document(inner, top=False, overrides=overrides, where=where)
        finally:
            self.open_files.pop()
        return model

    def _relative_path(self, doc, nodes, key):
        if key not in nodes:
            return None
        value = doc.value(nodes[key][1])
        if not isinstance(value, str) or not value:
            raise SeqcliError(f"`{key}` must be a file path", doc.where(nodes[key][1]))
        base = os.path.dirname(doc.name) if doc.name != "<stdin>" else ""
        return os.path.normpath(os.path.join(base, value))

    def _claim_name(self, name, where):
        if name in self.names:
            raise SeqcliError(f"the name {name!r} is used twice (first at {self.names[name]}); "
                              "layer names must be unique in a spec", where)
        self.names[name] = where
        return name
