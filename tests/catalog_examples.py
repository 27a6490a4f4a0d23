"""Layer-contract examples for the catalog's newer layers (tests/test_layer_contract.py
merges them into its EXAMPLES): class -> [(entry args, one sample's shape[, input kind])].
Kind "indices:N" draws whole numbers below N."""

CATALOG_EXAMPLES = {
    "Masking": [({}, [4, 3]), ({"mask_value": 1.5}, [2, 3, 2])],
    "RMSNormalization": [({}, [5]), ({"axis": [-2, -1], "epsilon": 0.1}, [3, 4]),
                         ({"axis": 2}, [2, 3])],
    "Discretization": [({"bin_boundaries": [-0.5, 0.0, 0.7]}, [4]),
                       ({"bin_boundaries": [0.0], "output_mode": "one_hot"}, [3, 1]),
                       ({"bin_boundaries": [-1.0, 1.0], "output_mode": "count"}, [5, 2])],
    "CategoryEncoding": [({"num_tokens": 4}, [3], "indices:4"),
                         ({"num_tokens": 5, "output_mode": "one_hot"}, [3], "indices:5"),
                         ({"num_tokens": 3, "output_mode": "count"}, [6], "indices:3")],
    "RNN": [({"cell": {"LSTMCell": {"units": 3}}}, [4, 2]),
            ({"cell": {"GRUCell": {"units": 2, "reset_after": False}}, "return_sequences": True,
              "go_backwards": True}, [3, 3]),
            ({"cell": {"StackedRNNCells": {"cells": [
                {"SimpleRNNCell": {"units": 3, "activation": "relu"}},
                {"LSTMCell": {"units": 2, "unit_forget_bias": False}}]}},
              "go_backwards": True}, [4, 2]),
            ({"cell": [{"GRUCell": {"units": 2}}, {"GRUCell": {"units": 3, "use_bias": False}}],
              "return_sequences": True}, [3, 2])],
    # cells run inside an RNN (tests/test_layer_contract.py wraps them)
    "SimpleRNNCell": [({"units": 3}, [4, 2]), ({"units": 2, "use_bias": False}, [3, 2])],
    "LSTMCell": [({"units": 3}, [4, 2]), ({"units": 2, "dropout": 0.3,
                                           "recurrent_dropout": 0.2}, [3, 2])],
    "GRUCell": [({"units": 3}, [4, 2]), ({"units": 2, "reset_after": False}, [3, 3])],
    "StackedRNNCells": [({"cells": [{"LSTMCell": {"units": 3}}, {"GRUCell": {"units": 2}}]},
                         [4, 2])],
    "EinsumDense": [({"equation": "ab,bc->ac", "output_shape": 4}, [3]),
                    ({"equation": "abc,cd->abd", "output_shape": [None, 5], "bias_axes": "d",
                      "activation": "tanh"}, [4, 3]),
                    ({"equation": "...b,bcd->...cd", "output_shape": [2, 3],
                      "bias_axes": "c"}, [4, 5]),
                    ({"equation": "abc...,cd->abd...", "output_shape": [3, 2],
                      "bias_axes": "bd"}, [3, 4, 5]),
                    ({"equation": "abc,cd->ad", "output_shape": 2}, [3, 4])],
}
