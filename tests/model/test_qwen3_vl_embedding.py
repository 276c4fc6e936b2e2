"""The `qwen3-vl-embedding` profile against an independent implementation of the spec (qwen3_vl_family.md
§2-3) written here: the conversation text, the 4.57 video expansion, resized and normalised pixels,
grids, input ids with right padding, and the pooled vector. Nothing here calls mme5's formatting."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mme5.types import Item

from .test_qwen_vision import _rederived
from .test_video_qwen3 import _official_patchify

PROFILE = "qwen3-vl-embedding"


@pytest.fixture(scope="module")
def emb(tiny_dirs):
    from mme5 import Embedder

    return Embedder.from_pretrained(tiny_dirs("qwen3_vl"), device="cpu", profile=PROFILE)


def _image(h: int, w: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, len(mode)), dtype=np.uint8), mode)


def _system(instruction: str | None) -> str:
    text = (instruction or "").strip() or "Represent the user's input."
    return text if text[-1] in ".?!:;,\"')]}…。？！" else text + "."


def _resized_image(img: Image.Image) -> np.ndarray:
    if img.mode == "RGBA":
        rgb = Image.new("RGB", img.size, (255, 255, 255))
        rgb.paste(img, mask=img.getchannel("A"))
    else:
        rgb = img.convert("RGB")
    h, w = _rederived(rgb.height, rgb.width, 32, 4 * 32 * 32, 1800 * 32 * 32)
    return np.asarray(rgb.resize((w, h), Image.Resampling.BICUBIC))


def _resized_video(frames: list[Image.Image]) -> np.ndarray:
    """Stage 1: each frame at factor 64 (bounds 4..16384 * 64^2); pad to even; stage 2: the clip at
    factor 32 within 128*32*32 .. max(min(768*32*32, 7,864,320 / n * 2), 137,625), bicubic + antialias."""
    h1, w1 = _rederived(frames[0].height, frames[0].width, 64, 4 * 64 * 64, 16384 * 64 * 64)
    arr = [np.asarray(f.convert("RGB").resize((w1, h1), Image.Resampling.BICUBIC)) for f in frames]
    arr += arr[-1:] * (len(arr) % 2)
    n = len(arr)
    budget = int(max(min(768 * 32 * 32, 7_864_320 / n * 2), int(128 * 32 * 32 * 1.05)))
    h2, w2 = _rederived(h1, w1, 32, 128 * 32 * 32, budget)
    x = torch.from_numpy(np.stack(arr)).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=[h2, w2], mode="bicubic", antialias=True, align_corners=False)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def _patches(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> Qwen3-VL patches, normalised with mean = std = 0.5."""
    x = (frames.astype(np.float32) / 255 - 0.5) / 0.5
    return _official_patchify(x.transpose(0, 3, 1, 2), p=16, m=2, t=2)


def _expected(item: dict) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
    """(text, image patches, video patches) for one item, written from the spec."""
    images, videos, user = [], [], ""
    if "video" in item:
        clip = _resized_video(item["video"])
        videos.append(_patches(clip))
        n, h, w = clip.shape[:3]
        pads = "<|video_pad|>" * (h // 16 * w // 16 // 4)
        for pair in range(n // 2):  # fps 2.0, indices 0..n-1: the pair's mean time
            t = (2 * pair + 2 * pair + 1) / 2 / 2.0
            user += f"<{t:.1f} seconds><|vision_start|>{pads}<|vision_end|>"  # 4.57: the whole span replaced
    if "image" in item:
        img = _resized_image(item["image"])
        images.append(_patches(np.stack([img, img])))
        user += "<|vision_start|>" + "<|image_pad|>" * (img.shape[0] // 32 * img.shape[1] // 32) + "<|vision_end|>"
    if item.get("text"):
        user += item["text"]
    if not user:
        user = "NULL"
    text = (
        f"<|im_start|>system\n{_system(item.get('instruction'))}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
    return text, images, videos


CASES = [
    {"text": "  two  spaces\tand a tab ", "instruction": "Find the caption"},
    {"image": _image(60, 90, 1), "instruction": "Retrieve the matching photo?"},
    {"image": _image(20, 30, 2, "RGBA")},  # below 4,096 px, and RGBA on white
    {"video": [_image(40, 50, s) for s in range(5)], "text": "what happens", "instruction": "Find the clip."},
    {"video": [_image(36, 64, s) for s in range(4)], "image": _image(50, 50, 9), "text": "both"},
    {"instruction": "Represent this item"},  # nothing but an instruction: NULL
]


def test_inputs_and_vectors_equal_the_spec(emb) -> None:
    items = [Item(**c) for c in CASES]
    ((rows, inputs),) = emb.prepare(items).parts
    assert rows == list(range(len(items)))
    tok = emb.tokenizer
    want_text, want_images, want_videos = zip(*(_expected(c) for c in CASES))
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in want_text]
    width = max(map(len, ids))
    pad = tok.pad_token_id
    assert inputs["input_ids"].tolist() == [row + [pad] * (width - len(row)) for row in ids]  # right padding
    assert inputs["attention_mask"].tolist() == [[1] * len(r) + [0] * (width - len(r)) for r in ids]
    image_patches = np.concatenate([p for ps in want_images for p in ps])
    video_patches = np.concatenate([p for ps in want_videos for p in ps])
    np.testing.assert_allclose(inputs["pixel_values"].numpy(), image_patches, atol=1e-6)
    np.testing.assert_allclose(inputs["pixel_values_videos"].numpy(), video_patches, atol=1e-6)
    image_sizes = [_resized_image(c["image"]).shape[:2] for c in CASES if "image" in c]
    assert inputs["image_grid_thw"].tolist() == [[1, h // 16, w // 16] for h, w in image_sizes]
    clips = [_resized_video(c["video"]).shape[:3] for c in CASES if "video" in c]
    assert inputs["video_grid_thw"].tolist() == [[n // 2, h // 16, w // 16] for n, h, w in clips]

    # the vector: the base Qwen3VLModel's post-norm state at the last real token, L2-normalised
    types = torch.zeros_like(inputs["input_ids"])
    types[inputs["input_ids"] == tok.convert_tokens_to_ids("<|image_pad|>")] = 1
    types[inputs["input_ids"] == tok.convert_tokens_to_ids("<|video_pad|>")] = 2
    with torch.no_grad():
        out = emb.model.model(
            input_ids=torch.tensor([row + [pad] * (width - len(row)) for row in ids]),
            attention_mask=inputs["attention_mask"],
            mm_token_type_ids=types,
            pixel_values=torch.from_numpy(image_patches),
            image_grid_thw=inputs["image_grid_thw"],
            pixel_values_videos=torch.from_numpy(video_patches),
            video_grid_thw=inputs["video_grid_thw"],
        ).last_hidden_state
    last = torch.tensor([len(r) - 1 for r in ids])
    want = torch.nn.functional.normalize(out[torch.arange(len(ids)), last], dim=-1).numpy()
    got = emb.encode(items, batch_size=len(items))
    np.testing.assert_allclose(got, want, atol=2e-5)
    alone = emb.encode(items[3:4])  # right padding and batch neighbours leave a vector alone
    np.testing.assert_allclose(alone[0], got[3], atol=2e-5)


def test_video_span_is_replaced_whole_as_transformers_4_57_did(emb) -> None:
    """transformers 5.x expands only `<|video_pad|>`, leaving the template's outer markers around the
    per-pair groups; 4.57 (the publishers' pin) replaced the marked span. The profile follows 4.57."""
    from mme5.model import qwen3_vl_embedding as q

    item = Item(video=[_image(40, 50, s) for s in range(4)], text="x")
    chat = q.chat_text(emb.processor, item)
    assert "<|vision_start|><|video_pad|><|vision_end|>x" in chat  # the template renders the video part
    ours = emb.tokenizer.decode(emb.prepare([item]).parts[0][1]["input_ids"][0])
    assert "user\n<0.2 seconds><|vision_start|><|video_pad|>" in ours and "<|vision_end|><|vision_end|>" not in ours
    clip = q.item_video(item, "item")
    assert clip is not None
    stock = emb.processor(
        text=[chat],
        videos=[[Image.fromarray(f) for f in clip.frames]],
        video_metadata=[{"fps": clip.fps, "frames_indices": list(clip.indices)}],
        do_resize=False,
    )
    theirs = emb.tokenizer.decode(stock["input_ids"][0])
    assert "user\n<|vision_start|><0.2 seconds><|vision_start|>" in theirs  # 5.x: doubled markers
    assert (
        theirs.replace("user\n<|vision_start|><0.2", "user\n<0.2").replace(
            "<|vision_end|><|vision_end|>", "<|vision_end|>"
        )
        == ours
    )


def test_system_instruction_punctuation_rule() -> None:
    from mme5.model.qwen3_vl_embedding import system_instruction

    assert system_instruction(None) == system_instruction("  ") == "Represent the user's input."
    assert system_instruction(" Find the image ") == "Find the image."
    assert system_instruction("What is it?") == "What is it?"
    assert system_instruction("答案是什么？") == "答案是什么？"  # full-width question mark: category Po
    assert system_instruction("Look at (this)") == "Look at (this)"  # Pe
    assert system_instruction("Price in $") == "Price in $."  # Sc is not punctuation


def test_profile_is_chosen_from_the_checkpoints_files(tiny_dirs, tmp_path) -> None:
    from mme5 import Embedder
    from mme5.model.profiles import detect_profile

    base = tiny_dirs("qwen3_vl")
    assert detect_profile(base, "qwen3_vl") == "mme5"
    assert detect_profile("Qwen/Qwen3-VL-Embedding-2B", "qwen3_vl") == PROFILE  # a hub id, by name
    assert detect_profile("Qwen/Qwen3-VL-Embedding-2B", "qwen2_vl") == "mme5"  # only on its backbone
    named = shutil.copytree(base, tmp_path / "my-qwen3-vl-embedding-finetune")
    assert detect_profile(named, "qwen3_vl") == PROFILE
    for name, change in (
        ("arch", lambda d: _edit_json(d / "config.json", architectures=["Qwen3VLForEmbedding"])),
        ("origin", lambda d: _edit_json(d / "config.json", _name_or_path="/ckpt/Qwen3-VL-Embedding-8B")),
        (
            "st",
            lambda d: (d / "config_sentence_transformers.json").write_text(
                json.dumps({"prompts": {"query": "Represent the user's input."}})
            ),
        ),
        (
            "template",
            lambda d: (d / "chat_template.jinja").write_text(
                (d / "chat_template.jinja")
                .read_text()
                .replace("{%- for m", '{%- set d = "Represent the user\'s input." %}{%- for m', 1)
            ),
        ),
    ):
        folder = shutil.copytree(base, tmp_path / name)
        assert detect_profile(folder, "qwen3_vl") == "mme5"
        change(folder)
        assert detect_profile(folder, "qwen3_vl") == PROFILE, name
    loaded = Embedder.from_pretrained(named, device="cpu")
    assert (loaded.profile, loaded.max_length) == (PROFILE, 8192) and loaded.fingerprint.endswith(PROFILE)
    forced = Embedder.from_pretrained(named, device="cpu", profile="mme5", max_length=64)
    assert (forced.profile, forced.max_length) == ("mme5", 64)
    from mme5.config import ConfigError

    with pytest.raises(ConfigError, match="defined for qwen3_vl"):
        Embedder.from_pretrained(tiny_dirs("qwen2_vl"), device="cpu", profile=PROFILE)


def _edit_json(path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_cli_selects_and_forces_the_profile(tiny_dirs, tmp_path) -> None:
    """`mme5 embed` of a Qwen3-VL-Embedding checkpoint applies the profile by itself and names it;
    `--profile mme5` forces mme5's convention (different vectors)."""
    import subprocess
    import sys

    from mme5 import Embedder

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    runs = {}
    for flag in ([], ["--profile", "mme5"]):
        out = tmp_path / f"v{len(flag)}.npy"
        cmd = [
            sys.executable,
            "-m",
            "mme5.cli.main",
            "embed",
            "--model",
            str(named),
            "--text",
            "a cat",
            "--output",
            str(out),
        ]
        done = subprocess.run([*cmd, *flag], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs[flag[-1] if flag else "auto"] = (np.load(out), done.stdout)
    assert "input profile qwen3-vl-embedding" in runs["auto"][1] and "input profile mme5" in runs["mme5"][1]
    want = Embedder.from_pretrained(named, device="cpu").encode([Item(text="a cat")])
    np.testing.assert_allclose(runs["auto"][0], want, atol=1e-6)
    assert np.abs(runs["auto"][0] - runs["mme5"][0]).max() > 1e-3


def test_saved_and_exported_models_keep_the_profile(tiny_dirs, tmp_path) -> None:
    """A folder mme5 writes (training checkpoint, merge, export) records the profile, so it reloads
    with it whatever the folder is called; the vectors survive the export."""
    from mme5 import Embedder
    from mme5.integrations.hf import export_hf
    from mme5.model.profiles import PROFILE_MARKER

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    out, source = export_hf(named, tmp_path / "exported")
    assert json.loads((out / PROFILE_MARKER).read_text()) == {"profile": PROFILE}
    reloaded = Embedder.from_pretrained(out, device="cpu")
    assert (reloaded.profile, reloaded.max_length) == (PROFILE, 8192)
    items = [Item(text="a cat", instruction="Find it"), Item(image=_image(70, 40, 3))]
    np.testing.assert_allclose(reloaded.encode(items), source.encode(items), atol=1e-5)
    plain, _ = export_hf(named, tmp_path / "plain", profile="mme5")  # forced: recorded as absent
    assert not (plain / PROFILE_MARKER).exists() and Embedder.from_pretrained(plain, device="cpu").profile == "mme5"


def test_vllm_export_writes_the_publishers_pooling_command(tiny_dirs, tmp_path) -> None:
    from mme5.integrations.export import export

    named = shutil.copytree(tiny_dirs("qwen3_vl"), tmp_path / "Qwen3-VL-Embedding-tiny")
    result = export(named, tmp_path / "vllm", "vllm")
    script = (result.out_dir / "vllm_serve.sh").read_text()
    assert "vllm serve . --runner pooling --max-model-len 8192" in script and "--chat-template" not in script
    request = json.loads((result.out_dir / "vllm_request_example.json").read_text())
    assert request["messages"][0]["role"] == "system" and request["messages"][1]["role"] == "user"
    assert result.profile.formatting_profile == PROFILE
    assert not (result.out_dir / "mme5_embedding.jinja").exists()  # the checkpoint's own template serves


def test_media_cut_by_max_length_is_a_clear_error(tiny_dirs) -> None:
    from mme5 import Embedder
    from mme5.types import InputError

    emb = Embedder.from_pretrained(tiny_dirs("qwen3_vl"), device="cpu", profile=PROFILE, max_length=40)
    with pytest.raises(InputError, match=r"item 0: the image or video tokens do not fit in max_length=40"):
        emb.encode([Item(image=_image(200, 300, 1), text="x")])
    assert emb.encode([Item(text="word " * 100)]).shape == (1, emb.dim)  # text alone is cut, as the protocol does
