"""seqlift: genome-wide DeepLIFT/SHAP attribution for PyTorch genomics models.

The main entry point is :func:`seqlift.deep_lift_shap`, a drop-in replacement for tangermeme's
``deep_lift_shap``: ``from seqlift import deep_lift_shap``.
"""

from importlib import import_module

from ._version import __version__

_EXPORTS = {
    "deep_lift_shap": "seqlift.engine",
    "explain": "seqlift.engine",
    "Explanation": "seqlift.engine",
    "dinucleotide_shuffle": "seqlift.references",
    "dinucleotide_shuffle_codes": "seqlift.references",
    "example_seeds": "seqlift.references",
    "one_hot_encode": "seqlift.sequence",
    "characters": "seqlift.sequence",
    "check_one_hot": "seqlift.sequence",
    "random_one_hot": "seqlift.sequence",
    "sequence_to_codes": "seqlift.sequence",
    "substitute": "seqlift.sequence",
    "multisubstitute": "seqlift.sequence",
    "plot_logo": "seqlift.plot",
}

# Submodules reachable as attributes without an import of their own (``seqlift.heads.Counts``).
_SUBMODULES = ("heads",)

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str):
    # Lazy, so that `import seqlift` stays cheap (no torch or matplotlib until they are used).
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return import_module(f"seqlift.{name}")
    raise AttributeError(f"module 'seqlift' has no attribute {name!r}")
