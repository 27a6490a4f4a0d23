"""Engines: what runs a built model's forward pass, batch by batch.

An engine is made once per command from a built model and its weights, then
asked for one batch at a time:

    engine = get(name)(model, weights)  # engine.model and engine.weights keep them
    result = engine.forward(batch, keep=("dense",))
    result.output, result.collected["dense"], result.penalty

`run`, `extract` and `evaluate` stream their batches through whichever engine
`--engine` names; adding one is a module with such a class and a line in ENGINES.
"""

from __future__ import annotations

from seqcli.errors import SeqcliError

# name -> (module:class, what to install when its module is missing)
ENGINES = {
    "numpy": ("seqcli.engines.numpy_engine:NumpyEngine", None),
    "onnxruntime": ("seqcli.engines.onnxruntime_engine:OnnxRuntimeEngine", "onnx"),
    "dask": ("seqcli.dask_engine:DaskEngine", "dask"),  # whole commands: seqcli.cli_dask
}


def names() -> list[str]:
    return list(ENGINES)


def get(name: str) -> type:
    """The engine class called `name`; a one-line error when it cannot be had."""
    import importlib

    if name not in ENGINES:
        raise SeqcliError(f"unknown engine {name!r}; the engines are: {', '.join(ENGINES)}",
                          "--engine")
    target, extra = ENGINES[name]
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        if extra is None:
            raise
        raise SeqcliError(f"the {name} engine needs {exc.name}: pip install "
                          f"'seqcli[{extra}]'", "--engine") from None


def __getattr__(attribute):  # `from seqcli.engines import NumpyEngine`, loaded lazily
    if attribute == "NumpyEngine":
        return get("numpy")
    raise AttributeError(attribute)
