"""Golden formatting: the exact strings the original mmE5 code feeds each backbone."""
import pytest

from mme5.model.backbones import BACKBONES, get_backbone
from mme5.model.formatting import format_text
from mme5.types import Item

IMG = "x.png"


def test_mllama_demo_strings():
    mllama = get_backbone("mllama")
    q = Item(image=IMG, text="What is in the image", instruction="Represent the given image with the following question:")
    assert format_text(q, mllama) == (
        "<|image|><|begin_of_text|>Represent the given image with the following question: What is in the image\n"
    )
    t2i = Item(text="A cat and a dog.", instruction="Find me an everyday image that matches the given caption:")
    assert format_text(t2i, mllama) == "Find me an everyday image that matches the given caption: A cat and a dog.\n"
    target = Item(image=IMG, instruction="Represent the given image.")
    assert format_text(target, mllama) == "<|image|><|begin_of_text|>Represent the given image.\n"
    assert format_text(Item(text="A cat"), mllama) == "A cat"  # bare text targets carry no instruction


HUB_WITH_IMAGE = "<|image_1|>\nRepresent the given image with the following question: what is the date?\n"
EXPECTED_IMAGE_REWRITE = {
    "mllama": "<|image|><|begin_of_text|>Represent the given image with the following question: what is the date?\n",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>\nRepresent the given image with the following question: what is the date?\n",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>\nRepresent the given image with the following question: what is the date?\n",
    "qwen3_vl": "<|vision_start|><|image_pad|><|vision_end|>\nRepresent the given image with the following question: what is the date?\n",
    "idefics3": "<image>\nRepresent the given image with the following question: what is the date?\n",
    "llava_next": "<image>\nRepresent the given image with the following question: what is the date?\n",
}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_hub_placeholder_rewrite(name):
    assert set(EXPECTED_IMAGE_REWRITE) == set(BACKBONES)
    backbone = get_backbone(name)
    assert format_text(Item(text=HUB_WITH_IMAGE, image=IMG), backbone) == EXPECTED_IMAGE_REWRITE[name]
    # a stray placeholder on a text-only side (seen in mmE5-synthetic) becomes the text-only prefix
    stray = format_text(Item(text="<|image_1|>\nFind a caption.\n"), backbone)
    assert stray == ("<|begin_of_text|>" if name == "mllama" else "") + "Find a caption.\n"
    # text without the placeholder passes through unchanged
    assert format_text(Item(text="plain text\n"), backbone) == "plain text\n"


def test_image_only_item_gets_image_tokens_only():
    assert format_text(Item(image=IMG), get_backbone("qwen2_vl")) == "<|vision_start|><|image_pad|><|vision_end|>\n"
    assert format_text(Item(image=IMG), get_backbone("mllama")) == "<|image|><|begin_of_text|>"
