"""The one home of the mmE5 instructions and per-task prompts.

Training data builders, evaluation (XTD; MMEB rows carry their own), synthesis, the demo and the
quickstart import these, so a prompt cannot drift between training and evaluation
(tests/test_prompts.py fails if one of these literals appears in another source file).

The mmE5 convention joins an instruction and a text as `"{instruction} {text}\\n"` (or
`"{instruction}\\n"` alone); a hub-format text whose side has an image starts with the Phi-3.5-V
placeholder `<|image_1|>\\n`, which each backbone's formatter rewrites.
"""

from __future__ import annotations

import json
from pathlib import Path

from .types import HUB_IMAGE_PLACEHOLDER

# ---- the mmE5 instructions (wording of the mmE5 / MMEB training data) -------------------------
FIND_IMAGE_FOR_CAPTION = "Find me an everyday image that matches the given caption:"
"""Text -> image retrieval (MSCOCO t2i, XTD): the query side."""
REPRESENT_IMAGE = "Represent the given image."
"""The image side of retrieval (a target or gallery image with no text)."""
REPRESENT_IMAGE_WITH_QUESTION = "Represent the given image with the following question:"
"""An image + question query (VQA, the original demo)."""
REPRESENT_IMAGE_WITH_TEXT = "Represent the given image with the following text:"
"""An image + text target (synthesis: IT2IT, T2IT)."""
REPRESENT_IMAGE_FOR_CLASSIFICATION = "Represent the given image for classification"
"""An image query whose targets are class labels (no final period, as in the mmE5 data)."""

# Every instruction above, for checks that they live only here.
INSTRUCTIONS = (
    FIND_IMAGE_FOR_CAPTION,
    REPRESENT_IMAGE,
    REPRESENT_IMAGE_WITH_QUESTION,
    REPRESENT_IMAGE_WITH_TEXT,
    REPRESENT_IMAGE_FOR_CLASSIFICATION,
)


def join_instruction(instruction: str | None, text: str | None) -> str:
    """The mmE5 convention: `"{instruction} {text}\\n"`, or `"{instruction}\\n"` without text."""
    if not instruction:
        return text or ""
    return f"{instruction} {text}\n" if text else f"{instruction}\n"


def hub_text(instruction: str, text: str | None = None, *, image: bool = False) -> str:
    """A text in the hub format (MMEB, mmE5-synthetic, our training rows): the joined instruction
    and text, after the image placeholder when the side has an image."""
    return (HUB_IMAGE_PLACEHOLDER if image else "") + join_instruction(instruction, text)


# ---- per-task prompts ---------------------------------------------------------------------------
XTD_QUERY_INSTRUCTION = FIND_IMAGE_FOR_CAPTION
"""XTD layouts carry no instruction (the hub rows embed their own): mmE5's MSCOCO t2i wording."""
XTD_IMAGE_TARGET = hub_text(REPRESENT_IMAGE, image=True)
"""The hub-format text of an XTD gallery image: `<|image_1|>\\nRepresent the given image.\\n`."""


# ---- MMEB-V2 (VLM2Vec-V2 evaluation; spec mmeb_v2.md §3-4) --------------------------------------
V2_VIDEO_CLS = {
    "K700": "Recognize the category of the video content.",
    "SmthSmthV2": "What actions or object interactions are being performed by the person in the video?",
    "UCF101": "What activities or sports are being performed by the person in the video?",
    "HMDB51": "What actions or objects interactions are the person in the video doing?",
    "Breakfast": "Recognize the breakfast type that the person is cooking in the video. ",  # sic: trailing space
}
"""Video classification: the query instruction (the video is the query; labels are plain text)."""
V2_VIDEO_RET = {
    "MSR-VTT": "Find a video that contains the following visual content:",
    "MSVD": "Find the video snippet that corresponds to the given summary:",
    "DiDeMo": "Find a video that includes the following described scenes:",
    "VATEX": "Select a video that fits the description provided:",
    "YouCook2": "Find a video that demonstrates the following action while making a recipe:",
}
"""Text -> video retrieval: the caption query's instruction."""
V2_VIDEO_TARGET = "Understand the content of the provided video."
"""The video side of text -> video retrieval and of QVHighlight / Charades-STA clip candidates."""
V2_VIDEO_CLIP_TARGET = "Understand the content of the provided video clip."
"""MomentSeeker's clip candidates."""
V2_MRET_QUERY = "Find the clip that corresponds to the described scene in the given video:"
"""QVHighlight / Charades-STA: video + description -> clip."""
V2_MOMENTSEEKER_VIDEO = "Find the clip that corresponds to the given sentence and video segment:"
V2_MOMENTSEEKER_IMAGE = "Select the video clip that aligns with the given text and image:"
V2_MOMENTSEEKER_TEXT = "Find the clip that corresponds to the given text:"
V2_VIDEO_QA = (
    "Given a video and a question, select the most accurate answer from the provided candidates. "
    "Return only the exact text of your chosen answer. Question: "
)
"""Video QA (all five sets); joined with the question by a space, hence VLM2Vec's double space."""
V2_YES_NO_OPTIONS = "? (A) yes; (B) no."
"""ActivityNetQA: appended to the question; candidates are `yes` and `no`."""
V2_VISDOC_QUERY = "Find a document image that matches the given query:"
"""Visual-document retrieval (all 24 visdoc tasks): the text query's instruction."""
V2_VISDOC_PAGE = "Understand the content of the provided document image."
"""The page-image side of visual-document retrieval."""

# ---- VLM2Vec-V2 training sources (spec mmeb_v2.md §7; pair builders in mme5.data.sources_v2) ---
V2_TRAIN_VIDEO_QUERY = "Find a video that contains the following visual content:"
"""video_caption_300k-video: the caption's instruction (text -> video)."""
V2_TRAIN_VIDEO_TARGET = "Understand the content of the provided video:"
"""video_caption_300k-video: the video side (with a colon, unlike the evaluation's V2_VIDEO_TARGET)."""
V2_TRAIN_VIDEO_QA = "Answer a question based on the content of a video."
"""video_qa_240k: prefixed to the question asked about the video."""
V2_VISRAG_QUERY = {  # VisRAG in-domain: the query instruction per row `source`
    "NeurIPS Papers": "This query is about a research paper from NeurIPS, a leading AI/ML conference. The document "
    "contains technical discussions, methodologies, and findings. Identify relevant papers and "
    "sections that address the query:",
    "Textbooks": "This query is related to a college-level textbook, which provides structured explanations, "
    "definitions, and examples. Find the most relevant concepts or explanations that address the query:",
    "ICML Papers": "This query is about a research paper from ICML, a leading AI/ML conference. The document contains "
    "theoretical insights, experiments, and applications. Identify relevant papers and sections that "
    "best answer the query:",
    "Manuallib": "This query pertains to a product manual, which contains detailed technical specifications, usage "
    "instructions, and troubleshooting steps. Find the most relevant section that answers the query:",
    "ArxivQA": "This query is related to retrieving a relevant figure from an ArXiv research paper. The retrieved figure "
    "should contain scientific plots, mathematical visualizations, or experimental results that best "
    "address the query:",
    "ChartQA": "This query is related to retrieving a relevant chart that visually represents numerical or categorical "
    "data. The retrieved chart should contain bar graphs, line charts, or other visual elements necessary "
    "to analyze trends, compare values, or extract insights related to the query:",
    "MP-DocVQA": "This query is related to retrieving a relevant page from a multi-page document, such as reports, "
    "invoices, or research papers. The retrieved document should contain text, tables, or structured "
    "information necessary to answer the query:",
    "InfoVQA": "This query is related to retrieving an infographic that visually presents statistical or factual "
    "information using charts, icons, and structured layouts. The retrieved image should contain the "
    "necessary visual elements to provide the best context for answering the query:",
    "PlotQA": "This query relates to retrieving a relevant plot or chart that visually represents numerical data. The "
    "retrieved figure should contain the necessary information to analyze trends, compare values, or "
    "extract key insights related to the query:",
    "SlideVQA": "This query is related to retrieving a relevant presentation slide that visually presents structured "
    "information. The retrieved slide should contain the necessary text, charts, or graphics to provide "
    "the best answer to the query:",
}
V2_VISRAG_TARGET = {  # VisRAG in-domain: the page description per row `source`
    "Textbooks": "A textbook page with structured educational content and explanations.",
    "ICML Papers": "A research paper from ICML, covering machine learning topics.",
    "NeurIPS Papers": "A research paper from NeurIPS on AI and ML topics.",
    "Manuallib": "A product manual page with technical specifications and instructions.",
    "InfoVQA": "An infographic with structured data, charts, and annotations.",
    "PlotQA": "A numerical data visualization, such as bar charts or line graphs.",
    "SlideVQA": "A presentation slide with text, bullet points, and diagrams.",
    "ArxivQA": "A figure from a research paper, including plots or experimental results.",
    "MP-DocVQA": "A page from a multi-page document with text or tables.",
    "ChartQA": "A statistical chart comparing values or analyzing trends.",
}


# ---- a model's default prompts, by role (the sentence-transformers `prompts` convention) ----------
PROMPTS_FILE = "mme5_prompts.json"
"""Written beside the weights by `init-tiny`, `mme5 train` and every export: `{"prompts": {name:
instruction}, "default_prompt_name": null}`, the keys of sentence-transformers'
`config_sentence_transformers.json`. A value is an mme5 instruction (joined as `join_instruction` does)."""
QUERY, DOCUMENT = "query", "document"
"""The role names sentence-transformers' `encode_query` / `encode_document` look up."""

MME5_PROMPTS: dict[str, str] = {
    QUERY: FIND_IMAGE_FOR_CAPTION,  # the default query: a text looking for an image (MSCOCO t2i, XTD)
    DOCUMENT: REPRESENT_IMAGE,  # the default document: an image (the default query looks for one)
    # queries, per task type
    "t2i_query": FIND_IMAGE_FOR_CAPTION,
    "vqa_query": REPRESENT_IMAGE_WITH_QUESTION,
    "classification_query": REPRESENT_IMAGE_FOR_CLASSIFICATION,
    "visdoc_query": V2_VISDOC_QUERY,
    "video_query": V2_TRAIN_VIDEO_QUERY,
    # documents / candidates, per kind
    "text_target": "",  # a text candidate: none (mmE5's text targets carry no instruction)
    "image_target": REPRESENT_IMAGE,
    "image_text_target": REPRESENT_IMAGE_WITH_TEXT,
    "visdoc_page": V2_VISDOC_PAGE,
    "video_target": V2_VIDEO_TARGET,
}
"""The prompts of a model trained the mmE5 way (the instructions of its training and evaluation data)."""
PROFILE_PROMPTS: dict[str, dict[str, str]] = {"mme5": MME5_PROMPTS, "vlm2vec-v2": MME5_PROMPTS}
"""Default prompts per formatting profile (mme5.model.profiles); a profile not listed uses mme5's."""

DOCUMENT_PROMPT_OF_KIND = {
    "text": "text_target",
    "image": "image_target",
    "pdf": "visdoc_page",
    "video": "video_target",
}
"""Which prompt embeds a corpus item of each kind (a folder corpus's images, PDF pages, videos)."""
QUERY_PROMPT_FOR_KIND = {"text": QUERY, "image": "t2i_query", "pdf": "visdoc_query", "video": "video_query"}
"""Which prompt embeds a text query searching a corpus of one kind (a mixed corpus: `query`)."""


def default_prompts(profile: str | None = None) -> dict[str, str]:
    """The built-in prompts of a formatting profile (None = mme5's)."""
    return dict(PROFILE_PROMPTS.get(profile or "mme5", MME5_PROMPTS))


def model_prompts(
    model: str | Path | None, profile: str | None = None, adapter: str | Path | None = None
) -> dict[str, str]:
    """A model folder's default prompts by role: the `mme5_prompts.json` of its adapter or its own,
    else the `prompts` of a sentence-transformers export (`config_sentence_transformers.json`), else
    the profile's defaults (a hub id, or a checkpoint written before prompts were recorded)."""
    for folder in (Path(f) for f in (adapter, model) if f is not None):
        if not folder.is_dir():
            continue
        for name in (PROMPTS_FILE, "config_sentence_transformers.json"):
            path = folder / name
            if path.is_file():
                recorded = json.loads(path.read_text(encoding="utf-8")).get("prompts")
                if isinstance(recorded, dict) and recorded:
                    return {str(k): str(v) for k, v in recorded.items()}
    return default_prompts(profile)


def write_prompts(folder: str | Path, prompts: dict[str, str]) -> Path:
    """Record `prompts` in `folder/mme5_prompts.json` (sentence-transformers' keys)."""
    path = Path(folder) / PROMPTS_FILE
    body = {"prompts": dict(prompts), "default_prompt_name": None, "join": "{instruction} {text}\n"}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def item_kind(item: dict) -> str:
    """The kind of a corpus item (its JSON fields): video, pdf, image or text."""
    return next((kind for kind in ("video", "pdf", "image") if item.get(kind) not in (None, "", [])), "text")
