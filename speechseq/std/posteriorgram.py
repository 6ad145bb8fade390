"""Posteriorgrams: a speech recogniser's frame-level unit posteriors as the features of DTW.

The classic speaker-robust query-by-example baseline (Hazen, Shen and White 2009; Zhang and
Glass 2009): instead of MFCC frames, compare frames of phone (or character) posteriors from an
acoustic model, which has already learnt to ignore who is speaking. Any decodable experiment
serves (a CTC model: its outputs are log-posteriors over units, one frame per subsampled
step); frames are compared by the same cosine distance as the MFCC baseline.
"""

from __future__ import annotations

import os

import numpy as np

from speechseq.core.loading import load_experiment
from speechseq.core.task import Task
from speechseq.decode.run import network_outputs
from speechseq.errors import SpeechseqError
from speechseq.features.reader import ArrayReader


class Posteriorgrams:
    """``of_audio(samples) -> [T', V]`` posteriors of a trained model, and their frame shift."""

    def __init__(self, exp_dir: str | os.PathLike, device: str = "auto"):
        self.ex = load_experiment(exp_dir, device, quiet=True)
        if type(self.ex.task).outputs is Task.outputs:
            raise SpeechseqError(
                f"{exp_dir}: a model of task '{self.ex.task.name}' has no frame outputs — give a "
                f"speech recogniser (train-ctc) for posteriorgrams"
            )
        self.sample_rate = self.ex.frontend.sample_rate
        self.frame_shift_s = 0.01  # set from the first utterance: 10 ms times the subsampling

    def of_audio(self, samples: np.ndarray) -> np.ndarray:
        fe = self.ex.frontend
        feats = fe.normalise(fe.audio_features(samples))
        [(_, log_probs)] = network_outputs(self.ex, ArrayReader({"x": feats}), ["x"])
        if len(log_probs):
            self.frame_shift_s = 0.01 * feats.shape[0] / len(log_probs)
        return np.exp(log_probs).astype(np.float32)
