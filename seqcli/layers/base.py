"""The Layer base: a frozen dataclass of Keras arguments with pure shape methods."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, make_dataclass
from typing import ClassVar

from seqcli.args import Bool, Choice, LayerName, arg
from seqcli.errors import ArgError, did_you_mean

Shape = tuple  # a full shape, batch dimension first; None marks an unknown size

# Keras arguments that seqcli does not implement: accepted when null (Keras's default),
# refused otherwise.
NULL_ONLY_ARGS = ("lora_rank", "lora_alpha", "quantization_config")


@dataclass(frozen=True)
class WeightSpec:
    """One weight a layer owns: Keras's name, shape and initializer."""

    name: str
    shape: tuple
    initializer: object = "zeros"
    trainable: bool = True
    dtype: str = "float32"  # Keras's: float32, or an integer counter such as Normalization's

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def layer_class(cls: type) -> type:
    """The class decorator of every layer: a dataclass of keyword-only fields whose
    __init__, equality, hash, repr and immutability (frozen=True's __setattr__ and
    __delattr__) come from Layer (below), written once, rather than from code that
    dataclasses would write and compile for each class: nine tenths of the time it takes
    to create one, and a spec's families create dozens at every start-up."""
    return dataclass(cls, kw_only=True, init=False, eq=False, repr=False)


@layer_class
class Layer:
    """A Keras layer: arguments checked once, then pure methods on shapes."""

    name: str = arg(LayerName(), doc="unique name (default: snake_case class name, numbered)")
    trainable: bool = arg(Bool(), default=True, doc="false freezes the layer's weights")
    dtype: str = arg(Choice("float32"), default="float32", doc="seqcli computes in float32")
    # Keras's <weight>_regularizer, <weight>_constraint and activity_regularizer
    # settings that are not null, as (argument, setting) pairs (see `rule_arguments`)
    rules: tuple = field(default=(), repr=False)
    # where the layer was written ("file:line:col"); not an argument
    where: str = field(default="", compare=False, repr=False)

    aliases: ClassVar[tuple] = ()
    is_input: ClassVar[bool] = False  # only Input, which declares a shape
    wraps: ClassVar[tuple] = ()  # arguments that hold layers (Bidirectional's `layer`...)
    # weight name -> the prefix of its Keras regularizer and constraint arguments
    # (Dense: kernel -> kernel_regularizer; DepthwiseConv2D: kernel -> depthwise_...)
    weight_args: ClassVar[dict] = {}
    takes_activity_regularizer: ClassVar[bool] = True
    # what the layer does with a Keras mask (Embedding's mask_zero): "drops" it (Keras's
    # default), "passes" it on untouched, "uses" it (forward_masked), or "refuses" it
    # (Keras would use it in a way seqcli does not implement yet)
    masking: ClassVar[str] = "drops"
    makes_mask: ClassVar[bool] = False  # an Embedding with mask_zero sets it
    runs_over_time: ClassVar[bool] = False  # a recurrent layer (Bidirectional takes these)
    # the automatic name's base where Keras 3's differs from Keras 2's snake case, which
    # seqcli's older layers keep (ConvLSTM2D: Keras 3's conv_lstm2d, Keras 2's conv_lst_m2d)
    auto_name: ClassVar[str] = ""
    positional: ClassVar[tuple] = ()  # Keras's positional argument order
    summary: ClassVar[str] = ""  # one line for `seqcli catalog`
    weights_doc: ClassVar[str] = "none"  # its weights, for `seqcli catalog CLASS`

    # __init__, equality, hash, repr and immutability as dataclasses writes them for a
    # frozen dataclass, once for every layer class: keyword arguments, the fields'
    # defaults for those not given, __post_init__; layers of the same class with equal
    # fields (but `where`) are equal and hash alike; no attribute can be set or deleted
    def __init__(self, **values):
        for f in _init_fields(type(self)):
            if f.name in values:
                value = values.pop(f.name)
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing the keyword argument {f.name!r}")
            object.__setattr__(self, f.name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{next(iter(values))!r}")
        self.__post_init__()

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self):
        return hash(self._compared())

    def __repr__(self):
        shown = (f"{name}={getattr(self, name)!r}" for name in _field_names(type(self), "repr"))
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def _compared(self) -> tuple:
        return tuple(getattr(self, name) for name in _field_names(type(self), "compare"))

    def __post_init__(self):
        for f in self.arguments():
            kind = f.metadata["kind"]
            object.__setattr__(self, f.name, kind(keras_name(f), getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Cross-argument checks (raise ArgError); most layers have none."""

    # ------------------------------------------------------------ construction

    @classmethod
    def arguments(cls) -> list[dataclasses.Field]:
        """The Keras arguments, own ones first, in declaration order (computed once)."""
        cached = _ARGUMENTS.get(cls)
        if cached is None:
            own = [f for f in dataclasses.fields(cls) if "kind" in f.metadata]
            base = {f.name for f in dataclasses.fields(Layer)}
            cached = _ARGUMENTS[cls] = tuple(
                [f for f in own if f.name not in base] + [f for f in own if f.name in base])
        return cached

    @classmethod
    def argument_names(cls) -> list:
        """Keras's names of the arguments (a field's own name but where renamed)."""
        return [keras_name(f) for f in cls.arguments()]

    @classmethod
    def create(cls, args: dict, where: str = "") -> "Layer":
        """Build from a dict of Keras arguments; ArgError names the bad one."""
        known = cls.argument_names()
        args, rules = dict(args), {}
        for key in list(args):
            if key in known:
                continue
            if key in cls.rule_arguments():
                rules[key] = _checked_rule(key, args.pop(key))
                continue
            if key in NULL_ONLY_ARGS:
                if args.pop(key) is not None:
                    raise ArgError(key, f"`{key}` is a Keras argument that seqcli does not "
                                   "support yet; remove it (or set it to null)")
                continue
            known += cls.rule_arguments()
            raise ArgError(key, f"{cls.__name__} has no argument `{key}`"
                           f"{did_you_mean(key, known)}; it takes: {', '.join(known)}")
        missing = [keras_name(f) for f in cls.arguments()
                   if _required(f) and keras_name(f) not in args]
        if missing:
            raise ArgError(missing[0], f"{cls.__name__} needs the argument `{missing[0]}`")
        rules = tuple((key, value) for key, value in rules.items() if value is not None)
        fields = {keras_name(f): f.name for f in cls.arguments()}
        return cls(**{fields[key]: value for key, value in args.items()}, rules=rules,
                   where=where)

    @classmethod
    def rule_arguments(cls) -> tuple:
        """Its Keras regularizer and constraint arguments."""
        prefixes = dict.fromkeys(cls.weight_args.values())
        return tuple(f"{p}_{kind}" for p in prefixes for kind in ("regularizer", "constraint")) \
            + (("activity_regularizer",) if cls.takes_activity_regularizer else ())

    def config(self) -> dict:
        """The arguments that differ from their defaults (plus the name)."""
        result = {}
        for f in self.arguments():
            value = getattr(self, f.name)
            if f.name == "name" or _required(f) or value != _default(f, self):
                result[keras_name(f)] = value
        result.update(self.rules)
        return result

    def rule(self, argument: str):
        """A regularizer or constraint setting, or None."""
        for key, setting in self.rules:  # a few pairs at most: no dict per call
            if key == argument:
                return setting
        return None

    def weight_rules(self) -> dict:
        """{weight name: (regularizer, constraint)} for its weights that have either."""
        found = {}
        for weight, prefix in self.weight_args.items():
            pair = (self.rule(f"{prefix}_regularizer"), self.rule(f"{prefix}_constraint"))
            if pair != (None, None):
                found[weight] = pair
        return found

    # ------------------------------------------------------------ shapes and weights

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def weight_specs(self, input_shape: Shape) -> list[WeightSpec]:
        return []

    def keras_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape Keras's summary shows: the shape data takes, but where Keras
        reports an axis the data fills as None (EinsumDense's)."""
        return self.output_shape(input_shape)

    def forward(self, params: dict, x):
        """The output at inference."""
        return self.forward_train(params, x, rng=None)[0]

    def forward_train(self, params: dict, x, rng):
        """(output in training mode, what `backward` needs); rng drives any randomness."""
        raise NotImplementedError

    def backward(self, params: dict, cache, dy):
        """(dL/dx, {weight name: dL/dweight}) from dL/dy and the forward cache."""
        raise NotImplementedError

    def backward_weights(self, params: dict, cache, dy) -> dict:
        """{weight name: dL/dweight} alone: the model's first layer needs no dL/dx,
        and a layer that can skip computing it says so by overriding this."""
        return self.backward(params, cache, dy)[1]

    def forward_masked(self, params: dict, x, rng, mask, training: bool = False):
        """(output, cache, output mask) for a layer whose masking is "uses"."""
        raise NotImplementedError

    def make_mask(self, x):
        """For a layer that makes masks: Keras's mask from the layer's input (an
        Embedding with mask_zero: True where the index is not 0)."""
        return x != 0

    def keeps_mask(self) -> bool:
        """For a layer that uses masks: whether its output still carries one."""
        return False

    def activity_regularizer(self):
        """The regularizer of the layer's output, or None."""
        return self.rule("activity_regularizer")

    @property
    def regularizes_output(self) -> bool:
        return self.activity_regularizer() is not None

    def penalty(self, y) -> float:
        """An extra loss term from the layer's output (Keras's add_loss), in fit and
        evaluate alike: its activity regularizer's, divided by the batch size, as Keras
        does; 0 for most."""
        setting = self.activity_regularizer()
        if setting is None or not len(y):
            return 0.0
        from seqcli import regularizers

        return regularizers.penalty(setting, y) / len(y)

    def penalty_gradient(self, y):
        """d(penalty)/dy, which the model adds to the output's gradient before `backward`."""
        from seqcli import regularizers

        return regularizers.gradient(self.activity_regularizer(), y) / \
            y.dtype.type(max(len(y), 1))

    def updates(self, cache) -> dict:
        """New values for non-trainable weights after a training step ({weight: array}),
        such as BatchNormalization's moving statistics; the training loop applies them."""
        return {}

    def describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"


_ARGUMENTS: dict[type, tuple] = {}
_FIELD_NAMES: dict[tuple, tuple] = {}


def _init_fields(cls: type) -> tuple:
    """A layer class's fields (computed once)."""
    found = _FIELD_NAMES.get((cls, "init"))
    if found is None:
        found = _FIELD_NAMES[cls, "init"] = dataclasses.fields(cls)
    return found


def _field_names(cls: type, flag: str) -> tuple:
    """The names of a layer class's fields whose `compare` (or `repr`) flag is set."""
    names = _FIELD_NAMES.get((cls, flag))
    if names is None:
        names = _FIELD_NAMES[cls, flag] = tuple(
            f.name for f in dataclasses.fields(cls) if getattr(f, flag))
    return names


def _checked_rule(key: str, value):
    from seqcli.regularizers import check_constraint, check_regularizer

    check = check_constraint if key.endswith("_constraint") else check_regularizer
    try:
        return check(value)
    except ValueError as exc:
        raise ArgError(key, f"Invalid value for argument `{key}`: {exc}") from None


def keras_name(f: dataclasses.Field) -> str:
    return f.metadata.get("keras") or f.name


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _default(f: dataclasses.Field, layer):
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return f.metadata["kind"](keras_name(f), default) if default is not None else None


def require_rank(layer: Layer, input_shape: Shape, ndim: int) -> None:
    """Keras's input-spec check, in Keras's words."""
    if len(input_shape) != ndim:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: '
                         f"expected ndim={ndim}, found ndim={len(input_shape)}. "
                         f"Full shape received: {format_shape(input_shape)}")


def check_noise_shape(noise_shape, input_shape) -> None:
    """A dropout mask shape (batch included, None = the input's size) must broadcast."""
    if noise_shape is None:
        return
    fits = len(noise_shape) == len(input_shape) and all(
        n is None or n == 1 or i is None or n == i for n, i in zip(noise_shape, input_shape))
    if not fits:
        raise ValueError(f"noise_shape={tuple(noise_shape)} does not fit the input shape "
                         f"{format_shape(input_shape)}: it needs one entry per axis, batch "
                         "included, each 1, null or the input's size")


def format_shape(shape: Shape) -> str:
    """A shape as Keras prints it: (None, 4)."""
    return str(tuple(shape))


def channels_last(data_format) -> bool:
    return data_format in (None, "channels_last")


# ---------------------------------------------------------------- rank families

RANK_NAMES = {1: "1D", 2: "2D", 3: "3D"}


def rank_family_class(name: str, base: type, rank: int, fields: list, **namespace) -> type:
    """One registered class of a 1-D/2-D/3-D family (Conv2D from Conv, rank 2): a layer
    dataclass with `fields` [(name, type, arg(...))] in Keras's positional order, unless
    `positional` says otherwise; `namespace` sets summary, aliases and the like."""
    from seqcli.registry import register

    # a docstring of its own: without one, dataclasses writes one from inspect.signature,
    # about a fifth of the time it takes to create the class (paid at every start-up)
    namespace = {"__doc__": namespace.get("summary", base.__doc__), "rank": rank,
                 "positional": tuple(f[0] for f in fields), "__module__": base.__module__,
                 **namespace}
    return register(make_dataclass(name, fields, bases=(base,), kw_only=True, init=False,
                                   eq=False, repr=False, namespace=namespace))


@layer_class
class SpatialLayer(Layer):
    """A layer over (batch, *spatial, channels) data, or channels first with
    `data_format`. The numpy kernels work channels-last: channels-first data is moved
    there on the way in and back on the way out."""

    rank: ClassVar[int] = 2

    @property
    def last(self) -> bool:
        return channels_last(getattr(self, "data_format", None))

    def split_shape(self, shape: Shape) -> tuple:
        """(spatial sizes, channels) of a full shape, whatever the data format."""
        return (shape[1:-1], shape[-1]) if self.last else (shape[2:], shape[1])

    def join_shape(self, batch, spatial, channels) -> Shape:
        return (batch, *spatial, channels) if self.last else (batch, channels, *spatial)

    def to_last(self, x):
        from seqcli import ops

        return x if self.last else ops.to_channels_last(x)

    def from_last(self, y):
        from seqcli import ops

        return y if self.last else ops.to_channels_first(y)
