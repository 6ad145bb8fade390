"""Index speed and recall for query-by-example search: flat vs HNSW vs IVF-PQ.

    python benchmarks/search.py [--num 1000000] [--dim 256] [--queries 1000] [--vectors FILE.npy]

Vectors: with ``--vectors`` (a [N, D] vectors.npy written by ``speechseq embed``), the first
``--num`` real vectors (when it holds that many: nothing made up), else the real vectors
replicated with small Gaussian noise up to ``--num``; queries are then ``--query-vectors`` (the
vectors of spoken queries, ``speechseq embed EXP QUERIES --segments ctm``, say) or noisy
copies of archive vectors; otherwise synthetic vectors
that resemble segment embeddings are generated: ``--words`` "word" centres on the unit
sphere, a Zipf-distributed number of occurrences per word, each occurrence = centre + noise
(cosine to its centre ~0.78, between two occurrences ~0.6), normalised. Queries are fresh
occurrences drawn the same way (not in the index).

Each index is built through ``speechseq.std.index.build_index`` (``--build-threads``
threads), then searched with ONE thread (``faiss.omp_set_num_threads(1)``, the queries in
one batch call). Recall@10 = |approximate top-10 ∩ exact top-10| / 10, averaged over
queries, the exact top-10 coming from the flat index. For HNSW (efSearch) and IVF-PQ
(nprobe, k_factor of the exact re-ranking) a sweep is printed and the fastest setting
with recall@10 >= ``--target-recall`` is reported in the final table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")  # before numpy/faiss are imported

import argparse  # noqa: E402
import time  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from speechseq.std.index import SegmentRow, build_index  # noqa: E402

K = 10  # recall@K


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(num: int, dim: int, num_queries: int, words: int, noise: float, seed: int = 0):
    """Clustered unit vectors: ``vectors: [num, dim]``, ``queries: [num_queries, dim]``."""
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((words, dim), dtype=np.float32))
    p = 1.0 / np.arange(1, words + 1) ** 0.8  # Zipf-like word frequencies
    p /= p.sum()

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, dim), np.float32)
        for lo in range(0, n, 100_000):  # chunks: keep the temporaries small
            hi = min(n, lo + 100_000)
            w = rng.choice(words, hi - lo, p=p)
            e = normalise(rng.standard_normal((hi - lo, dim), dtype=np.float32))
            out[lo:hi] = normalise(centres[w] + noise * e)
        return out

    return draw(num), draw(num_queries)


def replicated(
    path: str,
    num: int,
    num_queries: int,
    noise: float,
    seed: int = 0,
    query_path: str | None = None,
):
    """The first ``num`` real vectors (replicated with noise up to ``num`` if there are fewer);
    queries: the first ``num_queries`` of ``query_path``, else noisy copies of real vectors."""
    rng = np.random.default_rng(seed)
    real = np.load(path, mmap_mode="r")
    real = normalise(np.asarray(real[:num], dtype=np.float32))
    n_real, dim = real.shape
    out = np.empty((num, dim), np.float32)
    for lo in range(0, num, 100_000):
        hi = min(num, lo + 100_000)
        src = real[np.arange(lo, hi) % n_real]
        e = normalise(rng.standard_normal((hi - lo, dim), dtype=np.float32))
        out[lo:hi] = src if hi <= n_real else normalise(src + noise * e)
    if query_path is not None:
        queries = normalise(np.load(query_path)[:num_queries].astype(np.float32))
        if queries.shape[1] != dim:
            raise SystemExit(
                f"{query_path}: {queries.shape[1]}-dim vectors, the archive's are {dim}-dim"
            )
        return out, queries
    qsrc = real[rng.choice(n_real, num_queries)]
    queries = normalise(qsrc + noise * normalise(rng.standard_normal(qsrc.shape, dtype=np.float32)))
    return out, queries


def index_mb(index) -> float:
    return faiss.serialize_index(index).nbytes / 2**20


def timed_search(store, queries: np.ndarray) -> tuple[float, np.ndarray]:
    """Queries per second on one thread, and the returned indices ``[Q, K]``."""
    faiss.omp_set_num_threads(1)
    store.search(queries[:10], K)  # warm up
    t0 = time.perf_counter()
    _, idx = store.search(queries, K)
    qps = len(queries) / (time.perf_counter() - t0)
    return qps, idx


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def bench_hnsw(args, build, sweep):
    params = {"M": args.hnsw_m, "ef_construction": args.hnsw_ef_construction}
    store, build_s = build("hnsw", params)
    print(f"\nhnsw built in {build_s:.1f} s")

    def set_ef(store, s):
        store.index.hnsw.efSearch = s["ef_search"]

    settings = [{"ef_search": e} for e in (32, 64, 96, 128, 192, 256, 384)]
    qps, r, s = sweep("hnsw", store, settings, set_ef)
    mb = index_mb(store.index)
    desc = f"M={args.hnsw_m} efConstruction={args.hnsw_ef_construction} efSearch={s['ef_search']}"
    return ("hnsw", build_s, qps, r, mb, desc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=1_000_000, help="vectors in the index")
    ap.add_argument("--dim", type=int, default=256, help="dimension of synthetic vectors")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--vectors", help="vectors.npy [N, D] from 'speechseq embed' (the archive)")
    ap.add_argument("--query-vectors", help="vectors.npy of spoken queries (with --vectors)")
    ap.add_argument("--words", type=int, default=5000, help="synthetic word centres")
    ap.add_argument("--noise", type=float, default=0.8, help="per-occurrence noise norm")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--hnsw-ef-construction", type=int, default=80)
    ap.add_argument("--ivf-m", type=int, default=0, help="PQ sub-quantisers (0: the index default)")
    ap.add_argument("--skip-hnsw", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.vectors:
        x, q = replicated(
            args.vectors, args.num, args.queries, noise=0.1, query_path=args.query_vectors
        )
        n_real = np.load(args.vectors, mmap_mode="r").shape[0]
        how = (
            "all real"
            if n_real >= args.num
            else f"{n_real} real, replicated with noise 0.1 up to {len(x)}"
        )
        print(f"vectors: {args.vectors}: {len(x)} x {x.shape[1]}, {how}")
        print(f"queries: {args.query_vectors or 'noisy copies (noise 0.1) of archive vectors'}")
    else:
        x, q = synthetic(args.num, args.dim, args.queries, args.words, args.noise)
        print(
            f"vectors: synthetic, {len(x)} x {x.shape[1]}, {args.words} word centres, noise {args.noise}"
        )
    print(f"queries: {len(q)}; data made in {time.perf_counter() - t0:.1f} s")
    segs = [SegmentRow(str(i), "rec", 0.0, 0.0) for i in range(len(x))]  # not saved: timing only

    rows = []  # (type, build_s, qps, recall, mb, params)

    def build(kind: str, params: dict | None):
        faiss.omp_set_num_threads(args.build_threads)
        t = time.perf_counter()
        store = build_index(x, segs, None, "bench", kind, params)
        return store, time.perf_counter() - t

    flat, flat_s = build("flat", None)
    faiss.omp_set_num_threads(args.build_threads)
    t = time.perf_counter()
    _, truth = flat.search(q, K)  # exact ground truth, batched BLAS
    print(
        f"exact top-{K} of {len(q)} queries ({args.build_threads} threads): {time.perf_counter() - t:.1f} s"
    )
    n_flat_q = min(len(q), 200)  # a flat scan is slow on one core: time a subset
    qps, _ = timed_search(flat, q[:n_flat_q])
    rows.append(
        ("flat", flat_s, qps, 1.0, index_mb(flat.index), f"exact (timed on {n_flat_q} queries)")
    )
    del flat

    def sweep(kind, store, settings, apply):
        print(f"\n{kind} sweep (one thread):")
        best = None
        for s in settings:
            apply(store, s)
            qps, found = timed_search(store, q)
            r = recall_at_k(found, truth)
            print(f"  {s}: {qps:8.0f} q/s  recall@{K} {r:.3f}")
            if r >= args.target_recall and (best is None or qps > best[0]):
                best = (qps, r, s)
        if best is None:  # report the most accurate setting, flagged
            apply(store, settings[-1])
            qps, found = timed_search(store, q)
            best = (qps, recall_at_k(found, truth), settings[-1])
        return best

    if not args.skip_hnsw:
        rows.append(bench_hnsw(args, build, sweep))

    ivf, ivf_s = build("ivfpq", {"m": args.ivf_m} if args.ivf_m else None)
    p = ivf.meta["params"]
    print(
        f"\nivfpq built in {ivf_s:.1f} s: nlist={p['nlist']} m={p['m']} nbits={p['nbits']} refine={p['refine']}"
    )

    def set_ivf(store, s):
        faiss.extract_index_ivf(store.index).nprobe = s["nprobe"]
        store.index.k_factor = s["k_factor"]

    settings = [{"nprobe": n, "k_factor": k} for n in (16, 32, 64, 128) for k in (8, 16, 32)]
    qps, r, s = sweep("ivfpq", ivf, settings, set_ivf)
    rows.append(
        (
            "ivfpq+refine",
            ivf_s,
            qps,
            r,
            index_mb(ivf.index),
            f"nlist={p['nlist']} m={p['m']} nbits={p['nbits']} nprobe={s['nprobe']} k_factor={s['k_factor']}",
        )
    )

    print(
        f"\nN={len(x)} D={x.shape[1]} queries={len(q)}; q/s on one core; build with {args.build_threads} threads"
    )
    print(
        f"{'index':<14} {'build_s':>8} {'q/s (1 core)':>13} {'recall@10':>10} {'memory_MB':>10}  parameters"
    )
    for name, b, qps, r, mb, params in rows:
        flag = "" if r >= args.target_recall else f"  (below target {args.target_recall})"
        print(f"{name:<14} {b:8.1f} {qps:13.0f} {r:10.3f} {mb:10.0f}  {params}{flag}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
