"""seqcli: Keras-style Sequential models from the command line, with numpy only."""

__version__ = "0.1.0"
