"""The one inference front end: audio files or a data dir -> exactly the features a model saw.

A model directory keeps the feature settings of its training data (``feats.yaml``), the
normalisation it was trained with (``cmvn`` in final.pt's metadata: utterance | speaker |
global | none) and, for ``global``, the training set's statistics (``cmvn.ark``, key
``<global>``). :class:`FrontEnd` applies the same to whatever is decoded, embedded or
searched, so ``transcribe FILE.wav`` and ``decode`` of a data dir holding that file see the
same numbers:

- ``utterance``: each utterance normalised by its own statistics (the default for new
  models: a wav on its own and an utterance of a data dir are treated alike);
- ``speaker``: a data dir's per-speaker statistics; a file on its own is its speaker's only
  utterance, so it gets its own statistics;
- ``global``: the training set's statistics, saved in the model directory;
- ``none``: the features as computed.

Data dirs are checked against the model's feature settings (type, bins, cepstra, sample
rate, framing ...), not only their dimension.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np

from speechseq.data.audio import MIX, Channel, read_audio
from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY, apply_cmvn, cmvn_stats
from speechseq.features.config import (
    CONFIG_NAME,
    FeatureConfig,
    FeatureSource,
    feature_config_from_yaml,
    load_feature_config,
)
from speechseq.features.kaldi import compute_features
from speechseq.features.reader import CMVN_MODES, ArrayReader, FeatureReader

GLOBAL_STATS_NAME = "cmvn.ark"  # in a model dir: the training set's <global> CMVN statistics
IGNORED = ("dither", "seed")  # settings that differ between training data and inference by design


@dataclass(frozen=True)
class FrontEnd:
    feat_cfg: FeatureConfig | None  # the model's feature settings (None: not recorded)
    cmvn: str  # utterance | speaker | global | none
    input_dim: int  # feature dimension the model takes
    global_stats: np.ndarray | None = None  # [2, C + 1] training-set statistics (cmvn "global")
    where: str = ""  # the model directory, for messages

    @classmethod
    def of_model_dir(cls, exp: str | os.PathLike, cmvn: str, input_dim: int) -> FrontEnd:
        exp = Path(exp)
        if cmvn not in CMVN_MODES:
            raise SpeechseqError(f"{exp}: unknown normalisation '{cmvn}' in the model's metadata")
        cfg_path = exp / "feats.yaml"
        feat_cfg = (
            dataclasses.replace(feature_config_from_yaml(cfg_path), dither=0.0)
            if cfg_path.is_file()
            else None
        )
        stats = None
        if cmvn == "global":
            path = exp / GLOBAL_STATS_NAME
            if not path.is_file():
                raise SpeechseqError(
                    f"{path}: not found — the model was trained with global CMVN and needs the training "
                    f"set's statistics; restore the file from training"
                )
            stats = dict(kaldiio.load_ark(str(path))).get(GLOBAL_KEY)
            if stats is None:
                raise SpeechseqError(f"{path}: no '{GLOBAL_KEY}' entry — restore it from training")
        return cls(feat_cfg, cmvn, input_dim, stats, str(exp))

    # -- data dirs -------------------------------------------------------------------------------

    def data_reader(self, data_dir: str | os.PathLike) -> FeatureReader:
        """A reader of ``data_dir``'s stored features, normalised as the model was trained."""
        data_dir = Path(data_dir)
        self.check_settings(data_dir)
        reader = FeatureReader(data_dir, cmvn=self.cmvn, global_stats=self.global_stats)
        if reader.dim != self.input_dim:
            raise SpeechseqError(
                f"{data_dir}/feats.scp: features have dimension {reader.dim} but the model in {self.where} expects "
                f"{self.input_dim} — compute features with the model's settings ({self.where}/feats.yaml)"
            )
        return reader

    def check_settings(self, data_dir: Path) -> None:
        """The data's feature settings must be the model's (dither and its seed aside)."""
        if self.feat_cfg is not None:
            check_same_settings(data_dir, self.feat_cfg, f"{self.where}/feats.yaml")

    # -- audio -------------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Hz: audio is resampled to it before featurising."""
        return self._cfg().sample_rate

    def audio_features(self, samples: np.ndarray) -> np.ndarray:
        """Raw features ``[T, C]`` of ``samples`` (at the model's sample rate), without dither."""
        return compute_features(samples, self._cfg())

    def normalise(self, feats: np.ndarray) -> np.ndarray:
        """``feats: [T, C]`` of one recording on its own, normalised as the model was trained."""
        if self.cmvn in ("utterance", "speaker"):
            return apply_cmvn(feats, cmvn_stats(feats))
        if self.cmvn == "global":
            return apply_cmvn(feats, self.global_stats)
        return np.asarray(feats, dtype=np.float32)

    def file_features(self, path: str | os.PathLike, channel: Channel = MIX) -> np.ndarray:
        """Normalised features ``[T, dim]`` of an audio file (resampled to the model's rate;
        ``channel``: an index, or ``"mix"``, the average of the channels)."""
        x = read_audio(path, target_sr=self._cfg().sample_rate, channel=channel)
        feats = self.normalise(self.audio_features(x))
        if feats.shape[1] != self.input_dim:
            raise SpeechseqError(
                f"{self.where}/feats.yaml gives {feats.shape[1]}-dim features but the model expects {self.input_dim}"
            )
        return feats

    def files_reader(self, paths: list[str], channel: Channel = MIX) -> ArrayReader:
        """An in-memory reader over audio files, keyed by the path as given."""
        return ArrayReader({str(p): self.file_features(p, channel) for p in paths})

    def _cfg(self) -> FeatureConfig:
        if self.feat_cfg is None:
            raise SpeechseqError(
                f"{self.where}/feats.yaml: not found — the model directory lacks its feature settings, so raw "
                f"audio cannot be featurised as in training; restore the file or decode a data dir with features"
            )
        return self.feat_cfg


def check_same_settings(
    data_dir: str | os.PathLike, reference: FeatureConfig, ref_name: str, label: str = "model"
) -> None:
    """``data_dir``'s features (its conf/feats.yaml) must have been made with ``reference``'s
    settings, dither and its seed aside; a data dir without the file is not checked (Kaldi-made
    features: only their dimension can be compared)."""
    path = Path(data_dir) / CONFIG_NAME
    if not path.is_file():
        return
    data_cfg = feature_config_from_yaml(path)
    diff = [
        f.name
        for f in dataclasses.fields(FeatureConfig)
        if f.name not in IGNORED and getattr(data_cfg, f.name) != getattr(reference, f.name)
    ]
    if diff:
        shown = ", ".join(
            f"{k} {getattr(data_cfg, k)!r} ({label}: {getattr(reference, k)!r})" for k in diff
        )
        raise SpeechseqError(
            f"{path}: features made with other settings than {ref_name} — {shown}; recompute "
            f"them with those settings (speechseq compute-feats {data_dir} ...)"
        )


def train_dev_readers(
    train: Path, dev: Path, cmvn: str, source: FeatureSource | None = None, num_jobs: int = 1
) -> tuple[FeatureReader, FeatureReader, np.ndarray | None]:
    """Readers of a training and a dev data dir for a training command, and the training set's
    global statistics (``cmvn`` "global", else None): the dev set is normalised as inference will
    be. With ``source.on_the_fly`` both compute their features from the audio with
    ``source.settings`` (in the data-loader workers; ``num_jobs`` processes for a speaker or
    global statistics pass), else they read the stored ones. Either set without utterances,
    other feature settings or another feature dimension in dev is one error naming the
    directory."""
    compute = source.settings if source is not None and source.on_the_fly else None
    tr_reader = FeatureReader(train, cmvn=cmvn, compute=compute, num_jobs=num_jobs)
    global_stats = (
        tr_reader.stats_for(tr_reader.utt_ids[0]) if cmvn == "global" and len(tr_reader) else None
    )
    dv_reader = FeatureReader(
        dev, cmvn=cmvn, global_stats=global_stats, compute=compute, num_jobs=num_jobs
    )
    if len(dv_reader) == 0:
        raise SpeechseqError(
            f"{dev}: the dev set has no utterances — give a dev data dir with features"
        )
    if len(tr_reader) == 0:
        raise SpeechseqError(f"{train}: the training set has no utterances")
    if compute is None and (train / CONFIG_NAME).is_file():
        check_same_settings(dev, load_feature_config(train), str(train / CONFIG_NAME), "train")
    if tr_reader.dim != dv_reader.dim:
        raise SpeechseqError(
            f"{dev}: features have dimension {dv_reader.dim} but {train} has {tr_reader.dim} — "
            f"compute both with the same speechseq compute-feats options"
        )
    return tr_reader, dv_reader, global_stats
