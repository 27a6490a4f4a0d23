"""Memory estimates, checked before anything is allocated.

A spec can ask for `Dense: {units: 1000000000000}`; a summary of it is fine (no
arrays), but making its weights or running it is refused up front with the
estimate, instead of failing halfway or swapping. The bound is a module
constant (tests lower it) and `--max-memory` raises it.
"""

from __future__ import annotations

import math
import re

from seqcli.errors import SeqcliError
from seqcli.model import Sequential

MAX_BYTES = 8 * 2**30  # default bound on what one command may allocate
FLOAT_BYTES = 4
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """'512M', '8G', '1.5g', '1000000' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ValueError(f"expected a size such as 512M or 8G, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def weight_bytes(model: Sequential) -> int:
    return FLOAT_BYTES * sum(spec.size for spec in model.plan.weight_specs())


def activation_bytes(model: Sequential, batch: int, training: bool) -> int:
    """Peak bytes of activations for one batch: the largest layer at inference, all
    of them (kept for the backward pass, about three arrays each) in training."""
    plan = model.plan
    shapes = [(batch, *shape[1:]) for shape in
              (plan.input_shape, *(step.output_shape for step in plan.steps))]
    sizes = [math.prod(d or 1 for d in shape) * FLOAT_BYTES for shape in shapes]
    if training:
        return 3 * sum(sizes)
    return max(a + b for a, b in zip(sizes, sizes[1:] + [0]))


def check(model: Sequential, batch: int, limit: int, training: bool = False,
          weights_only: bool = False, extra_bytes: int = 0) -> None:
    """Refuse, with the estimate, a command that would need more than `limit` bytes
    (`extra_bytes`: what it keeps besides, such as the outputs it returns)."""
    weights = weight_bytes(model) * (4 if training else 1)  # grads and 2 optimizer slots
    activations = 0 if weights_only else activation_bytes(model, max(batch, 1), training)
    total = weights + activations + extra_bytes
    if total > limit:
        what = "weights" if weights_only else f"weights and activations for a batch of {batch}"
        smaller = "model" if weights_only else "--batch-size or model"
        raise SeqcliError(f"this needs about {_human(total)} ({total:,} bytes) of memory for "
                          f"its {what}, over the {_human(limit)} limit; raise it with "
                          f"--max-memory (e.g. --max-memory 64G), or use a smaller {smaller}")


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"
