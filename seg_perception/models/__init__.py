"""FCN and U-Net segmentation models behind one entry point."""

from .registry import available_models, build_model, model_options

__all__ = ["available_models", "build_model", "model_options"]
