"""The layer registry: Keras class name (and alias) -> layer class."""

from __future__ import annotations

from seqcli.errors import did_you_mean

LAYERS: dict[str, type] = {}
ALIASES: dict[str, str] = {}

# Keras layers that would run code from a spec: refused, with the reason.
REFUSED = {
    "Lambda": "a Lambda layer runs arbitrary Python code, and seqcli never runs code "
              "from a spec; write the computation with built-in layers",
    "TFSMLayer": "it loads and runs a saved TensorFlow graph, which seqcli never does",
}


def register(cls):
    """Class decorator: add a layer class under its name and its aliases."""
    for name in (cls.__name__, *cls.aliases):
        if name in LAYERS or name in ALIASES:
            raise RuntimeError(f"layer name {name!r} is registered twice")
    LAYERS[cls.__name__] = cls
    for alias in cls.aliases:
        ALIASES[alias] = cls.__name__
    return cls


def _load_all() -> None:
    # every layer module is imported explicitly, so registration order is fixed
    import seqcli.layers  # noqa: F401
    import seqcli.model  # noqa: F401


def lookup(name) -> type:
    """The class for a Keras class name or alias; KeyError with a helpful message."""
    _load_all()
    if not isinstance(name, str):
        raise KeyError(f"a layer class name must be a string, received {name!r}")
    if name in REFUSED:
        raise KeyError(f"{name} is not supported: {REFUSED[name]}")
    cls = LAYERS.get(ALIASES.get(name, name))
    if cls is None:
        names = list(LAYERS) + list(ALIASES)
        raise KeyError(f"unknown layer class {name!r}{did_you_mean(name, names)}; "
                       "`seqcli catalog` lists the known layers")
    return cls


def all_layers() -> dict[str, type]:
    _load_all()
    return dict(LAYERS)
