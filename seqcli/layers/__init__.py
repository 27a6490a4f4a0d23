"""Layer families; importing this package registers every layer."""

from seqcli.layers import conv, core, pooling  # noqa: F401
