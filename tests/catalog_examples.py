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
}
