"""Typed configs: frozen dataclasses loaded from YAML, with `key=value` / `a.b=value` overrides.

Each stage defines its own dataclass (e.g. `TrainConfig`); this module only loads and records them.
On the command line the overrides are `--set KEY=VALUE` (mme5.cli.options); this is their one parser.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """YAML file (optional) + `key=value` overrides (applied in order) -> a validated instance of `cls`."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    for item in overrides or []:
        apply_override(data, item)
    return from_dict(cls, data)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set `a.b=value` in a nested dict in place; the value is parsed as YAML (`2e-4`, `[en, de]`, `null`)."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"override {item!r} must look like key=value (nested: a.b=value)")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc}); quote it") from None
    target = data
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    target[parts[-1]] = value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build a (nested) dataclass, rejecting unknown keys with the list of valid ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cast(Any, cls))}
    unknown = set(data) - set(fields)
    if unknown:
        close = sorted({m for k in map(str, unknown) for m in difflib.get_close_matches(k, list(fields), n=2)})
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"{where or cls.__name__}: unknown key(s) {sorted(map(str, unknown))}{hint}; valid: {sorted(fields)}"
        )
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        default = _default(fields[name])
        if dataclasses.is_dataclass(default) and not isinstance(default, type) and isinstance(value, dict):
            # a partial section overrides the field's own default, not the section class's defaults
            value = _merge(dataclasses.asdict(default), value)
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where + ".")
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        for arg in args:
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is typing.Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin in (tuple, list):
        values = value if isinstance(value, (list, tuple)) else [value]
        params = get_args(tp)
        inner = params[0] if params else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(values)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return dict(value)
    if tp is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "2e-3" as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp in (int, str, bool, float) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Dataclass -> plain dict (tuples as lists), ready for YAML/JSON."""

    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(config))


def diff_configs(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += diff_configs(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k}")
    return keys
