"""What index.json says about the model that embedded the corpus (path or hub id, adapter, dtype,
max length, fingerprint, backbone, profile, dim) and its prompts: written by `build_index`, read
back by `VectorIndex.model_spec` so `mme5 index search IDX` and `mme5 serve --index IDX` load the
same model when no `--model` is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..prompts import default_prompts, model_prompts
from ..types import Encoder, InputError
from .engines import EmbedderSpec

TINY_NAME = "mme5-tiny"
"""The name index.json gives the embedded tiny default (recorded with `"path": null`)."""


def _located(name: str | Path | None) -> str | None:
    """A local folder as an absolute path (the index may be searched from another directory); a hub id as is."""
    if name is None:
        return None
    path = Path(name)
    return str(path.resolve()) if path.is_dir() else str(name)


def model_record(embedder: Encoder | EmbedderSpec, loaded: Any, fingerprint: str, dim: int, name: str = "") -> dict:
    """The `model` section of index.json. `loaded`: the model the engine loaded in this process
    (local engine), or None (Ray: each actor loads its own); `name`: what the caller called a
    loaded encoder (its folder or hub id), which makes it loadable from the index."""
    from ..model.loading import ensure_tiny, resolve_backbone

    record: dict[str, Any] = {"fingerprint": fingerprint, "dim": int(dim)}
    if isinstance(embedder, EmbedderSpec):
        record.update(
            name=name or (Path(embedder.model).name if embedder.model else TINY_NAME),
            path=_located(embedder.model),
            adapter=_located(embedder.adapter),
            dtype=embedder.dtype,
            max_length=embedder.max_length,
        )
    elif name:
        record.update(name=name, path=_located(name), adapter=None)
    if loaded is not None:
        torch_dtype = getattr(getattr(loaded, "model", None), "dtype", None)
        if torch_dtype is not None:  # the resolved dtype: `auto` differs between the build's device and a searcher's
            record["dtype"] = str(torch_dtype).removeprefix("torch.")
        record["max_length"] = int(getattr(loaded, "max_length", record.get("max_length", 256)))
    source = loaded if loaded is not None else embedder
    backbone = getattr(getattr(source, "backbone", None), "name", None)
    if backbone is None and isinstance(embedder, EmbedderSpec):
        backbone = resolve_backbone(embedder.model or ensure_tiny()).name
    record["backbone"] = backbone
    if loaded is None and isinstance(embedder, EmbedderSpec):  # Ray: the profile the replicas resolve
        record["profile"] = embedder.resolved_profile()[0]
    else:
        record["profile"] = getattr(source, "profile", None) or "mme5"
    return record


def prompts_of(embedder: Encoder | EmbedderSpec, loaded: Any, name: str = "") -> dict[str, str]:
    """The default prompts of the model that embeds the corpus (its folder's, else its profile's)."""
    from ..model.loading import ensure_tiny

    profile = getattr(loaded if loaded is not None else embedder, "profile", None)
    if isinstance(embedder, EmbedderSpec):
        return model_prompts(embedder.model or ensure_tiny(), profile, embedder.adapter)
    return model_prompts(name, profile) if name else default_prompts(profile)


def how_to_load(record: dict[str, Any]) -> str:
    """The fix for a fingerprint mismatch: which --model (and --adapter) the index was built with."""
    if "path" not in record:
        return "pass the --model (and --adapter) the index was built with"
    if record["path"] is None:
        return "leave out --model: the index was built with the embedded tiny model, which is loaded then"
    adapter = f" --adapter {record['adapter']}" if record.get("adapter") else ""
    return f"pass --model {record['path']}{adapter} (or leave out --model to load the model the index records)"


def spec_from_record(record: dict[str, Any], where: str, device: str | None = None) -> EmbedderSpec:
    """The EmbedderSpec that loads the model an index records; a clear error when it names none."""
    if "path" not in record and record.get("name"):  # written before `path` was: `name` was --model as given
        record = {**record, "path": None if record["name"] == TINY_NAME else record["name"]}
    if "path" not in record:
        raise InputError(
            f"{where} does not record which model built it (built from a loaded model with no name); "
            "pass --model (and --adapter) as for the build"
        )
    return EmbedderSpec(
        model=record["path"],
        adapter=record.get("adapter"),
        dtype=record.get("dtype", "auto"),
        device=device,
        max_length=int(record.get("max_length", 256)),
    )
