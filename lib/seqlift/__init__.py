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
    "one_hot_encode": "seqlift.sequence",
    "characters": "seqlift.sequence",
    "random_one_hot": "seqlift.sequence",
    "substitute": "seqlift.sequence",
    "multisubstitute": "seqlift.sequence",
    "plot_logo": "seqlift.plot",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    # Lazy, so that `import seqlift` stays cheap (no matplotlib until a logo is drawn).
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqlift' has no attribute {name!r}")
