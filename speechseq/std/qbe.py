"""Spoken-term detection by example: index an embedded archive, search spoken queries, evaluate.

Glue between the embedder (:mod:`speechseq.embed.inference`), the FAISS store
(:mod:`speechseq.std.index`), hit merging (:mod:`speechseq.std.nms`), the DTW
baseline (:mod:`speechseq.std.dtw`) and the retrieval metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from speechseq.data.audio import MIX, AudioSpec, Channel, read_audio, read_spec, write_wav
from speechseq.data.kaldi_dir import DataDir, read_ctm
from speechseq.embed.inference import (
    Sources,
    embed_audio,
    embed_features,
    load_embedder,
    query_vectors,
    read_queries,
)
from speechseq.embed.segments import check_speech, trim_silence
from speechseq.errors import SpeechseqError, UsageError
from speechseq.features.config import FeatureConfig
from speechseq.features.frontend import FrontEnd
from speechseq.fileio import atomic_write
from speechseq.metrics.kws import with_phrases
from speechseq.metrics.retrieval import evaluate_queries
from speechseq.std.dtw import dtw_search, subsequence_dtw
from speechseq.std.index import SETTINGS_FILE, IndexStore, build_index, index_files
from speechseq.std.kws import kws_scores, same_different_dtw, same_different_embed
from speechseq.std.nms import Hit, merge_hits
from speechseq.std.posteriorgram import Posteriorgrams
from speechseq.std.vectors import read_vectors

RAW_HITS_PER_HIT = 3  # nearest windows fetched per hit wanted, before overlapping ones are merged
# beside the index: how its vectors were made, so `index add` and `search` can repeat it
EMBED_SETTINGS = SETTINGS_FILE


def build(vecs_dir, out_dir, index_type: str = "auto"):
    """Build an index from ``speechseq embed`` output; remembers how the vectors were made.

    The index files and embed.json are committed together (one rename)."""

    vectors, rows, meta = read_vectors(vecs_dir)
    settings = {
        k: meta.get(k)
        for k in ("embedder_id", "model", "segments", "window_s", "hop_s", "audio", "channel")
    }
    return build_index(
        vectors,
        rows,
        out_dir,
        embedder_id=meta["embedder_id"],
        index_type=index_type,
        extra={EMBED_SETTINGS: json.dumps(settings, indent=2) + "\n"},
    )


def embed_settings(index_dir, store: IndexStore | None = None) -> dict:
    """embed.json of the committed index (of the generation ``store`` was opened from, if given)."""
    files = store.files if store is not None else index_files(index_dir).committed().paths
    if EMBED_SETTINGS not in files:
        raise SpeechseqError(
            f"{Path(index_dir) / EMBED_SETTINGS}: not found — build the index with speechseq index build"
        )
    return json.loads(files[EMBED_SETTINGS].read_text(encoding="utf-8"))


def archive_channel(settings: dict) -> Channel:
    """The channel the index's archive was embedded with (indexes from before the choice
    existed read channel 0)."""
    return settings.get("channel", 0)


def add(index_dir, audio, device: str = "auto", channel: Channel = MIX) -> int:
    """Embed new recordings the way the index's vectors were made, and add them (one commit).

    ``channel``: which channel of the new multi-channel audio (an index, or ``"mix"``).
    """
    import tempfile

    store = IndexStore.open(index_dir)
    settings = embed_settings(index_dir, store)
    with tempfile.TemporaryDirectory() as tmp:
        widths = (
            ",".join(str(w) for w in settings["window_s"]) if settings.get("window_s") else None
        )
        embed_audio(
            settings["model"],
            audio,
            Path(tmp) / "v",
            segments=settings["segments"],
            widths=widths,
            hop_s=settings.get("hop_s"),
            device=device,
            channel=channel,
        )
        vectors, rows, meta = read_vectors(Path(tmp) / "v")
    known = {r.segment_id for r in store.segments}
    dup = [r.segment_id for r in rows if r.segment_id in known]
    if dup:
        raise SpeechseqError(
            f"{index_dir}: segment {dup[0]} (and {len(dup) - 1} more) already in the index — these recordings were added before"
        )
    store.add(vectors, rows, meta["embedder_id"])
    store.save()
    return len(rows)


def warm_up(dtw: bool = False) -> None:
    """Compile what compiles on first use before timing searches: librosa's silence trimming,
    and with ``dtw`` our numba DTW (its first compilation in a fresh install takes ~20 s, which a
    search by embeddings should not pay)."""

    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    trim_silence(x * 0.1, 16000)
    if dtw:
        subsequence_dtw(x[:130].reshape(10, 13), x[:390].reshape(30, 13))


def hits_for(
    store, scores: np.ndarray, idx: np.ndarray, top_k: int, max_overlap: float = 0.5
) -> list[Hit]:
    rows = store.segments
    raw = [
        Hit(rows[i].source, rows[i].start_s, rows[i].end_s, float(s), rows[i].segment_id)
        for s, i in zip(scores, idx, strict=True)
        if i >= 0
    ]
    return merge_hits(raw, max_overlap)[:top_k]


COMBINE = ("mean", "max")  # how several spoken examples of one term make one search


def check_combine(combine: str | None) -> None:
    if combine is not None and combine not in COMBINE:
        raise UsageError(f"--combine {combine}: use {' or '.join(COMBINE)}")


def check_expand(expand: int) -> None:
    if expand < 0:
        raise UsageError(
            f"--expand {expand}: give the number of nearest hits to expand with (0: none)"
        )


def combined_hits(store, q: np.ndarray, top_k: int, combine: str, expand: int = 0) -> list[Hit]:
    """One hit list for several spoken examples of one term, ``q: [E, dim]``: ``mean`` searches
    their mean vector (normalised), ``max`` searches each and keeps each hit's best score
    (overlapping hits merged). ``expand``: :meth:`IndexStore.search`'s query expansion, of
    the mean or of each example."""
    if combine == "mean":
        m = q.mean(axis=0, keepdims=True)
        m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
        scores, idx = store.search(m, top_k * RAW_HITS_PER_HIT, expand)
        return hits_for(store, scores[0], idx[0], top_k)
    scores, idx = store.search(q, top_k * RAW_HITS_PER_HIT, expand)
    each = [h for k in range(len(q)) for h in hits_for(store, scores[k], idx[k], top_k)]
    return merge_hits(each)[:top_k]


def search_files(
    index_dir,
    queries: list[str],
    top_k: int = 10,
    device: str = "auto",
    channel: Channel = MIX,
    combine: str | None = None,
    query_segmenter: str | os.PathLike | None = None,
    expand: int = 0,
) -> tuple[list[list[Hit]], float]:
    """Hits per query file, and search seconds per query (embedding + index + merging).

    ``channel``: which channel of multi-channel query files (an index, or ``"mix"``).
    ``combine``: the files are examples of one term, searched as one: ``mean`` averages their
    vectors (then normalises), ``max`` searches each and keeps each hit's best score (overlaps
    merged); one hit list comes back.
    ``query_segmenter``: a train-segmenter model dir; each query is cut from its first detected
    word boundary to its last (kept whole where it finds fewer than two), then silence-trimmed
    as every query is.
    ``expand``: average query expansion with each query's nearest ``expand`` archive vectors
    (:meth:`IndexStore.search`), a second search per query.
    """
    check_combine(combine)
    check_expand(expand)
    store = IndexStore.open(index_dir)
    m = load_embedder(embed_settings(index_dir, store)["model"], device)
    if m.embedder_id != store.meta.get("embedder_id"):
        raise SpeechseqError(
            f"{index_dir}: built with embedder {store.meta.get('embedder_id')}, but its model directory now holds "
            f"{m.embedder_id} — rebuild the index (speechseq embed, index build)"
        )
    audio = read_queries(m, queries, channel)  # a bad query file fails before the warm-up
    sr = m.frontend.sample_rate
    cut = query_cutter(query_segmenter, device, sr) if query_segmenter else None
    warm_up()
    t0 = time.perf_counter()
    if cut is not None:
        audio = [cut(x) for x in audio]
    q = query_vectors(m, audio)
    if combine is not None:
        out = [combined_hits(store, q, top_k, combine, expand)]
    else:
        scores, idx = store.search(q, top_k * RAW_HITS_PER_HIT, expand)
        out = [hits_for(store, scores[k], idx[k], top_k) for k in range(len(q))]
    return out, (time.perf_counter() - t0) / max(len(queries), 1)


def hits_json(queries: list[str], results: list[list[Hit]]) -> list[dict]:
    """``search --json``: per query, its hits with rank, source, times and score."""
    return [
        {
            "query": q,
            "hits": [
                {
                    "rank": r,
                    "source": h.source,
                    "start_s": h.start_s,
                    "end_s": h.end_s,
                    "score": round(h.score, 4),
                }
                for r, h in enumerate(hits, 1)
            ],
        }
        for q, hits in zip(queries, results, strict=True)
    ]


def query_cutter(segmenter_dir: str | os.PathLike, device: str = "auto", sample_rate: int = 16000):
    """``audio -> audio`` at ``sample_rate``: a query cut by a word-boundary detector
    (train-segmenter) from its first boundary to its last; a query where it finds fewer than
    two is left whole."""
    from speechseq.std.segmenter import Segmenter  # deferred: loads a model

    seg = Segmenter(segmenter_dir, device=device)
    if seg.ex.frontend.sample_rate != sample_rate:
        raise SpeechseqError(
            f"{segmenter_dir}: a segmenter of {seg.ex.frontend.sample_rate} Hz audio, the queries "
            f"are read at {sample_rate} Hz — train the segmenter on features of the embedder's rate"
        )

    def cut(x: np.ndarray) -> np.ndarray:
        y = seg.cut_query(x, sample_rate)
        return x if y is None else y

    return cut


def export_hits(
    hits: list[Hit],
    audio_root: str,
    out_dir,
    prefix: str,
    data_dir: str | None = None,
    channel: Channel = MIX,
) -> list[Path]:
    """Write each hit as a wav snippet ``OUT/<prefix>_<rank>.wav``; ``channel``: the one the
    archive was embedded with (:func:`archive_channel`)."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = DataDir(audio_root) if (Path(audio_root) / "wav.scp").is_file() else None
    paths = []
    for rank, h in enumerate(hits, start=1):
        if data is not None:
            spec = data.audio_spec(h.source, channel)
        else:
            spec = AudioSpec(str(Path(audio_root) / h.source), channel=channel)
        start = spec.start_s
        spec = dataclasses.replace(spec, start_s=start + h.start_s, end_s=start + h.end_s)
        x = read_spec(spec, 16000, what=h.source)
        p = out / f"{prefix}_{rank:02d}.wav"
        write_wav(p, x, 16000)
        paths.append(p)
    return paths


def export_query_hits(index_dir, queries: list[str], hits: list[list[Hit]], out_dir) -> list[Path]:
    """:func:`export_hits` of each query's hits from the index's archive, named for the query
    file (``OUT/<query stem>_<rank>.wav``)."""
    settings = embed_settings(index_dir)
    return [
        p
        for q, hs in zip(queries, hits, strict=True)
        for p in export_hits(
            hs, settings["audio"], out_dir, Path(q).stem, channel=archive_channel(settings)
        )
    ]


# The DTW baseline's front end: 13 MFCCs (Kaldi defaults, no dither), each recording
# mean/variance normalised over itself.
DTW_FRONTEND = FrontEnd(
    FeatureConfig(type="mfcc", dither=0.0), "utterance", 13, where="DTW baseline"
)


def _mfcc(x: np.ndarray) -> np.ndarray:
    return DTW_FRONTEND.normalise(DTW_FRONTEND.audio_features(x))


def archive_mfcc(audio_root: str, channel: Channel = MIX) -> dict[str, np.ndarray]:
    """MFCC frames (mean/variance normalised per recording) of every archive recording."""

    sources = Sources(Path(audio_root), DTW_FRONTEND, channel)
    return {s: sources.feats(s) for s in sources.ids}


def dtw_search_files(
    index_dir,
    queries: list[str],
    top_k: int = 10,
    docs: dict | None = None,
    channel: Channel = MIX,
) -> tuple[list[list[Hit]], float]:
    """The classic baseline: segmental DTW of each query's MFCCs against every archive recording.

    ``channel``: which channel of multi-channel query files; the archive is read with the
    channel it was embedded with.
    """

    if docs is None:
        settings = embed_settings(index_dir)
        docs = archive_mfcc(settings["audio"], archive_channel(settings))
    warm_up(dtw=True)
    t0 = time.perf_counter()
    out = []
    for q in queries:
        x = (
            q
            if isinstance(q, np.ndarray)
            else check_speech(read_audio(q, 16000, channel=channel), str(q))
        )
        out.append(dtw_search(_mfcc(trim_silence(x, 16000)), docs, frame_shift_s=0.01, top_k=top_k))
    return out, (time.perf_counter() - t0) / max(len(queries), 1)


def evaluate_std(
    index_dir,
    queries_dir,
    ref_ctm,
    top_k: int = 100,
    with_dtw: bool = True,
    max_queries: int = 0,
    out_dir=None,
    device: str = "auto",
    channel: Channel = MIX,
    thresholds: dict[str, float] | None = None,
    posteriorgram_model: str | None = None,
    combine: str | None = None,
    query_segmenter: str | None = None,
    expand: int = 0,
) -> list[dict]:
    """MAP, P@10, P@N, same-different AP, ATWV and MTWV of the embedder's index search (and of
    DTW) over a data dir of spoken queries; with ``out_dir``, results.json, hits.tsv and the
    NIST keyword-search files under ``out_dir/kws``. ``thresholds``: each method's YES
    threshold for ATWV (from a dev run's ``mtwv_threshold``; default: every returned hit).
    ``posteriorgram_model``: a speech recogniser's directory; adds DTW on its posteriorgrams
    (method ``dtw-pg``), the speaker-robust baseline.

    ``channel``: which channel of multi-channel queries that reco2file_and_channel does not list.

    ``combine`` (mean | max): query by several examples, scored against one. Every term (the
    text of a query) spoken by two queries or more is searched once with all its examples
    (:func:`combined_hits`; method ``embed-mean`` / ``embed-max``, one "query" per term) and,
    beside it on the same terms, with each example alone (method ``embed-one``: the plain
    search's figures on those terms' queries only). An error when no term has two examples.

    ``expand``: also the embedder's search with average query expansion (method ``embed-qe``,
    :meth:`IndexStore.search`) on the same queries, beside the plain search.
    """
    check_combine(combine)
    check_expand(expand)

    data = DataDir(queries_dir)
    if data.text is None:
        raise SpeechseqError(
            f"{data.file('text')}: not found — each query's word must be in the queries' text file"
        )
    qids = data.utt_ids[: max_queries or None]
    words = {q: " ".join(data.text[q].split()) for q in qids}
    bad = [q for q, w in words.items() if not w]
    if bad:
        raise SpeechseqError(
            f"{data.file('text')}: query {bad[0]} has no text — give each query the word (or "
            "words) it speaks"
        )
    ctm = read_ctm(ref_ctm)
    ref = with_phrases(
        ctm, words.values()
    )  # a query of several words: where they follow one another
    audio = {}
    for q in qids:
        audio[q] = check_speech(read_spec(data.audio_spec(q, channel), 16000, what=q), q)
    cut_s = 0.0
    if query_segmenter is not None:  # every method searches the queries as the segmenter cut them
        cut = query_cutter(query_segmenter, device)
        t0 = time.perf_counter()
        audio = {q: cut(x) for q, x in audio.items()}
        cut_s = (time.perf_counter() - t0) / max(len(audio), 1)

    store = IndexStore.open(index_dir)
    m = load_embedder(embed_settings(index_dir, store)["model"], device)
    warm_up()
    t0 = time.perf_counter()
    feats = [m.frontend.audio_features(trim_silence(audio[q], 16000)) for q in qids]
    vecs = embed_features(m, feats)
    vec_s = (time.perf_counter() - t0) / len(qids) + cut_s  # the cut, features and embedder

    def searched(expand: int) -> tuple[dict[str, list[Hit]], float]:
        t0 = time.perf_counter()
        scores, idx = store.search(vecs, top_k * RAW_HITS_PER_HIT, expand)
        hits = {q: hits_for(store, scores[k], idx[k], top_k) for k, q in enumerate(qids)}
        return hits, vec_s + (time.perf_counter() - t0) / len(qids)

    emb_results, emb_s = searched(0)
    labels = [words[q] for q in qids]
    rows = [
        {
            "method": "embed",
            **_summary(evaluate_queries(emb_results, words, ref)),
            "same_diff_ap": _rounded(same_different_embed(vecs, labels)),
            "ms_per_query": 1000 * emb_s,
        }
    ]
    per_query = {"embed": emb_results}
    if expand:
        qe_results, qe_s = searched(expand)
        rows.append(
            {
                "method": "embed-qe",
                **_summary(evaluate_queries(qe_results, words, ref)),
                "same_diff_ap": rows[0]["same_diff_ap"],  # the same query vectors
                "ms_per_query": 1000 * qe_s,
            }
        )
        per_query["embed-qe"] = qe_results
    if combine is not None:
        rows += _combined_rows(
            store,
            vecs,
            qids,
            words,
            ref,
            emb_results,
            1000 * emb_s,
            per_query,
            top_k,
            combine,
            data,
        )
    if with_dtw:
        settings = embed_settings(index_dir)
        docs = archive_mfcc(settings["audio"], archive_channel(settings))
        hits, dtw_s = dtw_search_files(index_dir, [audio[q] for q in qids], top_k=top_k, docs=docs)
        dtw_results = dict(zip(qids, hits, strict=True))
        query_mfcc = [_mfcc(trim_silence(audio[q], 16000)) for q in qids]
        rows.append(
            {
                "method": "dtw",
                **_summary(evaluate_queries(dtw_results, words, ref)),
                "same_diff_ap": _rounded(same_different_dtw(query_mfcc, labels)),
                "ms_per_query": 1000 * dtw_s,
            }
        )
        per_query["dtw"] = dtw_results
    if posteriorgram_model is not None:
        settings = embed_settings(index_dir, store)
        pg = Posteriorgrams(posteriorgram_model, device)
        sources = Sources(Path(settings["audio"]), DTW_FRONTEND, archive_channel(settings))
        docs = {src: pg.of_audio(sources.audio(src)) for src in sources.ids}
        query_pg = [pg.of_audio(trim_silence(audio[q], 16000)) for q in qids]
        warm_up(dtw=True)  # compiled already when plain DTW ran; not with --no-dtw
        t0 = time.perf_counter()
        pg_results = {
            q: dtw_search(query_pg[k], docs, frame_shift_s=pg.frame_shift_s, top_k=top_k)
            for k, q in enumerate(qids)
        }
        pg_s = (time.perf_counter() - t0) / len(qids)
        rows.append(
            {
                "method": "dtw-pg",
                **_summary(evaluate_queries(pg_results, words, ref)),
                "same_diff_ap": _rounded(same_different_dtw(query_pg, labels)),
                "ms_per_query": 1000 * pg_s,
            }
        )
        per_query["dtw-pg"] = pg_results
    durations = archive_durations(embed_settings(index_dir, store)["audio"])
    kws = kws_scores(
        per_query, words, ctm, durations, Path(out_dir) / "kws" if out_dir else None, thresholds
    )
    for row in rows:
        row.update({k: kws[row["method"]][k] for k in ("atwv", "mtwv", "mtwv_threshold")})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / "results.json") as f:
            json.dump(
                {
                    "index": str(index_dir),
                    "queries": str(queries_dir),
                    "ref": str(ref_ctm),
                    "top_k": top_k,
                    "expand": expand,
                    "rows": rows,
                },
                f,
                indent=2,
            )
        with atomic_write(out / "hits.tsv") as f:
            f.write("method\tquery\tword\trank\tsource\tstart_s\tend_s\tscore\n")
            for method, res in per_query.items():
                for q, hs in res.items():
                    for r, h in enumerate(hs, 1):
                        f.write(
                            f"{method}\t{q}\t{words[q]}\t{r}\t{h.source}\t{h.start_s:.3f}\t{h.end_s:.3f}\t{h.score:.4f}\n"
                        )
    return rows


def _combined_rows(
    store, vecs, qids, words, ref, emb_results, emb_ms, per_query, top_k, combine, data
) -> list[dict]:
    """:func:`evaluate_std`'s ``embed-one`` and ``embed-<combine>`` rows; adds their hits to
    ``per_query`` and each term's id (``<combine>:<term>``) to ``words``."""
    examples: dict[str, list[int]] = {}
    for k, q in enumerate(qids):
        examples.setdefault(words[q], []).append(k)
    terms = {w: ks for w, ks in examples.items() if len(ks) >= 2}
    if not terms:
        raise SpeechseqError(
            f"{data.file('text')}: no term is spoken by two queries — --combine searches "
            "several examples of a term as one; give queries that repeat terms, or leave it out"
        )
    one = {qids[k]: emb_results[qids[k]] for ks in terms.values() for k in ks}
    t0 = time.perf_counter()
    both = {
        f"{combine}:{w}": combined_hits(store, vecs[ks], top_k, combine) for w, ks in terms.items()
    }
    both_s = (time.perf_counter() - t0) / len(terms)
    term_of = {t: t.split(":", 1)[1] for t in both}
    words.update(term_of)
    per_query["embed-one"], per_query[f"embed-{combine}"] = one, both
    return [
        {
            "method": "embed-one",
            **_summary(evaluate_queries(one, {q: words[q] for q in one}, ref)),
            "same_diff_ap": None,
            "ms_per_query": emb_ms,  # the plain search's, whose hits these are
        },
        {
            "method": f"embed-{combine}",
            **_summary(evaluate_queries(both, term_of, ref)),
            "same_diff_ap": None,
            "ms_per_query": 1000 * both_s,
        },
    ]


def archive_durations(audio_root: str) -> dict[str, float]:
    """Seconds of each archive recording (the ECF of a keyword-search evaluation)."""
    root = Path(audio_root)
    data = DataDir(root) if (root / "wav.scp").is_file() else None
    if data is not None and data.utt2dur:
        return dict(data.utt2dur)
    sources = Sources(root, DTW_FRONTEND)
    return {s: len(sources.audio(s)) / sources.sample_rate for s in sources.ids}


def dev_thresholds(results_json: str | Path) -> dict[str, float]:
    """Each method's MTWV threshold in an eval-std results.json (a dev run)."""
    path = Path(results_json)
    if not path.is_file():
        raise SpeechseqError(
            f"{path}: file not found — give the results.json of an eval-std dev run"
        )
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        return {r["method"]: float(r["mtwv_threshold"]) for r in rows}
    except (KeyError, TypeError, ValueError):
        raise SpeechseqError(
            f"{path}: not the results.json of an eval-std run with ATWV (no rows with "
            f"mtwv_threshold) — run eval-std on the dev queries with --out first"
        ) from None


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _summary(ev: dict) -> dict:
    return {
        "map": ev["map"],
        "p_at_10": ev["p_at_10"],
        "p_at_n": ev["p_at_n"],
        "queries": ev["num_queries"],
    }
