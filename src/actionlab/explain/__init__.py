"""Where a model looked: one module per kind of explanation, each with
`render(model, clip, frames, out_dir, class_names, **opts) -> list[Path]`.

    gradcam     Grad-CAM on the last feature maps (TEFE, and the default for any CNN)
    actionness  ATR's frame-wise actionness maps
    tracklets   ART's region tracklets and its semantic bank
    attention   TFE's temporal attention over segments

`actionlab explain VIDEO --checkpoint PATH [--kind KIND]` picks the model's own kind
(`model.explain_kind`) unless told otherwise; see `common.py`.
"""

from __future__ import annotations

from .common import DEFAULT_KIND, ExplainInput, available_kinds, load_input, render, resolve_kind

__all__ = ["DEFAULT_KIND", "ExplainInput", "available_kinds", "load_input", "render", "resolve_kind"]
