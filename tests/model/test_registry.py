import json

import pytest

from mme5.model.backbones import BACKBONES, UnknownBackboneError, detect_backbone, get_backbone


def test_registry_has_required_families():
    assert {"mllama", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "idefics3", "llava_next"} <= set(BACKBONES)
    for backbone in BACKBONES.values():
        assert backbone.lora_targets and backbone.padding_side in ("left", "right")
        assert backbone.model_class().__name__.endswith("ForConditionalGeneration")


def test_unknown_backbone_lists_supported():
    with pytest.raises(UnknownBackboneError) as err:
        get_backbone("qwen2vl")
    assert "qwen2_vl" in str(err.value) and "mllama" in str(err.value)


def test_detect_by_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "smolvlm"}))
    assert detect_backbone(tmp_path).name == "idefics3"
    with pytest.raises(FileNotFoundError):
        detect_backbone(tmp_path / "missing")
