"""Every artifact carries the resolved config and the versions that produced it (JSON/YAML, never pickle)."""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("mme5", "torch", "transformers", "tokenizers", "peft", "accelerate", "datasets", "numpy", "pillow")


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A record to store next to an artifact."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "config": config or {},
        **extra,
    }


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (temp file + rename), so a killed job never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
