"""Scores of one run at other vector sizes (`mme5 eval ... --dim D... --quantize Q...`): every view
(a Matryoshka prefix, optionally int8 or binary) is scored from the SAME float vectors the task
encoded (cache included), so sizes are compared on identical inputs without re-encoding.

A view's vectors are `quantize.similarity_view` of the float vectors: their inner products are the
scores a compact index computes (int8: ranges fitted on the task's own vectors; binary:
1 - 2 * hamming / dim, whose many ties the tie-aware numbers count against the positive).
"""

from __future__ import annotations

import numpy as np

from ..quantize import View, similarity_view
from .data import EvalData
from .metrics import Ranks, candidate_scores, rank_positives, ranks_from_scores, summarize_ranks

BLOCK_ROWS = 1024  # queries per block of candidate scores


def score_views(data: EvalData, vectors: np.ndarray, views: tuple[str, ...], metric: str, tie_tol: float) -> dict:
    """{view name: {score, score_tie_aware, recall@10, tied_rows}} over the row protocol."""
    ranking = data.rankings["row"]
    out: dict[str, dict] = {}
    for name in views:
        view = View.parse(name)
        if view.dim is not None and view.dim > vectors.shape[1]:
            out[name] = {"error": f"dim {view.dim} exceeds the model's {vectors.shape[1]}"}
            continue
        seen = similarity_view(vectors, view)
        if view.rescore:
            ranks = _rescored_ranks(vectors, seen, data, 10 * view.rescore, tie_tol)
        else:
            ranks = rank_positives(seen, data.query_ids, ranking.candidate_ids, ranking.positive, tie_tol)
        summary = summarize_ranks(ranks, (1, 10))
        out[name] = {
            "score": summary["original"][metric],
            "score_tie_aware": summary["tie_aware"][metric],
            "recall@10": summary["original"]["recall@10"],
            "recall@10_tie_aware": summary["tie_aware"]["recall@10"],
            "tied_rows": summary["tied_rows"],
            "bytes_per_vector": _bytes(view, vectors.shape[1]),
        }
    return out


def _rescored_ranks(vectors: np.ndarray, seen: np.ndarray, data: EvalData, shortlist: int, tie_tol: float) -> Ranks:
    """Ranks when each query's `shortlist` best candidates by the compact score (ties: list order)
    are re-ranked by the float score and every other candidate stays below them, in compact order."""
    ranking = data.rankings["row"]
    parts = []
    for s in range(0, len(data.query_ids), BLOCK_ROWS):
        rows = slice(s, s + BLOCK_ROWS)
        compact = candidate_scores(seen, data.query_ids[rows], ranking.candidate_ids[rows])
        exact = candidate_scores(vectors, data.query_ids[rows], ranking.candidate_ids[rows])
        top = np.argsort(-compact, axis=1, kind="stable")[:, :shortlist]
        kept = np.zeros(compact.shape, dtype=bool)
        np.put_along_axis(kept, top, True, axis=1)
        # compact scores lie in [-1, 1]: shifted by -4 they stay below every rescored one
        combined = np.where(kept, exact, compact - 4).astype(np.float32)
        parts.append(ranks_from_scores(combined, ranking.positive[rows], tie_tol))
    return Ranks(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("first", "tie_aware", "tied", "n_candidates"))
    )


def _bytes(view: View, dim: int) -> int:
    from ..quantize import bytes_per_vector

    return bytes_per_vector(view.dim or dim, view.quantize)


def views_lines(results: list[dict]) -> list[str]:
    """One markdown table: each task's score (original rule; tie-aware in brackets) at full float
    and at every view the run scored, with the bytes one vector takes."""
    scored = [r for r in results if r.get("views")]
    if not scored:
        return []
    names = list(dict.fromkeys(n for r in scored for n in r["views"]))
    dim = scored[0].get("model", {}).get("dim")
    sizes = {n: r["views"][n].get("bytes_per_vector") for r in scored for n in r["views"]}
    header = ["Task", f"full-float ({4 * dim if dim else '?'} B)", *[f"{n} ({sizes[n]} B)" for n in names]]
    rows = []
    for r in scored:
        cells = [r["task"], f"{r['score']:.1f} ({r['score_tie_aware']:.1f})"]
        for n in names:
            v = r["views"].get(n)
            cells.append("–" if not v or "error" in v else f"{v['score']:.1f} ({v['score_tie_aware']:.1f})")
        rows.append(cells)
    if len(scored) > 1:
        mean = ["mean", f"{np.mean([r['score'] for r in scored]):.1f}"]
        for n in names:
            values = [r["views"][n]["score"] for r in scored if "score" in r["views"].get(n, {})]
            mean.append(f"{np.mean(values):.1f}" if len(values) == len(scored) else "–")
        rows.append(mean)
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(c) + " |" for c in rows]
    return ["## Scores by vector size (task metric x 100; tie-aware in brackets)", "", *table, ""]
