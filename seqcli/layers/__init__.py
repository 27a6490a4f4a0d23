"""Layer families; importing this package registers every layer."""

from seqcli.layers import activation, conv, core, padding, pooling, reshaping  # noqa: F401
