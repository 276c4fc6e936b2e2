from dataclasses import dataclass, field
from typing import Literal

import pytest

from mme5.config import ConfigError, diff_configs, load_config, to_dict


@dataclass(frozen=True)
class Section:
    lr: float = 1e-5
    names: tuple[str, ...] = ()
    width: int = 8


@dataclass(frozen=True)
class Root:
    section: Section = field(default_factory=Section)
    tuned: Section = field(default_factory=lambda: Section(lr=2e-3, width=128))
    mode: Literal["a", "b"] = "a"
    path: str | None = None


def test_yaml_and_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("mode: b\nsection:\n  names: [x, y]\n")
    cfg = load_config(Root, tmp_path / "c.yaml", ["section.lr=2e-3", "path=out"])
    assert cfg == Root(section=Section(lr=0.002, names=("x", "y")), mode="b", path="out")


def test_partial_section_keeps_the_fields_own_defaults():
    cfg = load_config(Root, None, ["tuned.width=64"])
    assert cfg.tuned == Section(lr=2e-3, width=64)


@pytest.mark.parametrize("override, message", [
    ("bogus=1", "unknown key"), ("mode=c", "not one of"), ("section.width=wide", "expected int"), ("noequals", "key=value"),
    ("=1", "key=value"), ("section..lr=1", "key=value"), ("section.names=[a, b", "not valid YAML"),
("sectoin.lr=1", "(did you mean section?)"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Root, None, [override])


def test_diff_names_changed_keys():
    a, b = to_dict(Root()), to_dict(Root(mode="b", section=Section(width=9)))
    assert diff_configs(a, b) == ["mode", "section.width"]


def test_override_below_a_value_is_refused():
    with pytest.raises(ConfigError, match="'mode' is not a section"):
        load_config(Root, None, ["mode=b", "mode.x=1"])


def test_overrides_apply_in_order_and_values_are_yaml():
    cfg = load_config(Root, None, ["section.width=3", "section.width=5", "path=null", "section.names=[a, '1']"])
    assert cfg.section.width == 5 and cfg.path is None and cfg.section.names == ("a", "1")
    assert load_config(Root, None, ['path="2024"']).path == "2024"  # quoted: stays a string


def test_bad_yaml_file_is_a_config_error(tmp_path):
    (tmp_path / "c.yaml").write_text("mode: [b\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Root, tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Root, tmp_path / "missing.yaml")
