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


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_tiny_folders_carry_a_working_chat_template(name, tiny_dirs, rgb_images):
    """init-tiny writes a chat template in the family's markup: a chat with an image renders, and
    the processor accepts the rendered text with that image (placeholder count matches)."""
    spec = BACKBONES[name]
    processor = spec.processor_class().from_pretrained(tiny_dirs(name))
    messages = [{"role": "system", "content": [{"type": "text", "text": "Answer in JSON."}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is it?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    turn, assistant, image = spec.tiny.chat
    assert text.endswith(assistant) and image in text and "What colour is it?" in text
    images = [[rgb_images[0]]] if spec.nested_images else [rgb_images[0]]
    inputs = processor(text=[text], images=images, return_tensors="pt")  # raises if placeholders and images disagree
    assert inputs["input_ids"].shape[0] == 1 and "pixel_values" in inputs
