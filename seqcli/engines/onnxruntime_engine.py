"""ONNX Runtime as an engine: the model is converted to ONNX in memory once, then
ONNX Runtime runs each batch with all the machine's threads."""

from __future__ import annotations

import os

import onnxruntime
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, RuntimeException

from seqcli.errors import SeqcliError
from seqcli.layers.core import Embedding
from seqcli.model import Pass, Sequential


class OnnxRuntimeEngine:
    name = "onnxruntime"

    def __init__(self, model: Sequential, weights: dict):
        self.model = model
        self.weights = weights
        self._sessions = {}
        self._session(())  # convert now: a layer ONNX cannot express fails before any batch

    def forward(self, batch, keep=()) -> Pass:
        """The batch's output, the outputs of the top-level layers named in `keep`, the
        activity regularizers' loss terms, and Keras's mask on the output (if any)."""
        keep = tuple(keep)
        session, built = self._session(keep)
        self._check_indices(batch)
        try:
            arrays = session.run(None, {session.get_inputs()[0].name: batch})
        except (Fail, InvalidArgument, RuntimeException) as exc:
            raise SeqcliError(f"ONNX Runtime could not run the model: "
                              f"{str(exc).splitlines()[0]}", "--engine onnxruntime") from None
        named = {output.name: array for output, array in zip(session.get_outputs(), arrays)}
        penalty = sum(layer.penalty(named[f"penalty:{index}"])
                      for index, layer in enumerate(built.penalty_layers))
        return Pass(named["output_0"], mask=named.get("mask"),
                    collected={name: named[f"layer:{name}"] for name in keep},
                    penalty=penalty)

    def _session(self, keep: tuple):
        """One session per set of kept layers (run needs one; extract one more)."""
        if keep not in self._sessions:
            from seqcli.onnx_export import build

            built = build(self.model, self.weights, outputs=keep, engine=True)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = os.cpu_count() or 0
            options.log_severity_level = 3  # errors only: seqcli's stderr stays seqcli's
            session = onnxruntime.InferenceSession(built.proto.SerializeToString(), options,
                                                   providers=["CPUExecutionProvider"])
            self._sessions[keep] = (session, built)
        return self._sessions[keep]

    def _check_indices(self, batch) -> None:
        """An Embedding reading the input refuses what numpy's refuses (ONNX Runtime's
        Gather would fail on a bad index, or truncate a fraction)."""
        layers = self.model.layers
        while layers and isinstance(layers[0], Sequential):
            layers = layers[0].layers
        if layers and isinstance(layers[0], Embedding):
            layers[0]._indices(batch)
