"""Layer families; importing this package registers every layer.

The imports run in the order `seqcli catalog` lists the families.
"""

from seqcli.layers import core  # noqa: F401,I001
from seqcli.layers import conv, pooling, normalization, regularization  # noqa: F401
from seqcli.layers import reshaping, padding, activation, recurrent, wrappers  # noqa: F401
from seqcli.layers import preprocessing  # noqa: F401
