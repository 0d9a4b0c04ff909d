"""SIPAS research workbench (placeholder during integration)."""
__version__ = "0.1.0"
