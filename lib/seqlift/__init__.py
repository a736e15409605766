"""seqlift: DeepLIFT/SHAP attribution for PyTorch genomics models."""
__version__ = "0.1.0"
