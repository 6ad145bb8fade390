"""A 2-D map of segment vectors labelled by word (PCA or t-SNE)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import read_ctm
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write
from speechseq.std.vectors import read_vectors


def _labels(vecs_dir: Path, labels_path: Path) -> list[str]:
    """Word of each vector: from a CTM matched on (source, start, end), or a TSV with a label column."""
    _, rows, _ = read_vectors(vecs_dir)
    if labels_path.suffix == ".tsv":
        lines = labels_path.read_text(encoding="utf-8").splitlines()[1:]
        return [ln.split("\t")[-1] for ln in lines]
    by_span = {
        (e.utt, round(e.start_s, 2), round(e.end_s, 2)): e.word for e in read_ctm(labels_path)
    }
    return [by_span.get((r.source, round(r.start_s, 2), round(r.end_s, 2)), "") for r in rows]


def project_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    if method == "pca":
        x = x - x.mean(0, keepdims=True)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        return x @ vt[:2].T
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(
            n_components=2, random_state=seed, init="pca", perplexity=min(30, max(2, len(x) // 4))
        ).fit_transform(x)
    raise UsageError(f"--method {method}: use pca or tsne")


def plot_embeddings(
    vecs_dir, labels_path, out_png, method: str = "pca", words: list[str] | None = None
) -> int:
    """Plot the vectors of the chosen words (default: the 12 most frequent); returns how many."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vectors, _, _ = read_vectors(vecs_dir)
    labels = _labels(Path(vecs_dir), Path(labels_path))
    if len(labels) != len(vectors):
        raise SpeechseqError(
            f"{labels_path}: {len(labels)} labels for {len(vectors)} vectors — give the CTM the vectors were cut by"
        )
    counts = Counter(w for w in labels if w)
    chosen = words or [w for w, _ in counts.most_common(12)]
    missing = [w for w in chosen if w not in counts]
    if missing:
        raise SpeechseqError(f"--words: {', '.join(missing)} not among the labelled segments")
    keep = [k for k, w in enumerate(labels) if w in chosen]
    xy = project_2d(vectors[keep], method)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab20")
    for c, w in enumerate(chosen):
        pts = xy[[i for i, k in enumerate(keep) if labels[k] == w]]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color=cmap(c % 20), alpha=0.7, label=w)
        cx, cy = pts.mean(0)
        ax.annotate(w, (cx, cy), fontsize=11, weight="bold", color=cmap(c % 20))
    ax.set_title(f"segment vectors ({method.upper()}), {len(keep)} words")
    ax.legend(fontsize=8, markerscale=1.5, loc="best", ncol=2)
    fig.tight_layout()
    with atomic_write(out_png, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return len(keep)
