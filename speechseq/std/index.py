"""A FAISS index of segment embeddings, stored as a directory a person can open.

``IDX/`` holds three files (and ``embed.json``, how :mod:`speechseq.std.qbe` made the vectors):

- ``index.faiss``  the FAISS index; vector ``i`` is row ``i`` of ``segments.tsv``
- ``segments.tsv`` header ``segment_id<TAB>source<TAB>start_s<TAB>end_s``, one row per vector
- ``meta.json``    embedder identity, dimension, metric, index type and parameters, vector count,
  speechseq and faiss versions

They change together: each is a link into ``IDX/current/``, which links to the generation
``IDX/gen-NNNN/`` that holds them. Every save (``build``, ``add``) writes a new generation and
commits it with one rename (:class:`speechseq.fileio.FileSet`), so a save that is killed or
fails leaves the previous index whole, and :meth:`IndexStore.open` reads one generation.

Vectors are L2-normalised and compared by inner product, i.e. cosine similarity.

Choice of index (``index_type="auto"``): up to ``AUTO_EXACT_MAX`` (100k) vectors an exact
``IndexFlatIP``: a brute-force scan of 100k x 256 floats takes a few ms per query and needs
no tuning. Above that, IVF-PQ re-ranked exactly (``IndexIVFPQ`` inside ``IndexRefineFlat``):
nlist = 4*sqrt(N) inverted lists, 4-dim PQ sub-vectors of 8 bits, nprobe=32 lists searched,
the best 16*k PQ candidates re-scored with the exact vectors. On 1M synthetic clustered
256-dim vectors (``benchmarks/search.py``) it gave recall@10 0.96 at ~1,900 queries/s on one
core, built in ~130 s on 2 cores; HNSW (M=32, efConstruction=80) needed efSearch=256 for
recall@10 0.96 at only ~500 queries/s and took ~300 s to build. The price of IVF-PQ: its
coarse and PQ quantisers are trained on the first build's vectors, so ``add`` of much data
unlike them lowers recall (rebuild then); the refine stage keeps the raw vectors, so memory
is that of a flat index plus 64 bytes per vector. ``"hnsw"`` (``IndexHNSWFlat``, no
training) and ``"flat"`` can be asked for explicitly.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechseq import __version__
from speechseq.errors import SpeechseqError, where
from speechseq.fileio import FileSet, WriteFailed
from speechseq.std.nms import Hit

INDEX_FILE = "index.faiss"
SEGMENTS_FILE = "segments.tsv"
META_FILE = "meta.json"
SETTINGS_FILE = "embed.json"  # written by speechseq.std.qbe; carried over when an index grows
INDEX_NAMES = (INDEX_FILE, SEGMENTS_FILE, META_FILE, SETTINGS_FILE)
SEGMENTS_HEADER = ("segment_id", "source", "start_s", "end_s")
FORMAT_NAME = "speechseq-index"
FORMAT_VERSION = 1  # bump when the layout of the directory changes
METRIC = "inner_product"
INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
AUTO_EXACT_MAX = 100_000  # vectors; above this "auto" builds IVF-PQ + exact re-ranking

# Defaults per index type; a caller's ``params`` override them (unknown keys are refused).
DEFAULT_PARAMS: dict[str, dict] = {
    "flat": {},
    "hnsw": {"M": 32, "ef_construction": 80, "ef_search": 256},
    # nlist 0 = 4*sqrt(N) (capped so every list gets >= 39 training points);
    # m 0 = the largest divisor of D that is <= D/4 (4-dim sub-vectors, 64 bytes at D=256);
    # refine "flat" re-ranks k_factor*k PQ candidates exactly, "none" returns PQ scores.
    "ivfpq": {
        "nlist": 0,
        "m": 0,
        "nbits": 8,
        "nprobe": 32,
        "refine": "flat",
        "k_factor": 16,
        "train_size": 100_000,
    },
}


class IndexStoreError(SpeechseqError):
    """An index directory that cannot be built, read or extended."""


@dataclass(frozen=True)
class SegmentRow:
    """The audio span one indexed vector stands for."""

    segment_id: str
    source: str  # recording / utterance id
    start_s: float  # seconds from the start of ``source``
    end_s: float  # seconds


def _faiss():
    import faiss  # heavy-ish import, kept out of module import time

    return faiss


def normalise_rows(vectors, segments: Sequence[SegmentRow] | None = None, what: str = "vectors"):
    """Return ``vectors: [N, D]`` as contiguous float32 with unit L2 norm per row.

    A row with NaN/inf or zero norm is refused, naming its segment (or row number).
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise IndexStoreError(
            f"{what}: expected a [N, D] array, got shape {x.shape}; pass one vector per row"
        )
    norms = np.linalg.norm(x, axis=1)
    bad = ~np.isfinite(norms) | (norms == 0.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        name = f"segment '{segments[i].segment_id}'" if segments is not None else f"row {i}"
        kind = "contains NaN or inf" if not np.isfinite(norms[i]) else "is all zeros"
        raise IndexStoreError(
            f"{what}: the vector of {name} {kind} ({int(bad.sum())} bad rows in all); "
            "check the embedder's output for that segment (e.g. an empty or silent segment) "
            "and re-embed or drop it"
        )
    return np.ascontiguousarray(x / norms[:, None])


def _resolve_params(index_type: str, n: int, dim: int, params: dict | None) -> tuple[str, dict]:
    if index_type not in INDEX_TYPES:
        raise IndexStoreError(
            f"index type '{index_type}' is unknown; use one of {', '.join(INDEX_TYPES)}"
        )
    if index_type == "auto":
        index_type = "flat" if n <= AUTO_EXACT_MAX else "ivfpq"
    resolved = dict(DEFAULT_PARAMS[index_type])
    unknown = sorted(set(params or {}) - set(resolved))
    if unknown:
        raise IndexStoreError(
            f"index parameters {unknown} do not apply to a '{index_type}' index; "
            f"its parameters are {sorted(resolved) or 'none'}"
        )
    resolved.update(params or {})
    if index_type == "ivfpq":
        if resolved["refine"] not in ("flat", "none"):
            raise IndexStoreError(
                f"ivfpq refine '{resolved['refine']}' is unknown; use 'flat' or 'none'"
            )
        if not resolved["nlist"]:
            resolved["nlist"] = max(1, min(int(4 * math.sqrt(n)), n // 39))
        if not resolved["m"]:
            resolved["m"] = max(d for d in range(1, max(1, dim // 4) + 1) if dim % d == 0)
        if dim % resolved["m"]:
            raise IndexStoreError(
                f"ivfpq m={resolved['m']} does not divide the dimension {dim}; pick a divisor of {dim}"
            )
        if n < resolved["nlist"]:
            raise IndexStoreError(
                f"an ivfpq index with nlist={resolved['nlist']} needs at least that many vectors to train, "
                f"got {n}; lower nlist or use index type 'flat'"
            )
        # fewer than 39 points per PQ centroid trains badly: shrink the codebooks on small data
        resolved["nbits"] = int(min(resolved["nbits"], max(1, int(math.log2(max(2, n // 39))))))
    return index_type, resolved


def _new_index(index_type: str, dim: int, p: dict):
    faiss = _faiss()
    if index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(p["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(p["ef_construction"])
        return index
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(
        quantizer, dim, int(p["nlist"]), int(p["m"]), int(p["nbits"]), faiss.METRIC_INNER_PRODUCT
    )
    if p["refine"] == "flat":
        return faiss.IndexRefineFlat(index)  # the Python wrapper keeps index/quantizer alive
    return index


def _apply_search_params(index, index_type: str, p: dict) -> None:
    faiss = _faiss()
    if index_type == "hnsw":
        index.hnsw.efSearch = int(p["ef_search"])
    elif index_type == "ivfpq":
        faiss.extract_index_ivf(index).nprobe = int(p["nprobe"])
        if p["refine"] == "flat":
            index.k_factor = float(p["k_factor"])


def _train(index, index_type: str, x: np.ndarray, p: dict) -> None:
    if index_type != "ivfpq":
        return
    n = min(len(x), int(p["train_size"]))
    sample = x if n == len(x) else x[np.random.default_rng(0).choice(len(x), n, replace=False)]
    index.train(sample)


def _check_segments(segments: Sequence[SegmentRow], n: int, seen: set[str] | None = None) -> None:
    if len(segments) != n:
        raise IndexStoreError(
            f"got {n} vectors but {len(segments)} segment rows; pass one SegmentRow per vector"
        )
    seen = set() if seen is None else set(seen)
    for s in segments:
        if s.segment_id in seen:
            raise IndexStoreError(
                f"segment id '{s.segment_id}' occurs twice; segment ids must be unique in an index"
            )
        if any(c in s.segment_id + s.source for c in "\t\n"):
            raise IndexStoreError(
                f"segment '{s.segment_id}' (source '{s.source}'): ids must not contain tabs or newlines"
            )
        if not (math.isfinite(s.start_s) and math.isfinite(s.end_s)) or s.end_s < s.start_s:
            raise IndexStoreError(
                f"segment '{s.segment_id}': span {s.start_s}..{s.end_s} s is not a valid time span; end_s must be >= start_s"
            )
        seen.add(s.segment_id)


def index_files(directory: str | os.PathLike) -> FileSet:
    """The files of an index directory as one :class:`FileSet` (committed together)."""
    return FileSet(Path(directory), INDEX_NAMES, ".", "index")


class IndexStore:
    """An index directory in memory: the FAISS index, its segment rows and its metadata."""

    def __init__(
        self,
        index,
        segments: list[SegmentRow],
        meta: dict,
        directory: Path | None = None,
        generation: Path | None = None,
        files: dict[str, Path] | None = None,
    ):
        self.index = index  # the CPU faiss index (saved, extended)
        self.segments = segments  # row i describes vector i
        self.meta = meta
        self.directory = directory
        self.generation = generation  # the committed generation it was read from or saved as
        self.files = files or {}  # name -> the file of that generation (e.g. embed.json)
        self._gpu_index = None  # lazily made search copy on a GPU, dropped on add

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def embedder_id(self) -> str:
        return str(self.meta["embedder_id"])

    def __len__(self) -> int:
        return int(self.index.ntotal)

    # -- reading ---------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike) -> IndexStore:
        """Read the committed generation of an index directory, checking that its files agree."""
        directory = Path(directory)
        committed = index_files(directory).committed()
        files = committed.paths
        for name in (INDEX_FILE, SEGMENTS_FILE, META_FILE):
            if name not in files:
                raise IndexStoreError(
                    f"{where(directory / name)}: missing; an index directory needs {INDEX_FILE}, "
                    f"{SEGMENTS_FILE} and {META_FILE}: build it with 'speechseq index'"
                )
        meta = _read_meta(files[META_FILE], directory / META_FILE)
        segments = _read_segments(files[SEGMENTS_FILE], directory / SEGMENTS_FILE)
        try:
            index = _faiss().read_index(str(files[INDEX_FILE]))
        except Exception as err:  # faiss raises RuntimeError with its C++ message
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise IndexStoreError(
                f"{where(directory / INDEX_FILE)}: not a readable FAISS index ({first}); "
                "the file is corrupt or truncated: rebuild the index"
            ) from None
        if index.d != int(meta["dim"]):
            raise IndexStoreError(
                f"{where(directory / INDEX_FILE)}: holds {index.d}-dim vectors but {META_FILE} says {meta['dim']}; "
                "the files come from different builds: rebuild the index"
            )
        if index.ntotal != len(segments):
            raise IndexStoreError(
                f"{where(directory / SEGMENTS_FILE)}: has {len(segments)} rows but {INDEX_FILE} holds "
                f"{index.ntotal} vectors; the files come from different builds (or a save was interrupted): "
                "rebuild the index"
            )
        _apply_search_params(index, meta["index_type"], meta["params"])
        return cls(index, segments, meta, directory, committed.generation, files)

    # -- searching -------------------------------------------------------------------------
    def _search_index(self):
        faiss = _faiss()
        if (
            self.meta["index_type"] == "hnsw"
            or not hasattr(faiss, "get_num_gpus")
            or faiss.get_num_gpus() == 0
        ):
            return self.index
        if self._gpu_index is None:
            try:
                self._gpu_index = faiss.index_cpu_to_all_gpus(self.index)
            except Exception:  # an index type the GPU build cannot hold: search on the CPU
                self._gpu_index = self.index
        return self._gpu_index

    def search(self, queries, top_k: int = 10, expand: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Nearest segments of each query by cosine similarity.

        ``queries: [Q, D]`` (normalised here). Returns ``scores: [Q, k]`` float32 (cosine,
        best first) and ``indices: [Q, k]`` int64 rows of :attr:`segments`, with
        ``k = min(top_k, len(self))``. Approximate indexes may return index -1 (score -inf)
        in trailing slots when they find fewer than k candidates.

        ``expand``: average query expansion, a pseudo-relevance feedback (Chum et al. 2007): each
        query is searched once, replaced by the normalised sum of itself and its ``expand``
        nearest stored vectors, and searched again; the second search's hits come back. The
        nearest hits of a spoken query mostly hold its word in other voices, so their mean moves
        the query towards the word and away from its speaker.
        """
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise IndexStoreError(
                f"queries have shape {q.shape} but the index holds {self.dim}-dim vectors; "
                "embed the queries with the model that built the index"
            )
        q = normalise_rows(q, what="queries")
        if top_k < 1:
            raise IndexStoreError(f"top_k must be >= 1, got {top_k}")
        k = min(int(top_k), len(self))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if expand < 0:
            raise IndexStoreError(f"expand must be >= 0, got {expand}")
        if expand:
            _, nearest = self._search_index().search(q, min(int(expand), len(self)))
            kept = (nearest >= 0)[..., None]  # an approximate index may return fewer
            q = normalise_rows(q + (self.vectors(nearest) * kept).sum(axis=1), what="queries")
        scores, indices = self._search_index().search(q, k)
        scores = np.where(indices < 0, -np.inf, scores).astype(np.float32)
        return scores, indices.astype(np.int64)

    def vectors(self, indices) -> np.ndarray:
        """The stored vectors of rows ``indices`` (any shape; -1 gives zeros): ``[..., D]``
        float32. An ivfpq index gives its codes' approximation, or the exact vectors of its
        flat refinement when it has one."""
        ids = np.asarray(indices, dtype=np.int64)
        flat = ids.reshape(-1)
        out = np.zeros((len(flat), self.dim), np.float32)
        ok = flat >= 0
        if ok.any():
            if self.meta["index_type"] == "ivfpq" and self.meta["params"].get("refine") != "flat":
                ivf = _faiss().extract_index_ivf(self.index)
                if ivf.direct_map.type == ivf.direct_map.NoMap:  # made once, kept up on add
                    ivf.make_direct_map()
            out[ok] = self.index.reconstruct_batch(flat[ok])
        return out.reshape(*ids.shape, self.dim)

    def hits(self, scores: np.ndarray, indices: np.ndarray) -> list[list[Hit]]:
        """Turn one :meth:`search` result into :class:`Hit` lists, one per query (best first)."""
        out = []
        for row_scores, row_indices in zip(scores, indices, strict=True):
            row = []
            for score, i in zip(row_scores, row_indices, strict=True):
                if i < 0:
                    continue
                s = self.segments[int(i)]
                row.append(Hit(s.source, s.start_s, s.end_s, float(score), s.segment_id))
            out.append(row)
        return out

    # -- extending and saving --------------------------------------------------------------
    def add(self, vectors, segments: Sequence[SegmentRow], embedder_id: str) -> None:
        """Append vectors (and their segment rows) without rebuilding; call :meth:`save` after."""
        if embedder_id != self.embedder_id:
            raise IndexStoreError(
                f"index {self.directory or ''} was built by another embedder ('{self.embedder_id}'), "
                f"these vectors come from '{embedder_id}'; vectors of different models are not comparable: "
                "embed with the same model or rebuild the index"
            )
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise IndexStoreError(
                f"vectors have shape {x.shape} but the index holds {self.dim}-dim vectors "
                "(built by another embedder); embed with the same model or rebuild the index"
            )
        x = normalise_rows(x, segments)
        _check_segments(segments, len(x), seen={s.segment_id for s in self.segments})
        self.index.add(x)
        self._gpu_index = None
        self.segments.extend(segments)
        self.meta["num_vectors"] = int(self.index.ntotal)

    def save(
        self, directory: str | os.PathLike | None = None, extra: dict[str, str] | None = None
    ) -> Path:
        """Write the index, its segment rows and meta.json (and ``extra`` files) as one commit.

        The files go into a new generation of ``directory`` that replaces the committed one
        with one rename. Saving back to the directory the store was opened from keeps its
        other files (embed.json) and is refused if another save committed there since.
        """
        directory = Path(directory) if directory is not None else self.directory
        if directory is None:
            raise IndexStoreError("this index has no directory yet; pass one to save()")
        same = self.directory is not None and directory == self.directory
        files = index_files(directory)
        self.meta["num_vectors"] = int(self.index.ntotal)
        try:
            with files.write(carry=[SETTINGS_FILE] if same else ()) as gen:
                if same and files.current() != self.generation:
                    raise IndexStoreError(
                        f"{directory}: changed since it was opened (another 'speechseq index add' saved "
                        "there meanwhile); nothing was saved: run this command again"
                    )
                _write_faiss(self.index, gen / INDEX_FILE)
                with open(gen / SEGMENTS_FILE, "w", encoding="utf-8") as f:
                    f.write("\t".join(SEGMENTS_HEADER) + "\n")
                    for s in self.segments:
                        f.write(f"{s.segment_id}\t{s.source}\t{s.start_s:.3f}\t{s.end_s:.3f}\n")
                with open(gen / META_FILE, "w", encoding="utf-8") as f:
                    json.dump(self.meta, f, indent=2, sort_keys=True)
                    f.write("\n")
                for name, text in (extra or {}).items():
                    (gen / name).write_text(text, encoding="utf-8")
        except WriteFailed as err:
            raise IndexStoreError(str(err)) from None
        committed = files.committed()
        self.directory, self.generation, self.files = (
            directory,
            committed.generation,
            committed.paths,
        )
        return directory


def build_index(
    vectors,
    segments: Sequence[SegmentRow],
    out_dir: str | os.PathLike | None,
    embedder_id: str,
    index_type: str = "auto",
    params: dict | None = None,
    extra: dict[str, str] | None = None,
) -> IndexStore:
    """Build an index of ``vectors: [N, D]`` (row i = ``segments[i]``) and save it to ``out_dir``.

    ``embedder_id`` is an opaque string naming the model that made the vectors (e.g. its
    directory and a hash of its final.pt); :meth:`IndexStore.add` refuses vectors from any
    other. ``params`` override :data:`DEFAULT_PARAMS` of the chosen type. The files (and
    ``extra``: name -> text, saved beside them) replace an existing index in ``out_dir`` with
    one commit (:meth:`IndexStore.save`). ``out_dir=None`` builds in memory only.
    """
    faiss = _faiss()
    segments = list(segments)
    x = normalise_rows(vectors, segments)
    _check_segments(segments, len(x))
    n, dim = x.shape
    resolved_type, p = _resolve_params(index_type, n, dim, params)
    index = _new_index(resolved_type, dim, p)
    _train(index, resolved_type, x, p)
    index.add(x)
    _apply_search_params(index, resolved_type, p)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "speechseq_version": __version__,
        "faiss_version": getattr(faiss, "__version__", "unknown"),
        "embedder_id": embedder_id,
        "dim": int(dim),
        "metric": METRIC,
        "index_type": resolved_type,
        "requested_index_type": index_type,
        "params": p,
        "num_vectors": int(index.ntotal),
    }
    store = IndexStore(index, segments, meta)
    if out_dir is not None:
        store.save(out_dir, extra)
    return store


# -- file helpers ----------------------------------------------------------------------------
def _write_faiss(index, path: Path) -> None:
    """``faiss.write_index``, its failures as the OSError they are (disk full, I/O error)."""
    try:
        _faiss().write_index(index, str(path))
    except RuntimeError as err:  # faiss reports a failed fwrite with strerror in the text
        code = errno.ENOSPC if os.strerror(errno.ENOSPC) in str(err) else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from err


def _read_meta(file: Path, path: Path) -> dict:
    """meta.json read from ``file`` (a generation's); messages name ``path`` (the visible name)."""
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IndexStoreError(f"{where(path)}: unreadable ({err}); rebuild the index") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise IndexStoreError(
            f'{where(path)}: not a speechseq index meta file (no "format": "{FORMAT_NAME}"); rebuild the index'
        )
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexStoreError(
            f"{where(path)}: index format version {version}, this speechseq (version {__version__}) reads "
            f"version {FORMAT_VERSION}; rebuild the index with this speechseq"
        )
    missing = [k for k in ("embedder_id", "dim", "metric", "index_type", "params") if k not in meta]
    if missing:
        raise IndexStoreError(f"{where(path)}: lacks {missing}; rebuild the index")
    if meta["metric"] != METRIC or meta["index_type"] not in INDEX_TYPES[1:]:
        raise IndexStoreError(
            f"{where(path)}: metric '{meta['metric']}' / index type '{meta['index_type']}' is not one this "
            f"speechseq reads ({METRIC}; {', '.join(INDEX_TYPES[1:])}); rebuild the index"
        )
    return meta


def _read_segments(file: Path, path: Path) -> list[SegmentRow]:
    rows: list[SegmentRow] = []
    with open(file, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if tuple(header) != SEGMENTS_HEADER:
            raise IndexStoreError(
                f"{where(path, 1)}: header is {header}, expected {'<TAB>'.join(SEGMENTS_HEADER)}; rebuild the index"
            )
        for lineno, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            try:
                if len(fields) != 4:
                    raise ValueError(f"{len(fields)} fields")
                rows.append(SegmentRow(fields[0], fields[1], float(fields[2]), float(fields[3])))
            except ValueError as err:
                raise IndexStoreError(
                    f"{where(path, lineno)}: expected 'segment_id<TAB>source<TAB>start_s<TAB>end_s' ({err}); "
                    "fix the line or rebuild the index"
                ) from None
    return rows
