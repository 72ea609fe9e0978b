"""actionlab: video action recognition with TSN, TSM, TEFE, ATR, ART and TFE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names load on first use (PEP 562): `import actionlab` and `actionlab --help` stay free of
# torch, whose import costs seconds of CPU.
_LAZY = {
    "Predictor": "api", "load": "api", "Config": "config", "load_config": "config",
    "list_pretrained": "models.pretrained", "create_model": "models.registry", "list_models": "models.registry",
    "model_info": "models.registry",
}

__all__ = ["Predictor", "load", "Config", "load_config", "create_model", "list_models", "model_info",
           "list_pretrained", "__version__"]

if TYPE_CHECKING:
    from .api import Predictor, load
    from .config import Config, load_config
    from .models.pretrained import list_pretrained
    from .models.registry import create_model, list_models, model_info


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'actionlab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
