"""``compute_feats``: features for every utterance of a data dir, stored as Kaldi ark/scp.

Writes (all or nothing):

==============================  ==========================================================
DATA/feats.scp                  ``utt /abs/path/raw_<type>.<k>.ark:offset`` (C order)
DATA/utt2num_frames             ``utt T``
DATA/cmvn.ark                   CMVN stats ``[2, C + 1]`` per speaker and under ``<global>``
DATA/conf/feats.yaml            the :class:`FeatureConfig` used
DATA/bad_utts                   ``utt reason`` for utterances skipped with ``skip_bad``
DATA/feats/gen-NNNN/            the arks ``raw_<type>.<k>.ark`` (float32 ``[T, C]``, one per
                                job, k = 1..N) and the files above, one directory per run
DATA/feats/current              link to the committed generation
==============================  ==========================================================

The top-level files are links into ``DATA/feats/current/`` (see
:mod:`speechseq.features.files`): a run builds a new generation and commits it with one
rename, so a run that is killed or fails at any point leaves the previous features (or
none) whole, and the next stage never reads half a result. The next run removes what a
killed one left, and a successful run removes the previous generation.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kaldiio
import kaldiio.matio
import numpy as np
import torch

from speechseq.data.audio import MIX, AudioSpec, Channel, audio_header, read_spec
from speechseq.data.kaldi_dir import DataDir, c_sorted
from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY, cmvn_stats
from speechseq.features.config import CONFIG_NAME, FeatureConfig, feature_config_text
from speechseq.features.files import feature_files, referenced_arks
from speechseq.features.kaldi import compute_features, dither_seed, num_frames
from speechseq.fileio import WriteFailed
from speechseq.parallel import process_map
from speechseq.progress import progress_bar

KALDI_AUTO_COMPRESSION = 1  # kaldiio / Kaldi kAutomaticMethod (copy-feats --compress=true)


@dataclass
class FeatsSummary:
    num_utts: int  # utterances with features
    num_frames: int  # frames over all of them
    audio_s: float  # seconds of audio featurised
    elapsed_s: float  # wall-clock seconds of the run
    dim: int  # feature dimension C
    feats_scp: Path
    bad: list[tuple[str, str]] = field(default_factory=list)  # (utt, reason) skipped with skip_bad

    @property
    def real_time_factor(self) -> float:
        """Seconds of compute per second of audio."""
        return self.elapsed_s / self.audio_s if self.audio_s > 0 else 0.0


@dataclass(frozen=True)
class AudioItem:
    utt: str
    audio: AudioSpec  # wav.scp entry, span and channel


_worker_cfg: FeatureConfig | None = None


def _init_worker(cfg: FeatureConfig) -> None:
    global _worker_cfg
    torch.set_num_threads(1)
    _worker_cfg = cfg


def audio_features(utt: str, audio: AudioSpec, cfg: FeatureConfig) -> tuple[np.ndarray, float]:
    """``(feats [T, C], audio seconds)`` of one utterance, exactly as compute-feats stores them
    (resampled to ``cfg.sample_rate``, dither seeded from ``(cfg.seed, utt)``). Training on the
    fly calls this in the data-loader workers."""
    x = read_spec(audio, target_sr=cfg.sample_rate, what=utt)
    feats = compute_features(x, cfg, seed=dither_seed(cfg.seed, utt), what=utt)
    return feats, len(x) / cfg.sample_rate


def expected_samples(utt: str, audio: AudioSpec, sample_rate: int) -> int:
    """Samples ``read_spec(audio, target_sr=sample_rate)`` gives, from the audio's header alone
    (a pipe is run): the span's samples at the file's rate, resampled as soxr does (the exact
    ratio, rounded half up)."""
    sr, total, _ = audio_header(audio.entry, utt)
    start = int(round(audio.start_s * sr))
    stop = min(int(round(audio.end_s * sr)), total) if audio.end_s is not None else total
    n = max(0, stop - start)
    return n if sr == sample_rate else (2 * n * sample_rate + sr) // (2 * sr)


def expected_frames(utt: str, audio: AudioSpec, cfg: FeatureConfig) -> int:
    """Frames :func:`audio_features` will give for ``utt``, from the audio's header alone."""
    return num_frames(expected_samples(utt, audio, cfg.sample_rate), cfg)


def _featurise(item: AudioItem) -> tuple[str, np.ndarray | None, str | None, float]:
    """``(utt, feats [T, C] or None, error message or None, audio seconds)`` for one utterance."""
    try:
        feats, seconds = audio_features(item.utt, item.audio, _worker_cfg)
    except SpeechseqError as e:
        return item.utt, None, str(e), 0.0
    return item.utt, feats, None, seconds


def audio_items(data: DataDir, channel: Channel = MIX) -> list[AudioItem]:
    """One work item per utterance of utt2spk (C order), checked against wav.scp/segments;
    ``channel`` for recordings reco2file_and_channel does not list."""
    utt2spk = data.utt2spk
    if GLOBAL_KEY in utt2spk.values():
        raise SpeechseqError(
            f"{data.file('utt2spk')}: speaker id '{GLOBAL_KEY}' is reserved for the global CMVN statistics — rename the speaker"
        )
    segs, wav = data.segments, data.wav_scp
    items = []
    for utt in c_sorted(utt2spk):
        if segs is not None:
            if utt not in segs:
                raise SpeechseqError(
                    f"{data.file('segments')}: utterance '{utt}' of utt2spk has no segment — add it, or run "
                    f"`speechseq data fix {data.path}` to drop it"
                )
            if segs[utt].reco not in wav:
                raise SpeechseqError(
                    f"{data.file('segments')}: recording '{segs[utt].reco}' of utterance '{utt}' is not in wav.scp — "
                    f"add it to wav.scp or fix the segment"
                )
        elif utt not in wav:
            raise SpeechseqError(
                f"{data.file('wav.scp')}: utterance '{utt}' of utt2spk has no audio — add it to wav.scp, or run "
                f"`speechseq data fix {data.path}` to drop it"
            )
        items.append(AudioItem(utt, data.audio_spec(utt, channel)))
    if not items:
        raise SpeechseqError(
            f"{data.file('utt2spk')}: no utterances — nothing to compute features for"
        )
    return items


def audio_cmvn_stats(
    items: list[AudioItem], utt2spk: dict[str, str], cfg: FeatureConfig, num_jobs: int = 1
) -> dict[str, np.ndarray]:
    """CMVN statistics ``[2, C + 1]`` per speaker and under GLOBAL_KEY of the features of
    ``items`` computed from their audio, as compute-feats writes them to cmvn.ark: the one
    pass over the audio that speaker or global CMVN needs when features are computed on the
    fly. An utterance that cannot be featurised is an error naming it."""
    stats: dict[str, np.ndarray] = {}
    num_jobs = max(1, min(int(num_jobs), len(items)))
    with _results(items, cfg, num_jobs) as results:
        for utt, feats, error, _ in results:
            if error is not None:
                raise SpeechseqError(error)
            spk = utt2spk[utt]
            s = cmvn_stats(feats)
            stats[spk] = stats[spk] + s if spk in stats else s
    out = {spk: stats[spk] for spk in c_sorted(stats)}
    out[GLOBAL_KEY] = sum(stats.values())
    return out


@contextlib.contextmanager
def _results(items: list[AudioItem], cfg: FeatureConfig, num_jobs: int) -> Iterator[Iterator]:
    """Results of :func:`_featurise` in the order of ``items``, from ``num_jobs`` processes."""
    if num_jobs <= 1:
        threads = torch.get_num_threads()
        global _worker_cfg
        _worker_cfg = cfg
        torch.set_num_threads(1)
        try:
            yield map(_featurise, items)
        finally:
            torch.set_num_threads(threads)
        return
    with process_map(num_jobs, _init_worker, (cfg,)) as imap:
        yield imap(_featurise, items, chunksize=max(1, min(16, len(items) // (4 * num_jobs))))


def _progress(enabled: bool):
    return progress_bar("compute-feats", enabled=enabled)


def compute_feats(
    data_dir: str | os.PathLike,
    cfg: FeatureConfig,
    num_jobs: int = 1,
    skip_bad: bool = False,
    progress: bool = True,
    channel: Channel = MIX,
    compress: bool = False,
) -> FeatsSummary:
    """Compute features for every utterance of ``data_dir`` (segments honoured); see the module doc.

    An utterance whose audio cannot be read (or is shorter than one frame) stops the run
    with an error naming it, and the features of an earlier run (if any) stay as they were;
    with ``skip_bad`` it is recorded in ``DATA/bad_utts`` and the run goes on. The output
    does not depend on ``num_jobs``: dither noise is seeded from ``(cfg.seed, utt id)``.
    Multi-channel audio is read as ``reco2file_and_channel`` says, else as ``channel`` (an
    index, or ``"mix"``: the average). ``compress`` stores Kaldi-compressed matrices (as
    ``copy-feats --compress=true``: 8 bits per value plus per-column quantiles, about a quarter
    of float32's disk); the CMVN statistics are those of the values as stored.
    """
    t0 = time.perf_counter()
    data = DataDir(data_dir)
    items = audio_items(data, channel)
    utt2spk = data.utt2spk
    num_jobs = max(1, min(int(num_jobs), len(items)))
    scp: dict[str, str] = {}
    utt2num_frames: dict[str, int] = {}
    spk_stats: dict[str, np.ndarray] = {}
    bad: list[tuple[str, str]] = []
    audio_s = 0.0
    try:
        with feature_files(data.path).write(keep=referenced_arks) as gen:
            gen = gen.resolve()  # feats.scp names arks by absolute path, as Kaldi's does
            arks = [gen / f"raw_{cfg.type}.{k + 1}.ark" for k in range(num_jobs)]
            with contextlib.ExitStack() as files:
                outs = [files.enter_context(open(a, "wb")) for a in arks]
                with _results(items, cfg, num_jobs) as results, _progress(progress) as bar:
                    task = bar.add_task("utterances", total=len(items))
                    for i, (utt, feats, error, seconds) in enumerate(results):
                        bar.advance(task)
                        if error is not None:
                            if not skip_bad:
                                raise SpeechseqError(
                                    f"{error} (or pass --skip-bad to list it in bad_utts and go on)"
                                )
                            bad.append((utt, error.replace("\n", " ")))
                            continue
                        k = i * num_jobs // len(items)
                        f = outs[k]
                        f.write(f"{utt} ".encode())
                        scp[utt] = f"{arks[k]}:{f.tell()}"
                        if compress:
                            feats = _write_compressed(f, feats)
                        else:
                            kaldiio.matio.write_array(f, feats)
                        utt2num_frames[utt] = feats.shape[0]
                        stats = cmvn_stats(feats)
                        spk = utt2spk[utt]
                        spk_stats[spk] = spk_stats[spk] + stats if spk in spk_stats else stats
                        audio_s += seconds
            if not scp:
                utt, reason = bad[0]
                raise SpeechseqError(
                    f"{data.path}: none of the {len(items)} utterances could be featurised "
                    f"(the first, {utt}: {reason}) — fix the audio"
                )
            _write_outputs(gen, cfg, scp, spk_stats, utt2num_frames, bad)
    except WriteFailed as e:
        raise SpeechseqError(str(e)) from None
    return FeatsSummary(
        num_utts=len(scp),
        num_frames=sum(utt2num_frames.values()),
        audio_s=audio_s,
        elapsed_s=time.perf_counter() - t0,
        dim=cfg.dim,
        feats_scp=data.file("feats.scp"),
        bad=bad,
    )


def _write_compressed(f, feats: np.ndarray) -> np.ndarray:
    """Write ``feats [T, C]`` to ark ``f`` as a Kaldi compressed matrix (kaldiio; method
    kAutomaticMethod, Kaldi's default: kSpeechFeature above 8 rows) and return the values as
    they will be read back."""
    buf = io.BytesIO()
    kaldiio.matio.write_array(buf, feats, compression_method=KALDI_AUTO_COMPRESSION)
    data = buf.getvalue()
    f.write(data)
    return np.asarray(kaldiio.matio.read_kaldi(io.BytesIO(data)), dtype=np.float32)


def _write_outputs(
    gen: Path, cfg: FeatureConfig, scp: dict, spk_stats: dict, utt2num_frames: dict, bad: list
) -> None:
    """The tables of one generation, written plainly: nothing is visible before the commit."""
    _write_table(gen / "feats.scp", scp)
    _write_table(gen / "utt2num_frames", utt2num_frames)
    stats = {spk: spk_stats[spk] for spk in c_sorted(spk_stats)}
    stats[GLOBAL_KEY] = sum(spk_stats.values())
    with open(gen / "cmvn.ark", "wb") as f:
        kaldiio.save_ark(f, stats)
    (gen / Path(CONFIG_NAME).name).write_text(feature_config_text(cfg), encoding="utf-8")
    if bad:
        _write_table(gen / "bad_utts", dict(bad))


def _write_table(path: Path, table: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{key} {table[key]}\n" for key in c_sorted(table))


def print_summary(summary: FeatsSummary, cfg: FeatureConfig, file=None) -> None:
    """One line for people (and a warning when utterances were skipped), on stderr."""
    file = file if file is not None else sys.stderr
    print(
        f"compute-feats: {summary.num_utts} utterances, {summary.audio_s / 3600:.3f} h of audio, "
        f"{summary.num_frames} frames of {summary.dim}-dim {cfg.type} in {summary.elapsed_s:.1f} s "
        f"(real-time factor {summary.real_time_factor:.4f}) -> {summary.feats_scp}",
        file=file,
    )
    if summary.bad:
        print(
            f"warning: {len(summary.bad)} utterance(s) could not be read and were skipped "
            f"(listed in {summary.feats_scp.parent / 'bad_utts'}) — fix or remove them",
            file=file,
        )
