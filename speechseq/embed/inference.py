"""Embedding audio with a trained segment embedder: folders or data dirs in, vectors out.

``embed_audio`` writes ``VECS/vectors.npy`` (float32 ``[N, dim]``, L2-normalised),
``VECS/segments.tsv`` (segment_id, source, start_s, end_s) and ``VECS/meta.json``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechseq import __version__
from speechseq.core.batching import FeatDataset, make_loader
from speechseq.core.loading import load_experiment
from speechseq.data.audio import MIX, Channel, read_audio, read_spec
from speechseq.data.kaldi_dir import DataDir, read_ctm, read_segments
from speechseq.embed.model import EmbedConfig, SegmentEncoder
from speechseq.embed.segments import (
    SegmentReader,
    SegmentSpec,
    check_speech,
    ctm_segments,
    parse_widths,
    segment_cmvn,
    trim_silence,
    vad_segments,
    window_segments,
    write_vectors,
)
from speechseq.errors import SpeechseqError, UsageError
from speechseq.features.frontend import FrontEnd
from speechseq.features.reader import ArrayReader
from speechseq.progress import progress_bar


@dataclass
class LoadedEmbedder:
    exp: Path
    cfg: EmbedConfig
    model: SegmentEncoder  # an autoencoder or a contrastive embedder: the same embed()
    frontend: FrontEnd  # audio -> the model's features (segment normalisation is the reader's)
    device: torch.device
    embedder_id: str  # model dir + hash of its weights: an index refuses vectors from another

    @property
    def feat_cfg(self):
        """The model's feature settings (speechseq.features.FeatureConfig)."""
        return self.frontend._cfg()


def load_embedder(
    exp_dir: str | os.PathLike, device: str = "auto", quiet: bool = True
) -> LoadedEmbedder:
    ex = load_experiment(Path(exp_dir).resolve(), device, task="embed", quiet=quiet)
    _ = ex.frontend.sample_rate  # a model dir without feats.yaml fails here, not at the first file
    return LoadedEmbedder(
        ex.path, ex.task.cfg, ex.model, ex.frontend, ex.device, f"{ex.path}@{ex.weights_digest}"
    )


@torch.no_grad()
def embed_reader(
    m: LoadedEmbedder, reader, max_frames: int = 40000, progress: bool = False
) -> np.ndarray:
    """Vectors ``[len(reader), dim]`` in ``reader.utt_ids`` order (batched; a progress bar on request).

    The ids must be unique; every row is filled (a row left over would be a zero vector).
    """
    ids = list(reader.utt_ids)
    pos = {u: k for k, u in enumerate(ids)}
    if len(pos) != len(ids):
        dup = next(u for k, u in enumerate(ids) if pos[u] != k)
        raise SpeechseqError(
            f"segment id '{dup}' occurs {ids.count(dup)} times — segment ids must be unique; "
            "rename the sources or segments that share it"
        )
    out = np.zeros((len(ids), m.cfg.embed.dim), dtype=np.float32)
    filled = np.zeros(len(ids), dtype=bool)
    with progress_bar("embed", enabled=progress) as bar:
        task = bar.add_task("segments", total=len(ids))
        for batch in make_loader(FeatDataset(reader, ids), max_frames, shuffle=False):
            _embed_batch(m, batch, out, pos)
            filled[[pos[u] for u in batch["utt_ids"]]] = True
            bar.update(task, advance=len(batch["utt_ids"]))
    missing = np.flatnonzero(~filled)
    if missing.size:  # a batching bug, not the user's: say which, rather than return garbage
        raise RuntimeError(
            f"no vector was made for segment '{ids[missing[0]]}' ({missing.size} in all)"
        )
    return out


@torch.no_grad()
def _embed_batch(m: LoadedEmbedder, batch: dict, out: np.ndarray, pos: dict[str, int]) -> None:
    """Write the vectors of one batch into their rows of ``out``."""
    z = (
        m.model.embed(batch["feats"].to(m.device), batch["lengths"].to(m.device))
        .float()
        .cpu()
        .numpy()
    )
    for k, u in enumerate(batch["utt_ids"]):
        out[pos[u]] = z[k]


def embed_features(m: LoadedEmbedder, feats: list[np.ndarray]) -> np.ndarray:
    """Vectors for whole feature sequences (e.g. trimmed queries), each normalised over itself."""

    reader = ArrayReader({f"{k:08d}": segment_cmvn(f) for k, f in enumerate(feats)})
    return embed_reader(m, reader)


def audio_files(folder: Path) -> list[Path]:
    """Audio files below ``folder`` (any extension soundfile reads), sorted."""
    exts = {"." + e.lower() for e in sf.available_formats()} | {".wav", ".flac", ".ogg", ".mp3"}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise SpeechseqError(
            f"{folder}: no audio files found (looked for {', '.join(sorted(exts)[:8])}, ...) — give a folder of audio or a data dir"
        )
    return files


class Sources:
    """Recordings to embed: the utterances of a data dir or the files of a folder.

    ``feats(source) -> [T, C]`` (model feature settings), ``audio(source) -> samples``.
    ``channel`` reads multi-channel audio (an index, or ``"mix"``: the average); a data dir's
    reco2file_and_channel chooses for the recordings it lists.
    """

    def __init__(self, path: Path, frontend: FrontEnd, channel: Channel = MIX):
        self.path, self.frontend, self.channel = path, frontend, channel
        self.sample_rate = frontend.sample_rate
        self.data = DataDir(path) if (path / "wav.scp").is_file() else None
        if self.data is not None:
            self.ids = self.data.utt_ids
        elif path.is_dir():
            self.files = {str(p.relative_to(path)): p for p in audio_files(path)}
            self.ids = list(self.files)
        else:
            raise SpeechseqError(f"{path}: not a folder of audio or a data dir — give one of them")
        self._frames: dict[str, int] = {}

    def audio(self, source: str) -> np.ndarray:
        if self.data is not None:
            return read_spec(
                self.data.audio_spec(source, self.channel), self.sample_rate, what=source
            )
        path = self.files[source]
        return read_audio(path, self.sample_rate, channel=self.channel, what=str(path))

    def feats(self, source: str) -> np.ndarray:
        f = self.frontend.normalise(self.frontend.audio_features(self.audio(source)))
        self._frames[source] = f.shape[0]
        return f


def segments_for(
    sources: Sources, how: str, widths_s: list[float], hop_s: float, ctm_path: str | None
) -> tuple[list[SegmentSpec], dict[str, np.ndarray]]:
    """Candidate segments of every source, and the sources' features (computed once)."""
    feats = {s: sources.feats(s) for s in sources.ids}
    if how == "window":
        segs = [
            seg
            for s in sources.ids
            for seg in window_segments(s, feats[s].shape[0] * 0.01, widths_s, hop_s)
        ]
    elif how == "vad":
        segs = [
            seg
            for s in sources.ids
            for seg in vad_segments(s, sources.audio(s), sources.sample_rate)
        ]
    elif how == "ctm":
        path = Path(ctm_path) if ctm_path else (sources.path / "ctm")
        entries = [e for e in read_ctm(path) if e.utt in feats]
        segs, _ = ctm_segments(entries)
    elif how == "segments":
        path = Path(ctm_path) if ctm_path else (sources.path / "segments")
        table = read_segments(path)
        unknown = sorted({seg.reco for seg in table.values()} - set(feats))
        if unknown:
            raise SpeechseqError(
                f"{path}: recording '{unknown[0]}' ({len(unknown)} in all) is not among the audio of {sources.path} — "
                f"use its utterance id (data dir) or path relative to the folder"
            )
        segs = [SegmentSpec(sid, seg.reco, seg.start_s, seg.end_s) for sid, seg in table.items()]
    else:
        raise UsageError(f"--segments {how}: use window, vad, ctm or segments")
    # grouped by source in the sources' order (a data dir's C order), each source's segments as
    # found: the order the parts of a split data dir, embedded apart, are merged in
    order = {s: k for k, s in enumerate(sources.ids)}
    segs.sort(key=lambda seg: order[seg.source])
    if not segs:
        raise SpeechseqError(
            f"{sources.path}: no candidate segments — check the audio or choose another --segments"
        )
    _check_unique(segs, sources.path)
    return segs, feats


def _check_unique(segs: list[SegmentSpec], where: Path) -> None:
    """One segment id per span: ids name index rows, and a repeat would lose a vector."""
    first: dict[str, SegmentSpec] = {}
    for seg in segs:
        other = first.setdefault(seg.segment_id, seg)
        if other is not seg:
            raise SpeechseqError(
                f"{where}: segment id '{seg.segment_id}' is given to {other.source} "
                f"{other.start_s:.3f}-{other.end_s:.3f} s and to {seg.source} {seg.start_s:.3f}-{seg.end_s:.3f} s "
                "— rename one of the recordings (ids replace '/' and ' ' by '_') or fix the segments file"
            )


def embed_audio(
    exp_dir,
    audio: str | os.PathLike,
    out_dir: str | os.PathLike,
    segments: str = "window",
    widths: str | None = None,
    hop_s: float | None = None,
    ctm: str | None = None,
    device: str = "auto",
    channel: Channel = MIX,
) -> dict:
    """Embed every candidate segment of ``audio``; returns the summary written to meta.json.

    ``channel``: which channel of multi-channel audio (an index, or ``"mix"``: the average).
    """
    m = load_embedder(exp_dir, device)
    widths_s = parse_widths(widths or m.cfg.embed.window_s)
    hop = hop_s if hop_s is not None else m.cfg.embed.hop_s
    t0 = time.perf_counter()
    sources = Sources(Path(audio), m.frontend, channel)
    segs, feats = segments_for(sources, segments, widths_s, hop, ctm)
    reader = SegmentReader(feats.__getitem__, segs, {s: f.shape[0] for s, f in feats.items()})
    vectors = embed_reader(m, reader, progress=True)
    elapsed = time.perf_counter() - t0
    audio_s = sum(f.shape[0] for f in feats.values()) * 0.01
    meta = {
        "embedder_id": m.embedder_id,
        "model": str(m.exp),
        "dim": int(vectors.shape[1]),
        "count": int(vectors.shape[0]),
        "audio": str(Path(audio).resolve()),
        "segments": segments,
        "window_s": widths_s if segments == "window" else None,
        "hop_s": hop if segments == "window" else None,
        "channel": channel,
        "features": dataclasses.asdict(m.feat_cfg),
        "audio_s": round(audio_s, 2),
        "seconds": round(elapsed, 2),
        "audio_s_per_s": round(audio_s / max(elapsed, 1e-9), 1),
        "speechseq": __version__,
    }
    write_vectors(out_dir, vectors, segs, meta)
    print(
        f"embedded {len(segs)} segments of {len(sources.ids)} recordings ({audio_s:.1f} s audio) in {elapsed:.1f} s: "
        f"{meta['audio_s_per_s']} s audio/s",
        file=sys.stderr,
    )
    return meta


def read_queries(m: LoadedEmbedder, files: list[str], channel: Channel = MIX) -> list[np.ndarray]:
    """The spoken queries' audio at the embedder's rate; a missing or unreadable file, or one
    without speech (silent or near-silent audio), is an error naming it."""
    sr = m.frontend.sample_rate
    return [check_speech(read_audio(f, sr, channel=channel), str(f)) for f in files]


def query_vectors(m: LoadedEmbedder, audio: list[np.ndarray]) -> np.ndarray:
    """Embed spoken queries (:func:`read_queries`), silence trimmed."""
    sr = m.frontend.sample_rate
    return embed_features(m, [m.frontend.audio_features(trim_silence(x, sr)) for x in audio])
