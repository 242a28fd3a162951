"""The library version, in a module of its own so that core modules need not import the package facade.

Example:
    >>> from maml_strategy.version import __version__
    >>> __version__.count(".")
    2
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
