"""ferpipe: a reproducible, leak-proof facial expression recognition pipeline."""

__version__ = "0.1.0"
