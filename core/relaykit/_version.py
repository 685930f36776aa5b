"""The version of relaykit, kept here only: the build reads it (``[tool.hatch.version]``) and
``relaykit.__version__`` re-exports it."""

__version__ = "0.1.0"
