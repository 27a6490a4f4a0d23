"""The spec reader: a YAML or JSON spec file into plain model data for the builder.

The document keeps every node's place, so the builder's errors name the file,
line and column; nested `spec:` files are read here too, so the builder never
touches the file system.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import yaml

from seqcli import document
from seqcli.builder import Namer, build, collector_paused, snake_case  # noqa: F401 (API)
from seqcli.document import Document
from seqcli.errors import SeqcliError
from seqcli.model import Sequential

MAX_SPEC_BYTES = 16 * 2**20


@dataclass
class Spec:
    """A loaded model: the Sequential, its compile settings, and where it came from."""

    model: Sequential
    compile: dict | None
    name: str  # what messages call the source: a path or "<stdin>"
    doc: Document | None = None  # the spec document, for the commands that edit it
    weights: object = None  # a Keras file's own weights: model -> {key: array}, read lazily


def read_text(path: str, stdin=None) -> tuple[str, str]:
    """(display name, text) of a spec file, or of standard input for '-'."""
    if path == "-":
        from seqcli.streams import claim
        claim("SPEC")
        stream = stdin or sys.stdin
        # bytes where the stream has them, so binary input is a clean error, not a
        # decoding failure somewhere later
        data = getattr(stream, "buffer", stream).read()
        if isinstance(data, bytes):
            if data.startswith((b"PK\x03\x04", b"\x89HDF\r\n\x1a\n")):
                raise SeqcliError("a Keras archive or HDF5 file on standard input; give its "
                                  "path instead (seqcli reads these only from files)", "<stdin>")
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
        raise SeqcliError(exc.strerror or str(exc), path or "''") from None


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
    """A model from a spec, or from Keras's own files, told apart by their content."""
    from seqcli import keras_files

    kind = keras_files.sniff(path) if path != "-" else None
    if kind is not None:  # a .keras archive, or a legacy .h5 model
        return keras_files.load(path, kind)
    name, text = read_text(path, stdin)
    if keras_files.is_keras_json(text):  # model.to_json(), or an archive's config.json
        return keras_files.load_json(text, name)
    return load_text(text, name)


def load_text(text: str, name: str, fmt: str | None = None) -> Spec:
    with collector_paused():
        doc = document.parse(text, name, fmt)
        model, compile_settings = build(SpecSource(doc))
    return Spec(model=model, compile=compile_settings, name=doc.name, doc=doc)


class SpecSource:
    """A parsed spec document as plain model data for the builder, with locations."""

    def __init__(self, doc: Document, parents: tuple = ()):
        self.doc = doc
        self.name = doc.name
        self.data = doc.value(doc.root)  # already converted by parse's validating pass
        self.parents = parents  # real paths of the specs that include this one
        self.nodes = {(): doc.root}  # path -> node, as looked up (each layer asks thrice)

    def node(self, path: tuple):
        """The node at a path of keys and indices, or None."""
        if path not in self.nodes:
            parent = self.node(path[:-1])
            self.nodes[path] = None if parent is None else _child(parent, path[-1])
        return self.nodes[path]

    def where(self, path: tuple, key: bool = False) -> str:
        if key:
            parent = self.node(path[:-1])
            node = _key_node(parent, path[-1]) if parent is not None else None
        else:
            node = self.node(path)
        return self.doc.where(node)

    def relative(self, path: tuple) -> str:
        """A file path written at `path`, relative to this spec's folder."""
        value = self.doc.value(self.node(path))
        if not isinstance(value, str) or not value:
            raise SeqcliError(f"`{path[-1]}` must be a file path", self.where(path))
        base = os.path.dirname(self.name) if self.name != "<stdin>" else ""
        return os.path.normpath(os.path.join(base, value))

    def include(self, path: tuple) -> "SpecSource":
        """The nested spec file named at `path`; a file that includes itself is an error."""
        file = self.relative(path)
        real = os.path.realpath(file)
        if real in self.parents or real == os.path.realpath(self.name):
            raise SeqcliError(f"{file} includes itself (a cycle of nested specs)",
                              self.where(path))
        try:
            name, text = read_text(file)
        except SeqcliError as exc:
            raise SeqcliError(f"cannot read the nested spec {file}: {exc.message}",
                              self.where(path)) from None
        return SpecSource(document.parse(text, name),
                          (*self.parents, os.path.realpath(self.name)))


def _child(node, step):
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == step), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


def _key_node(node, key):
    if isinstance(node, yaml.MappingNode):
        return next((k for k, _ in node.value if k.value == key), None)
    return None
