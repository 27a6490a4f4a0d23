"""Forward passes over data in batches: `run` and `extract`."""

from __future__ import annotations

import numpy as np

from seqcli.errors import SeqcliError, blame_data
from seqcli.model import Sequential


def build_for(model: Sequential, x, where: str = "") -> Sequential:
    """The model built for data x: its shape must fit the declared input shape. `where`
    names the data's file in a message."""
    if x.ndim < 1:
        raise SeqcliError("the input is a scalar; expected an array with a batch axis first",
                          where)
    # the batch is split into chunks, so only the per-sample shape has to fit
    try:
        built = model.with_input((None, *x.shape[1:]))
        built.plan  # noqa: B018 (traced here: the data's shape must fit every layer)
    except SeqcliError as exc:
        raise blame_data(exc, where) from None
    return built


ALLOW = "or pass --allow-nonfinite to run anyway"  # for the commands that have the option


def batches(x, batch_size: int, allow_nonfinite: bool = False, fix: str = ALLOW):
    """float32 chunks of x along the batch axis (integers and float64 cast explicitly);
    NaN or Inf is refused unless allowed (`fix`: what the message offers besides fixing
    the data). A streamed input's rows are released once their batch has been used."""
    release = getattr(x, "release", None)
    for start in range(0, x.shape[0], batch_size):
        chunk = np.asarray(x[start:start + batch_size])
        if chunk.dtype != np.float32:
            chunk = chunk.astype(np.float32)
        if not allow_nonfinite:
            check_finite(chunk, start, fix=fix)
        yield chunk
        if release is not None:
            release(start, start + batch_size)


def check_finite(array, offset: int = 0, what: str = "input", fix: str = ALLOW) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0][0]) + offset
        verb = "hold" if what.endswith("s") else "holds"
        raise SeqcliError(f"the {what} {verb} NaN or Inf (first in sample {bad}); fix the data"
                          + (f", {fix}" if fix else ""))


def with_batch(shape, n: int) -> tuple:
    return (n, *shape[1:])


def output_shape(model: Sequential, n: int) -> tuple:
    return with_batch(model.plan.output_shape, n)


def size_of(shape) -> int:
    size = 1
    for dim in shape:
        size *= dim or 1
    return size


def output_size(model: Sequential, n: int) -> int:
    return size_of(output_shape(model, n))


def predict(engine, x, batch_size: int = 32, allow_nonfinite: bool = False):
    """Outputs for every sample of x, batch by batch."""
    result = np.empty(output_shape(engine.model, x.shape[0]), dtype=np.float32)
    start = 0
    for chunk in batches(x, batch_size, allow_nonfinite):
        result[start:start + len(chunk)] = engine.forward(chunk).output
        start += len(chunk)
    return result


def printed(outputs, precision=None) -> str:
    """The outputs as text, every row of them (numpy would elide rows past 1,000 numbers
    with '...'). `precision`: digits after the point (numpy's default is 8), or "full"
    for the shortest digits that read back as the same float32."""
    import sys

    if precision == "full":
        options = {"floatmode": "unique"}
    else:
        options = {"precision": 8 if precision is None else precision}
    return np.array2string(outputs, threshold=sys.maxsize, max_line_width=100, **options)


def stream_npy(engine, x, batch_size: int, stream, allow_nonfinite: bool = False) -> None:
    """Write the outputs as .npy to a byte stream as each batch is computed. Nothing is
    written until the first batch has passed its checks and been computed, so a refused
    input leaves a pipe empty rather than holding a header and no data."""
    header = npy_header(output_shape(engine.model, x.shape[0]))
    for chunk in batches(x, batch_size, allow_nonfinite):
        output = np.ascontiguousarray(engine.forward(chunk).output, dtype=np.float32)
        if header:
            stream.write(header)
            header = b""
        stream.write(output.tobytes())
    stream.write(header)  # no rows: the header alone
    stream.flush()


def npy_header(shape) -> bytes:
    """The .npy header (magic string included) of a float32 array of this shape."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def extract(engine, x, names: list[str], batch_size: int = 32,
            allow_nonfinite: bool = False) -> dict:
    """Each named top-level layer's output for every sample, from one pass per batch."""
    parts: dict[str, list] = {name: [] for name in names}
    for chunk in batches(x, batch_size, allow_nonfinite):
        collected = engine.forward(chunk, keep=names).collected
        for name in names:
            parts[name].append(collected[name])
    plan = engine.model.plan
    return {name: np.concatenate(parts[name]) if parts[name] else
            np.empty(with_batch(plan.step(name).output_shape, 0), dtype=np.float32)
            for name in names}
