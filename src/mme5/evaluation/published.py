"""Published numbers (mmE5 paper, Tables 2 and 4; spec/method.md) for side-by-side comparison."""

from __future__ import annotations

# model -> classification, vqa, retrieval, grounding, IND, OOD, overall (Precision@1 x 100)
MMEB_PUBLISHED: dict[str, dict[str, float | None]] = {
    name: dict(zip(("classification", "vqa", "retrieval", "grounding", "IND", "OOD", "overall"), row))
    for name, row in {
        "mmE5 (synthetic only, zero-shot)": (60.6, 55.7, 54.7, 72.4, None, None, 58.6),
        "MMRet (26M synthetic, zero-shot)": (47.2, 18.4, 56.5, 62.2, None, None, 44.0),
        "mmE5 (synthetic + labeled)": (67.6, 62.8, 70.9, 89.7, 72.3, 66.7, 69.8),
        "VLM2Vec (LLaVA-1.6 high-res)": (61.2, 49.9, 67.4, 86.1, 67.5, 57.1, 62.9),
        "MMRet (fine-tuned)": (56.0, 57.4, 69.9, 83.6, 68.0, 59.1, 64.1),
    }.items()
}

# model -> XTD Recall@10 x 100 per language, plus the published 7-language average
XTD_PUBLISHED: dict[str, dict[str, float]] = {
    name: dict(zip(("it", "es", "ru", "zh", "pl", "tr", "ko", "avg"), row))
    for name, row in {
        "mmE5": (96.1, 96.2, 93.3, 96.3, 95.4, 93.6, 96.0, 95.3),
        "mmE5 (synthetic only)": (90.9, 89.6, 86.3, 90.2, 90.3, 87.2, 86.7, 88.7),
        "mmE5 (English synthetic only)": (86.3, 86.3, 84.2, 88.8, 84.9, 81.0, 84.4, 85.1),
        "GME": (95.1, 96.4, 92.3, 96.4, 94.9, 89.8, 93.6, 94.1),
        "M-CLIP": (93.1, 93.6, 90.0, 94.0, 94.3, 93.1, 89.0, 92.4),
        "jina-clip-v2": (93.6, 94.1, 89.8, 91.8, 94.3, 92.7, 90.1, 92.3),
    }.items()
}

# MMEB-V2 (spec mmeb_v2.md §8; VLM2Vec experiments/public/all_scores/v2.0.0), x 100
V2_COLUMNS = (
    "I-CLS",
    "I-QA",
    "I-RET",
    "I-VG",
    "image",
    "V-CLS",
    "V-QA",
    "V-RET",
    "V-MRET",
    "video",
    "VDRv1",
    "VDRv2",
    "VR",
    "OOD",
    "visdoc",
    "overall",
)
MMEB_V2_PUBLISHED: dict[str, dict[str, float]] = {
    name: dict(zip(V2_COLUMNS, row))
    for name, row in {
        "VLM2Vec-V2.0-Qwen2VL-2B": (
            62.90,
            56.29,
            69.47,
            77.30,
            64.85,
            39.30,
            34.33,
            28.77,
            36.82,
            34.58,
            75.52,
            44.86,
            79.38,
            39.43,
            65.36,
            58.02,
        ),
        "gme-Qwen2-VL-2B-Instruct": (
            54.44,
            29.86,
            66.93,
            55.48,
            51.89,
            34.91,
            42.00,
            25.56,
            31.07,
            33.64,
            86.15,
            53.96,
            82.52,
            43.12,
            72.71,
            54.08,
        ),
        "gme-Qwen2-VL-7B-Instruct": (
            57.65,
            34.66,
            71.17,
            59.30,
            55.95,
            37.44,
            50.35,
            28.37,
            36.96,
            38.43,
            89.44,
            55.61,
            84.99,
            44.40,
            75.18,
            57.83,
        ),
        "VLM2Vec-V1-Qwen2VL-2B": (
            58.71,
            49.26,
            64.98,
            72.85,
            59.74,
            33.40,
            30.53,
            20.61,
            30.75,
            28.61,
            49.81,
            13.51,
            51.83,
            33.55,
            41.55,
            46.96,
        ),
        "colpali-v1.3": (
            40.30,
            11.51,
            48.05,
            40.30,
            34.89,
            26.71,
            37.84,
            21.56,
            25.53,
            28.17,
            83.60,
            51.98,
            81.13,
            43.13,
            70.97,
            44.44,
        ),
    }.items()
}

# Qwen3-VL-Embedding (spec qwen3_vl_family.md §4: the publishers' README; 8B: the leaderboard values VLM2Vec
# reproduced). Only modality and overall scores are published; meta-task columns stay empty. x 100
MMEB_V2_PUBLISHED_MODALITY: dict[str, dict[str, float | None]] = {
    name: {column: dict(zip(("image", "video", "visdoc", "overall"), row)).get(column) for column in V2_COLUMNS}
    for name, row in {
        "Qwen3-VL-Embedding-2B": (75.0, 61.9, 79.2, 73.2),
        "Qwen3-VL-Embedding-8B": (80.12, 67.15, 82.36, 77.8),
    }.items()
}
