"""The tiny Qwen3-VL reranker against an independent computation of the published protocol:
chat text written out here, one pair per forward (as the publishers score), the base model's last
hidden state at the last position, (W[yes] - W[no]), sigmoid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mme5.types import Item

SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
DEFAULT = "Given a search query, retrieve relevant candidates that answer the query."
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def _image(h: int, w: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def _frames(n: int, seed: int) -> list[Image.Image]:
    return [_image(64, 64, seed + i) for i in range(n)]


@pytest.fixture(scope="module")
def reranker(tmp_path_factory):
    from mme5.model.reranker import Reranker
    from mme5.model.tiny import build_tiny

    folder = build_tiny("qwen3_vl", tmp_path_factory.mktemp("rerank") / "tiny", reranker=True)
    return Reranker.from_pretrained(folder, device="cpu")


def _side(item: Item) -> str:
    body = ("<|video_pad|>" if item.video else "") + (IMAGE if item.image is not None else "") + (item.text or "")
    return body or "NULL"


def _text(query: Item, doc: Item, instruction: str | None) -> str:
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<Instruct>: {instruction or DEFAULT}"
        f"<Query>:{_side(query)}\n<Document>:{_side(doc)}<|im_end|>\n<|im_start|>assistant\n"
    )


def _reference(reranker, query: Item, doc: Item, instruction: str | None = None, max_length: int = 10240) -> float:
    """One pair per forward: processor (images already 32-multiples, so not resized; frame lists
    as qwen-vl-utils passes them), the publishers' truncation written out, mm_token_type_ids from the ids, last position, head."""
    processor, model = reranker.processor, reranker.model
    from mme5.model.qwen_vision import frame_list_video

    images = [s.image for s in (query, doc) if s.image is not None]
    kwargs: dict = {"images": images, "do_resize": False} if images else {}
    videos = [frame_list_video(list(s.video)) for s in (query, doc) if s.video]  # sized as spec §3
    if videos:  # frame lists: fps 2.0 and indices 0..n-1 (the count padded to even), no resampling
        kwargs["videos"] = [[Image.fromarray(f) for f in v.frames] for v in videos]
        kwargs["video_metadata"] = [
            {"fps": 2.0, "frames_indices": list(range(len(v.frames))), "total_num_frames": len(v.frames)}
            for v in videos
        ]
        kwargs.update(do_sample_frames=False, do_resize=False)
    out = processor(text=[_text(query, doc, instruction)], return_tensors="pt", **kwargs)
    ids = out["input_ids"][0].tolist()
    tok = processor.tokenizer
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    tail = tok("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False).input_ids
    assert ids[-len(tail) :] == tail
    body = ids[: -len(tail)]
    if len(body) > max_length:
        budget, kept = max_length - sum(t in special for t in body), []
        for t in body:
            if t in special or budget > 0:
                budget -= t not in special
                kept.append(t)
        body = kept
    ids = torch.tensor([body + tail])
    cfg = model.config
    types = (ids == cfg.image_token_id).long() + 2 * (ids == cfg.video_token_id).long()
    extra = {k: out[k] for k in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw") if k in out}
    with torch.no_grad():
        h = model.model(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=types, **extra)
        h = h.last_hidden_state[0, -1]
        yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
        w = model.lm_head.weight
        return float(torch.sigmoid(h @ (w[yes] - w[no])))


QUERY_TEXT = Item(text="a red bicycle leaning on a wall")
QUERY_IMAGE = Item(image=_image(64, 96, 1), text="what is this?")
DOCS = [
    Item(text="a bicycle"),
    Item(image=_image(64, 64, 2)),
    Item(text="a photo of a bike", image=_image(96, 64, 3)),
    Item(video=_frames(4, 10)),
    Item(video=_frames(3, 20), text="a clip"),
    Item(text="completely unrelated words about cooking pasta for a long time " * 3),
]


@pytest.mark.parametrize("query", [QUERY_TEXT, QUERY_IMAGE, Item(video=_frames(2, 30))], ids=["text", "image", "video"])
def test_scores_equal_the_published_computation(reranker, query) -> None:
    scores = reranker.score(query, DOCS, batch_size=4)
    expected = [_reference(reranker, query, d) for d in DOCS]
    assert np.allclose(scores, expected, atol=1e-5), (scores, expected)
    assert len(set(np.round(scores, 6))) > 1  # the pairs really differ


def test_pair_text_is_the_published_chat(reranker) -> None:
    query, doc = Item(text="q", instruction="Find it."), Item(image=_image(64, 64, 0), text="d")
    assert reranker.pair_text(query, doc) == _text(query, doc, "Find it.")
    assert reranker.pair_text(query, Item(text="d"), "Other.") == _text(query, Item(text="d"), "Other.")


def test_batch_composition_does_not_change_a_score(reranker) -> None:
    pairs = [(q, d) for q in (QUERY_TEXT, QUERY_IMAGE) for d in DOCS]
    alone = np.array([reranker.score_pairs([p])[0] for p in pairs])
    for batch_size in (3, 16):
        batched = reranker.score_pairs(pairs, batch_size=batch_size)
        assert np.abs(batched - alone).max() < 1e-5
    reversed_ = reranker.score_pairs(pairs[::-1], batch_size=5)[::-1]
    assert np.abs(reversed_ - alone).max() < 1e-5
    reranker.prefetch = True  # batch n+1 prepared on a thread while n runs (the accelerator default)
    try:
        assert np.abs(reranker.score_pairs(pairs, batch_size=3) - alone).max() < 1e-5
    finally:
        reranker.prefetch = None


def test_truncation_keeps_special_tokens_and_the_generation_prompt(reranker) -> None:
    from mme5.model.reranker import Reranker

    small = reranker.prepare([(QUERY_TEXT, Item(text="x"))], [None]).inputs["input_ids"].shape[1]
    limit = small - len(reranker.tail_ids) + 3  # the short pair fits, the long one does not
    short = Reranker(reranker.model, reranker.processor, reranker.backbone, fmt=reranker.format, max_length=limit)
    query, doc = Item(text="long words " * 40, image=_image(64, 64, 5)), Item(text="more text here " * 30)
    batch = short.prepare([(query, doc), (QUERY_TEXT, Item(text="x"))], [None, None])
    assert batch.truncated == 1
    full = reranker.prepare([(query, doc)], [None]).inputs["input_ids"][0].tolist()
    cut = batch.inputs["input_ids"][0][batch.inputs["attention_mask"][0].bool()].tolist()
    tail = short.tail_ids
    assert len(tail) == len(reranker.tokenizer("<|im_end|>\n<|im_start|>assistant\n").input_ids) > 5
    assert cut[-len(tail) :] == tail
    special = short.special_ids
    assert [t for t in cut if t in special] == [t for t in full if t in special]  # every special token, in order
    plain_full = [t for t in full[: -len(tail)] if t not in special]
    plain_cut = [t for t in cut[: -len(tail)] if t not in special]
    assert len(cut) - len(tail) == limit and plain_cut == plain_full[: len(plain_cut)]  # latest plain tokens dropped
    score = torch.sigmoid(short.logits(batch)[0]).item()
    assert abs(score - _reference(reranker, query, doc, max_length=limit)) < 1e-5


def test_format_detection(tmp_path, reranker) -> None:
    from mme5.config import ConfigError
    from mme5.model.backbones import get_backbone
    from mme5.model.rerank_format import detect_format

    qwen3, qwen2 = get_backbone("qwen3_vl"), get_backbone("qwen2_vl")
    assert reranker.format == "qwen3-vl-reranker"
    assert detect_format("Qwen/Qwen3-VL-Reranker-2B", qwen3) == "qwen3-vl-reranker"
    assert detect_format(tmp_path, qwen3) == "mme5"
    with pytest.raises(ConfigError, match="qwen3_vl"):
        detect_format(tmp_path, qwen2, "qwen3-vl-reranker")


@pytest.mark.parametrize("backbone", ["qwen2_vl", "mllama"])
def test_mme5_format_on_other_backbones(tmp_path, backbone) -> None:
    """Any registry backbone: the conversation through its own chat template, scores independent
    of the batch (Mllama's text-only pairs never share a batch with image pairs)."""
    from mme5.model.rerank_format import conversation
    from mme5.model.reranker import Reranker
    from mme5.model.tiny import build_tiny

    reranker = Reranker.from_pretrained(build_tiny(backbone, tmp_path / backbone, reranker=True), device="cpu")
    assert reranker.format == "mme5"
    query, doc = Item(text="a cat"), Item(text="a photo", image=_image(64, 64, 3))
    expected = reranker.processor.apply_chat_template(
        conversation(query, doc, None), add_generation_prompt=True, tokenize=False
    )
    assert reranker.pair_text(query, doc) == expected
    pairs = [(q, d) for q in (QUERY_TEXT, QUERY_IMAGE) for d in DOCS[:3]]
    alone = np.array([reranker.score_pairs([p])[0] for p in pairs])
    assert np.abs(reranker.score_pairs(pairs, batch_size=4) - alone).max() < 1e-5


def test_a_pdf_page_scores_as_its_rendered_image(reranker, tmp_path) -> None:
    import pypdfium2 as pdfium

    pages = [Image.new("RGB", (120, 160), (40 * k, 200 - 40 * k, 90)) for k in range(2)]
    pages[0].save(tmp_path / "doc.pdf", save_all=True, append_images=pages[1:], resolution=72)
    rendered = pdfium.PdfDocument(str(tmp_path / "doc.pdf"))[1].render(scale=2).to_pil().convert("RGB")
    by_page = reranker.score(QUERY_TEXT, [Item(pdf=str(tmp_path / "doc.pdf"), page=2)])
    assert by_page[0] == pytest.approx(_reference(reranker, QUERY_TEXT, Item(image=_qwen_sized(rendered))), abs=1e-5)


def _qwen_sized(image: Image.Image) -> Image.Image:
    """The published pre-resize, for an image that is not already a multiple of 32."""
    from mme5.model.qwen_vision import MAX_PIXELS, MIN_PIXELS, smart_resize

    h, w = smart_resize(image.height, image.width, 32, MIN_PIXELS, MAX_PIXELS)
    return image.resize((w, h), Image.Resampling.BICUBIC)


def test_pairs_are_planned_by_processed_length(reranker) -> None:
    """Counted, not timed: a pair's planned cost is the length it really has (text and image
    pairs: exactly), and a mixed stream runs in few forwards that pad little (scores as alone:
    test_batch_composition_does_not_change_a_score)."""
    rng = np.random.default_rng(0)
    words = "a red bike on the wall near two dogs under trees".split()
    pairs = []
    for i in range(24):
        doc = " ".join(rng.choice(words, int(rng.integers(2, 120))))
        kind = i % 3
        query = QUERY_IMAGE if kind == 2 else QUERY_TEXT
        pairs.append((query, Item(text=doc) if kind != 1 else Item(image=_image(40 + 8 * i, 64, i), text=doc[:30])))
    texts = [reranker.pair_text(q, d) for q, d in pairs]
    costs = reranker.costs(pairs, texts)
    alone = [int(reranker.prepare([p], [None]).inputs["attention_mask"].sum()) for p in pairs]
    assert [c.length for c in costs] == alone
    before = (reranker.padding.padded, reranker.padding.real, reranker.padding.forwards)
    reranker.score_pairs(pairs, batch_size=8)
    padded, real, forwards = (
        now - b for now, b in zip((reranker.padding.padded, reranker.padding.real, reranker.padding.forwards), before)
    )
    assert real == sum(alone) and padded / real <= 1.15 and forwards <= len(pairs) // 3, (padded, real, forwards)
