"""Kaldi-compatible fbank/MFCC features, CMVN, deltas, SpecAugment and ark/scp storage.

Library calls:

- ``compute_features(x [num_samples], cfg) -> [T, C]``: features of one utterance.
- ``compute_feats(data_dir, cfg, num_jobs, skip_bad, progress, compress)``: a whole data dir to
  ``feats.scp``, ``utt2num_frames``, ``cmvn.ark`` and ``conf/feats.yaml``.
- ``FeatureReader(data_dir, cmvn="speaker", deltas=0, compute=None)``: ``reader[utt] -> [T, dim]``,
  from feats.scp, or (``compute=FeatureConfig``) computed from the audio on the fly.
- ``load_feature_config(data_dir)`` / ``feature_config_from_yaml(path)``.
- ``apply_cmvn``, ``add_deltas``, ``spec_augment`` (in ``speechseq.features.augment``).
"""

from speechseq.features.augment import spec_augment
from speechseq.features.cmvn import GLOBAL_KEY, apply_cmvn, cmvn_stats, normalise_utterance
from speechseq.features.config import (
    FeatureConfig,
    feature_config_from_yaml,
    load_feature_config,
    save_feature_config,
)
from speechseq.features.deltas import add_deltas
from speechseq.features.extract import FeatsSummary, compute_feats
from speechseq.features.kaldi import compute_features
from speechseq.features.reader import FeatureReader

__all__ = [
    "GLOBAL_KEY",
    "FeatsSummary",
    "FeatureConfig",
    "FeatureReader",
    "add_deltas",
    "apply_cmvn",
    "cmvn_stats",
    "compute_feats",
    "compute_features",
    "feature_config_from_yaml",
    "load_feature_config",
    "normalise_utterance",
    "save_feature_config",
    "spec_augment",
]
