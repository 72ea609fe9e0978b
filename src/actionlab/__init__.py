"""actionlab: video action recognition with TSN, TSM, TEFE, ATR, ART and TFE."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import Predictor, load
from .config import Config, load_config
from .models.pretrained import list_pretrained
from .models.registry import create_model, list_models, model_info

__all__ = ["Predictor", "load", "Config", "load_config", "create_model", "list_models", "model_info",
           "list_pretrained", "__version__"]
