"""Rows -> records -> tensors: the training schema, sources, image checks, batch plans, collation.

`load_examples(path_or_hub_id, ...)` is the public entry point (see `sources.py`).
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "load_examples":  # lazy: keeps `import mme5.data` free of torch
        from .sources import load_examples

        return load_examples
    raise AttributeError(name)


__all__ = ["load_examples"]
