"""Model architectures this project ships, as open_clip JSON configs.

``register_builtin_configs()`` adds this folder to open_clip's config search
path, after which a config here (e.g. ``agile-demo``) is created exactly like
open_clip's own models: ``open_clip.create_model_and_transforms(name, ...)``.
"""
from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
_registered = False


def register_builtin_configs() -> None:
    """Make the configs in this folder known to open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    import open_clip  # deferred: importing torch is slow and most callers never need it

    from agile.model_configs import shapes_cnn

    shapes_cnn.register()
    open_clip.add_model_config(CONFIG_DIR)
    _registered = True
