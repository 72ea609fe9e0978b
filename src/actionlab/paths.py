"""Where actionlab keeps what it can rebuild: one cache root, read from one environment variable.

    $ACTIONLAB_CACHE_DIR (default ~/.cache/actionlab)
        clips/                       decoded frames (data.cache: disk; data.cache_dir overrides this one)
        decoded_frame_counts.json    frame counts of videos that needed a full decode
        scans/                       per-video scans worth keeping (data/scan_store.py), keyed by file identity
        text_banks/                  ART's prompt embeddings, per text encoder and class list

`$ACTIONLAB_CACHE`, which the text banks read before, still works when `$ACTIONLAB_CACHE_DIR` is not set;
it is deprecated (a warning says so once).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

ENV = "ACTIONLAB_CACHE_DIR"
DEPRECATED_ENV = "ACTIONLAB_CACHE"


def cache_root() -> Path:
    """$ACTIONLAB_CACHE_DIR, else the deprecated $ACTIONLAB_CACHE, else ~/.cache/actionlab."""
    root = os.environ.get(ENV)
    if not root and os.environ.get(DEPRECATED_ENV):
        warnings.warn(f"${DEPRECATED_ENV} is deprecated: set ${ENV} instead (one cache root for every cache)",
                      DeprecationWarning, stacklevel=2)
        root = os.environ[DEPRECATED_ENV]
    return Path(root) if root else Path.home() / ".cache" / "actionlab"
