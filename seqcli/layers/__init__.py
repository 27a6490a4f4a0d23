"""Layer families; importing this package registers every layer."""

from seqcli.layers import (activation, conv, core, normalization, padding, pooling,  # noqa: F401
                            preprocessing, recurrent, regularization, reshaping, wrappers)
