"""The guide's CNN counted by other tools, for the README's comparison table.

    python benchmarks/flop_counters.py torch   # needs torch, torchinfo, fvcore, ptflops, thop
    python benchmarks/flop_counters.py tf      # needs tensorflow 2.12 (tf.keras 2)

Not part of the test suite: the counters are heavy and the numbers are the README's.
"""

import sys


def count_with_torch():
    import torch
    from torch import nn

    def guide_cnn():
        def conv(channels, kernel, stride=1):
            return nn.Conv2d(channels, 32, kernel, stride=stride)
        return nn.Sequential(
            conv(3, 5, 2), nn.ReLU(), conv(32, 3), nn.ReLU(), nn.MaxPool2d(3),
            conv(32, 3), nn.ReLU(), conv(32, 3), nn.ReLU(), nn.MaxPool2d(3),
            conv(32, 3), nn.ReLU(), conv(32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()

    x = torch.zeros(1, 3, 250, 250)
    print("params", sum(p.numel() for p in guide_cnn().parameters()))
    import torchinfo
    print("torchinfo mult-adds", torchinfo.summary(guide_cnn(), input_size=(1, 3, 250, 250),
                                                    verbose=0).total_mult_adds)
    from fvcore.nn import FlopCountAnalysis
    analysis = FlopCountAnalysis(guide_cnn(), x)
    analysis.unsupported_ops_warnings(False)
    print("fvcore flops", analysis.total())
    from ptflops import get_model_complexity_info
    for backend in ("pytorch", "aten"):
        macs, _ = get_model_complexity_info(guide_cnn(), (3, 250, 250), as_strings=False,
                                            print_per_layer_stat=False, backend=backend)
        print("ptflops", backend, macs)
    from thop import profile
    macs, _ = profile(guide_cnn(), inputs=(x,), verbose=False)
    print("thop macs", int(macs))


def count_with_tf():
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((250, 250, 3)), layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(3),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(3), layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.GlobalMaxPooling2D(), layers.Dense(10)])
    function = tf.function(lambda x: model(x)).get_concrete_function(
        tf.TensorSpec([1, 250, 250, 3], tf.float32))
    graph = convert_variables_to_constants_v2(function).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                         cmd="op", options=options)
    print("tf profiler flops", info.total_float_ops)


if __name__ == "__main__":
    {"torch": count_with_torch, "tf": count_with_tf}[sys.argv[1]]()
