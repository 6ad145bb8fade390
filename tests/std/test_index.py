"""The FAISS index store: build, save, reopen, search, add, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechseq.std.index import IndexStore, IndexStoreError, SegmentRow, build_index
from tests.std.helpers import rows, unit_vectors


def test_flat_index_round_trip_finds_planted_neighbour(tmp_path):
    x = unit_vectors(300, 32)
    build_index(x, rows(300), tmp_path / "idx", "model-a:hash1", "flat")
    store = IndexStore.open(tmp_path / "idx")
    scores, idx = store.search(x[17] * 3.0, top_k=5)  # un-normalised query
    assert idx[0, 0] == 17
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert store.segments[17] == SegmentRow(
        "seg00017", "utt3", pytest.approx(1.7), pytest.approx(2.2)
    )
    assert store.meta["embedder_id"] == "model-a:hash1"
    assert store.meta["num_vectors"] == 300 and store.meta["dim"] == 32
    assert store.meta["metric"] == "inner_product" and store.meta["index_type"] == "flat"
    assert (
        (tmp_path / "idx" / "segments.tsv")
        .read_text()
        .startswith("segment_id\tsource\tstart_s\tend_s\n")
    )


def test_auto_picks_flat_for_small_collections(tmp_path):
    store = build_index(unit_vectors(50, 8), rows(50), None, "m", "auto")
    assert store.meta["index_type"] == "flat" and store.meta["requested_index_type"] == "auto"


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_approximate_index_recalls_planted_neighbours(tmp_path, kind):
    x = unit_vectors(3000, 64, seed=1)
    build_index(x, rows(3000), tmp_path / kind, "m", kind)
    store = IndexStore.open(tmp_path / kind)
    assert store.meta["index_type"] == kind
    noise = 0.05 * np.random.default_rng(2).standard_normal((200, 64)).astype(np.float32)
    _, idx = store.search(x[:200] + noise, top_k=10)
    assert np.mean(idx[:, 0] == np.arange(200)) >= 0.9


def test_add_extends_index_without_rebuild(tmp_path):
    x = unit_vectors(400, 16)
    store = build_index(x[:300], rows(300), tmp_path / "idx", "m", "flat")
    store.add(x[300:], rows(100, prefix="new"), "m")
    store.save()
    again = IndexStore.open(tmp_path / "idx")
    assert len(again) == 400 and again.meta["num_vectors"] == 400
    _, idx = again.search(x[350], top_k=1)
    assert idx[0, 0] == 350 and again.segments[350].segment_id == "new00050"
    hits = again.hits(*again.search(x[350], top_k=2))
    assert hits[0][0].segment_id == "new00050" and hits[0][0].score == pytest.approx(1.0, abs=1e-5)


def test_add_refuses_other_embedder(tmp_path):
    store = build_index(unit_vectors(20, 16), rows(20), tmp_path / "idx", "model-a:hash1", "flat")
    with pytest.raises(IndexStoreError, match="built by another embedder.*rebuild"):
        store.add(unit_vectors(5, 16), rows(5, "n"), "model-b:hash2")


def test_add_refuses_other_dimension(tmp_path):
    store = build_index(unit_vectors(20, 16), rows(20), tmp_path / "idx", "m", "flat")
    with pytest.raises(IndexStoreError, match="16-dim.*another embedder"):
        store.add(unit_vectors(5, 24), rows(5, "n"), "m")
    assert len(store) == 20


def test_add_refuses_duplicate_segment_id(tmp_path):
    store = build_index(unit_vectors(20, 16), rows(20), None, "m", "flat")
    with pytest.raises(IndexStoreError, match="seg00003.*twice"):
        store.add(unit_vectors(1, 16), [rows(20)[3]], "m")


def test_build_rejects_nan_vector_naming_segment(tmp_path):
    x = unit_vectors(10, 8)
    x[4, 2] = np.nan
    with pytest.raises(IndexStoreError, match="seg00004.*NaN"):
        build_index(x, rows(10), tmp_path / "idx", "m", "flat")
    assert not (tmp_path / "idx").exists()


def test_open_rejects_corrupt_index_file(tmp_path):
    build_index(unit_vectors(20, 8), rows(20), tmp_path / "idx", "m", "flat")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"\x00garbage bytes, not an index" * 10)
    with pytest.raises(IndexStoreError, match="index.faiss.*not a readable FAISS index.*rebuild"):
        IndexStore.open(tmp_path / "idx")


def test_open_rejects_segments_row_count_mismatch(tmp_path):
    build_index(unit_vectors(20, 8), rows(20), tmp_path / "idx", "m", "flat")
    seg = tmp_path / "idx" / "segments.tsv"
    seg.write_text("".join(seg.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(IndexStoreError, match="segments.tsv.*19 rows.*20 vectors"):
        IndexStore.open(tmp_path / "idx")


def test_open_rejects_missing_file_and_wrong_version(tmp_path):
    build_index(unit_vectors(20, 8), rows(20), tmp_path / "idx", "m", "flat")
    meta_path = tmp_path / "idx" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(IndexStoreError, match="format version 99"):
        IndexStore.open(tmp_path / "idx")
    meta_path.write_text("{not json")
    with pytest.raises(IndexStoreError, match="meta.json.*unreadable"):
        IndexStore.open(tmp_path / "idx")
    meta_path.unlink()
    with pytest.raises(IndexStoreError, match="meta.json: missing"):
        IndexStore.open(tmp_path / "idx")


def test_save_leaves_no_temporary_files(tmp_path):
    store = build_index(unit_vectors(30, 8), rows(30), tmp_path / "idx", "m", "hnsw")
    store.add(unit_vectors(3, 8, seed=5), rows(3, "n"), "m")
    store.save()
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [
        "current",  # -> gen-0002, the committed generation; gen-0001 (the build) is gone
        "gen-0002",
        "index.faiss",  # -> current/index.faiss, and so on
        "meta.json",
        "segments.tsv",
    ]
    assert sorted(p.name for p in (tmp_path / "idx" / "gen-0002").iterdir()) == [
        "index.faiss",
        "meta.json",
        "segments.tsv",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_search_rejects_query_of_wrong_dimension(tmp_path):
    store = build_index(unit_vectors(30, 8), rows(30), None, "m", "flat")
    with pytest.raises(IndexStoreError, match="8-dim"):
        store.search(unit_vectors(2, 9), top_k=3)


def test_unknown_parameter_is_refused():
    with pytest.raises(IndexStoreError, match="nprobe.*hnsw"):
        build_index(unit_vectors(30, 8), rows(30), None, "m", "hnsw", {"nprobe": 4})


def test_auto_picks_ivfpq_above_exact_limit_and_reopens_with_its_search_params(
    tmp_path, monkeypatch
):
    import faiss

    import speechseq.std.index as index_mod

    monkeypatch.setattr(index_mod, "AUTO_EXACT_MAX", 1000)
    build_index(unit_vectors(2000, 32), rows(2000), tmp_path / "idx", "m", "auto")
    store = IndexStore.open(tmp_path / "idx")
    assert store.meta["index_type"] == "ivfpq" and store.meta["params"]["refine"] == "flat"
    assert faiss.extract_index_ivf(store.index).nprobe == store.meta["params"]["nprobe"]
    assert store.index.k_factor == store.meta["params"]["k_factor"]


@pytest.mark.parametrize(
    "kind, params, tol",
    [
        ("flat", None, 1e-6),
        ("hnsw", None, 1e-6),
        ("ivfpq", None, 1e-6),
        ("ivfpq", {"refine": "none"}, 0.5),
    ],
)
def test_vectors_gives_back_the_stored_rows(tmp_path, kind, params, tol):
    x = unit_vectors(3000, 64, seed=3)
    build_index(x, rows(3000), tmp_path / "idx", "m", kind, params)
    store = IndexStore.open(tmp_path / "idx")
    got = store.vectors(np.array([[5, 2999], [-1, 7]]))
    assert got.shape == (2, 2, 64)
    assert np.abs(got[1, 0]).max() == 0.0  # -1: no row
    err = np.linalg.norm(got[[0, 0, 1], [0, 1, 1]] - x[[5, 2999, 7]], axis=1)
    assert err.max() <= tol  # pq codes: an approximation, not another row
    assert (err.max() > 0) == (tol > 1e-6)


def _query_and_cluster(dim=32, members=10):
    """A query near a tight cluster (its word, in other voices) but nearer one stray vector."""
    e = np.eye(dim, dtype=np.float32)
    noise = 0.05 * np.random.default_rng(4).standard_normal((members, dim)).astype(np.float32)
    cluster = e[0] + noise
    stray = 0.3 * e[0] + e[1]
    others = unit_vectors(200, dim, seed=5) * np.r_[0, 0, np.ones(dim - 2)].astype(np.float32)
    x = np.vstack([stray, cluster, others])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return e[0] + 0.9 * e[1], x


def test_expand_moves_the_query_to_its_neighbours_cluster(tmp_path):
    q, x = _query_and_cluster()
    store = build_index(x, rows(len(x)), None, "m", "flat")
    _, plain = store.search(q, top_k=11)
    assert plain[0, 0] == 0  # the stray vector is nearest the query itself
    scores, expanded = store.search(q, top_k=11, expand=3)
    assert sorted(expanded[0, :10]) == list(range(1, 11))  # every cluster member first
    assert expanded[0, 10] == 0 and np.all(np.diff(scores[0]) <= 0)
    s0, i0 = store.search(q, top_k=11, expand=0)
    assert np.array_equal(i0, plain)
    with pytest.raises(IndexStoreError, match="expand must be >= 0"):
        store.search(q, top_k=3, expand=-1)
