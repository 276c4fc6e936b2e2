"""The published MMEB-V2 ranking metrics (spec mmeb_v2.md §4-5; VLM2Vec: src/utils/eval_utils/
metrics.py), from the ranks of each query's labels, averaged over queries, as fractions.

Per query with labels L (grades g, 1 when ungraded) and k in (1, 5, 10), r(l) = rank of label l:
hit@k = any r(l) <= k; precision@k = |{r <= k}| / k; recall@k = |{r <= k}| / |L|; f1 = 2PR/(P+R);
map@k = sum over labels in the top k of (labels at or above it / r) / min(|L|, k);
mrr@k = 1 / best rank (0 beyond k); ndcg_linear@k = sum g / log2(r + 1) over labels in the top k,
divided by the same sum over the grades sorted descending (first k); ndcg_exponential uses 2^g - 1.
"""

from __future__ import annotations

import numpy as np

KS = (1, 5, 10)
METRICS = ("hit", "ndcg_linear", "ndcg_exponential", "precision", "recall", "f1", "map", "mrr")


def score_keys(ks: tuple[int, ...] = KS) -> list[str]:
    """VLM2Vec's `<Task>_score.json` metric keys, in its order."""
    return [f"{m}@{k}" for m in METRICS for k in ks]


def _pad(rows: list[np.ndarray], fill: float, dtype: type) -> np.ndarray:
    width = max([len(r) for r in rows] + [1])
    out: np.ndarray = np.full((len(rows), width), fill, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def ranking_metrics(
    ranks: list[np.ndarray],
    grades: list[np.ndarray] | None = None,
    ks: tuple[int, ...] = KS,
    dcg_grades: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """Mean metrics over queries. `ranks[i]` are 1-based ranks of query i's labels (0 = beyond
    the cut-off), `grades[i]` their relevance (None = all 1). `dcg_grades` (default `grades`)
    are the grades credited in the DCG, while the ideal DCG always uses `grades`: this is how
    the published label/grade mispairing is reproduced."""
    n = len(ranks)
    if n == 0:
        return {key: 0.0 for key in score_keys(ks)}
    grades = grades if grades is not None else [np.ones(len(r)) for r in ranks]
    dcg_grades = dcg_grades if dcg_grades is not None else grades
    r = _pad([np.asarray(x, dtype=np.float64) for x in ranks], 0.0, np.float64)
    n_labels = np.asarray([len(x) for x in ranks], dtype=np.float64)
    g_dcg = _pad([np.asarray(x, dtype=np.float64) for x in dcg_grades], 0.0, np.float64)
    ideal = -np.sort(-_pad([np.asarray(x, dtype=np.float64) for x in grades], 0.0, np.float64), axis=1)
    found = r > 0
    r_sorted = np.sort(np.where(found, r, np.inf), axis=1)  # per query, ranks ascending
    out: dict[str, dict[int, np.ndarray]] = {m: {} for m in METRICS}
    for k in ks:
        in_k = found & (r <= k)
        hits = in_k.sum(axis=1)
        p = hits / k
        rec = np.divide(hits, n_labels, out=np.zeros(n), where=n_labels > 0)
        out["hit"][k] = (hits > 0).astype(np.float64)
        out["precision"][k] = p
        out["recall"][k] = rec
        out["f1"][k] = np.divide(2 * p * rec, p + rec, out=np.zeros(n), where=(p + rec) > 0)
        best = r_sorted[:, 0]
        out["mrr"][k] = np.where(best <= k, 1.0 / best, 0.0)
        position = np.arange(1, r_sorted.shape[1] + 1)[None, :]
        prec_at = np.where(r_sorted <= k, position / r_sorted, 0.0)
        denom = np.minimum(n_labels, k)
        out["map"][k] = np.divide(prec_at.sum(axis=1), denom, out=np.zeros(n), where=denom > 0)
        discount = np.where(in_k, 1.0 / np.log2(np.where(in_k, r, 1.0) + 1.0), 0.0)
        ideal_disc = 1.0 / np.log2(np.arange(2, ideal.shape[1] + 2))[None, :] * (np.arange(ideal.shape[1]) < k)[None, :]
        for name, gain in (("ndcg_linear", lambda g: g), ("ndcg_exponential", lambda g: 2.0**g - 1.0)):
            dcg = (gain(g_dcg) * discount).sum(axis=1)
            idcg = (gain(ideal) * ideal_disc).sum(axis=1)
            out[name][k] = np.divide(dcg, idcg, out=np.zeros(n), where=idcg > 0)
    return {f"{m}@{k}": float(out[m][k].mean()) for m in METRICS for k in ks}


def published_pairing(labels: list, grades: list[float]) -> dict:
    """label -> grade as the published `evaluate()` pairs them: `list(set(labels))` zipped with
    the grades in their original order (spec §4 quirk; only mixed-grade queries change). The
    set order of strings depends on PYTHONHASHSEED, exactly as in the published run."""
    return dict(zip(list(set(labels)), grades))
