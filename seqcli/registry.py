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


# module -> the class names and aliases it registers, in catalog order. A family is
# imported only when one of its layers is asked for: building ~70 layer classes costs
# about 0.1 s, and `seqcli summary` should pay only for the layers its spec uses.
# (tests/test_layer_contract.py checks this index against what the modules register.)
FAMILIES = {
    "seqcli.layers.core": ("Input", "Dense", "Activation", "Dropout", "Flatten", "Embedding"),
    "seqcli.layers.einsum_dense": ("EinsumDense",),
    "seqcli.layers.conv": (
        "Conv1D", "Convolution1D", "Conv2D", "Convolution2D", "Conv3D", "Convolution3D",
        "Conv1DTranspose", "Convolution1DTranspose", "Conv2DTranspose", "Convolution2DTranspose",
        "Conv3DTranspose", "Convolution3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D",
        "SeparableConv1D", "SeparableConvolution1D", "SeparableConv2D", "SeparableConvolution2D",
    ),
    "seqcli.layers.pooling": (
        "MaxPooling1D", "MaxPool1D", "MaxPooling2D", "MaxPool2D", "MaxPooling3D", "MaxPool3D",
        "AveragePooling1D", "AvgPool1D", "AveragePooling2D", "AvgPool2D", "AveragePooling3D",
        "AvgPool3D", "GlobalMaxPooling1D", "GlobalMaxPool1D", "GlobalMaxPooling2D",
        "GlobalMaxPool2D", "GlobalMaxPooling3D", "GlobalMaxPool3D", "GlobalAveragePooling1D",
        "GlobalAvgPool1D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalAveragePooling3D",
        "GlobalAvgPool3D",
    ),
    "seqcli.layers.normalization": (
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    ),
    "seqcli.layers.regularization": (
        "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    ),
    "seqcli.layers.reshaping": ("Identity", "Reshape", "Permute", "RepeatVector"),
    "seqcli.layers.padding": (
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    ),
    "seqcli.layers.activation": ("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"),
    "seqcli.layers.recurrent": ("SimpleRNN", "LSTM", "GRU"),
    "seqcli.layers.conv_lstm": ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    "seqcli.layers.cells": ("RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"),
    "seqcli.layers.wrappers": ("Bidirectional", "TimeDistributed"),
    "seqcli.layers.spectral_normalization": ("SpectralNormalization",),
    "seqcli.layers.preprocessing": ("Rescaling", "Normalization", "CenterCrop", "Resizing"),
    "seqcli.layers.masking": ("Masking",),
    "seqcli.layers.rms_normalization": ("RMSNormalization",),
    "seqcli.layers.encoding": ("Discretization", "CategoryEncoding"),
    "seqcli.layers.augmentation": ("RandomFlip", "RandomCrop"),
    "seqcli.layers.augment_affine": ("RandomRotation", "RandomZoom", "RandomTranslation",
                                     "RandomShear", "RandomPerspective"),
    "seqcli.layers.augment_color": ("RandomContrast", "RandomBrightness", "RandomInvert",
                                    "RandomGrayscale"),
    "seqcli.layers.augment_tone": ("RandomColorDegeneration", "RandomSharpness",
                                   "Solarization", "RandomPosterization", "Equalization"),
    "seqcli.layers.augment_region": ("RandomErasing", "RandomGaussianBlur",
                                     "RandomElasticTransform"),
    "seqcli.layers.augment_hsv": ("RandomHue", "RandomSaturation"),
    "seqcli.layers.augment_jitter": ("RandomColorJitter",),
    "seqcli.layers.auto_contrast": ("AutoContrast",),
    "seqcli.model": ("Sequential",),
}
INDEX = {name: module for module, names in FAMILIES.items() for name in names}


def _load(module: str) -> None:
    import importlib

    importlib.import_module(module)


def _load_all() -> None:
    for module in FAMILIES:
        _load(module)


def lookup(name) -> type:
    """The class for a Keras class name or alias; KeyError with a helpful message."""
    if not isinstance(name, str):
        raise KeyError(f"a layer class name must be a string, received {name!r}")
    if name in REFUSED:
        raise KeyError(f"{name} is not supported: {REFUSED[name]}")
    if name in INDEX:
        _load(INDEX[name])
    cls = LAYERS.get(ALIASES.get(name, name))
    if cls is None:
        from seqcli.left_out import why

        if why(name) is not None:
            raise KeyError(f"{name} is a Keras layer that seqcli leaves out: {why(name)}")
        raise KeyError(f"unknown layer class {name!r}{did_you_mean(name, INDEX)}; "
                       "`seqcli catalog` lists the known layers")
    return cls


def all_layers() -> dict[str, type]:
    """Every layer class by name, in catalog order (whatever was imported first)."""
    _load_all()
    return {name: LAYERS[name] for names in FAMILIES.values() for name in names
            if name in LAYERS}
