"""The Keras 3 layers (keras.layers, 3.15) that seqcli does not build, and why: `seqcli
catalog` lists them, and naming one in a model says why it is refused. No numpy here."""

from __future__ import annotations

# (why, the Keras classes): a class that a later version implements drops out of the
# listing by itself (see `left_out`)
GROUPS = [
    ("they run code that a file names (a Python function, a saved TensorFlow graph, a "
     "JAX, Flax or PyTorch module), and seqcli never runs code from a model file",
     ("Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper")),
    ("they work on strings or lookup tables, which Keras 3 runs through TensorFlow even on "
     "JAX; seqcli's data is numbers in .npy files",
     ("Hashing", "HashedCrossing", "IntegerLookup", "StringLookup", "TextVectorization")),
    ("they take several inputs (or attend from one sequence to another), which a "
     "Sequential model cannot give them",
     ("Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
      "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention")),
    ("they need labels or bounding boxes beside the images, which a Sequential's single "
     "input does not carry",
     ("MixUp", "CutMix", "MaxNumBoundingBoxes")),
    ("augmentation that chains other augmentation layers picked at random (randomness in "
     "its structure, not just in its factors); not built yet",
     ("RandAugment", "AugMix", "RandomColorJitter", "RandomElasticTransform",
      "RandomPerspective")),
    ("not built yet",
     ("RandomShear", "RandomInvert", "RandomGrayscale", "RandomHue", "RandomSaturation",
      "RandomSharpness", "RandomPosterization", "Solarization", "RandomColorDegeneration",
      "RandomErasing", "RandomGaussianBlur", "AutoContrast", "Equalization",
      "ContrastLimitedAdaptiveHistogramEqualization", "AdaptiveAveragePooling1D",
      "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D",
      "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "ReversibleEmbedding",
      "MelSpectrogram", "STFTSpectrogram", "Pipeline", "RNN", "SimpleRNNCell", "LSTMCell",
      "GRUCell", "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "EinsumDense",
      "SpectralNormalization")),
    ("not layers of their own: Layer and Wrapper are base classes, and InputLayer is "
     "written `Input`",
     ("Layer", "Wrapper", "InputLayer")),
]


def left_out() -> list[tuple[str, list[str]]]:
    """[(why, the classes)] for the Keras classes seqcli does not register."""
    from seqcli.registry import INDEX

    return [(why, [name for name in names if name not in INDEX]) for why, names in GROUPS
            if any(name not in INDEX for name in names)]


def why(name: str) -> str | None:
    """Why a Keras class is left out, or None."""
    from seqcli.registry import INDEX

    if name in INDEX:
        return None
    return next((reason for reason, names in GROUPS if name in names), None)
