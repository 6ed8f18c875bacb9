"""marimo-pair-kernel: a Jupyter kernel whose code runs in a live marimo notebook."""

__version__ = "0.1.0"
