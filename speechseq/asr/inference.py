"""Using a trained CTC model directory: align a data dir, transcribe audio files.

Decoding a data dir is :func:`speechseq.decode.run.decode_data` (any decodable task);
both go through :func:`speechseq.core.experiment.load_experiment` and its front end, so a
file transcribed here and the same audio decoded in a data dir see the same features.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speechseq.asr import alignment
from speechseq.asr.ctc import encode_texts
from speechseq.core.loading import Experiment, load_experiment
from speechseq.data.audio import MIX, Channel
from speechseq.data.kaldi_dir import CtmEntry, DataDir, recording_ctm, write_ctm
from speechseq.decode.ctc import CTCDecodeOptions
from speechseq.decode.run import network_outputs
from speechseq.errors import SpeechseqError


def _word_ctm(utt: str, ids: list[int], lp: np.ndarray, ex: Experiment, offset_s: float = 0.0):
    """Word and unit CTM entries for unit sequence ``ids`` force-aligned to ``lp``."""
    units = ex.task.units
    shift = ex.task.frame_shift(ex.model)
    labels = alignment.forced_align(lp, ids)
    spans = alignment.unit_spans(labels)
    unit_ctm = [
        CtmEntry(utt, "1", offset_s + s * shift, (e - s) * shift, units.symbols[u])
        for u, s, e in spans
    ]
    words = units.decode(ids).split()
    wspans = alignment.word_spans(
        spans, word_boundary=units.word_boundary, words=words, symbols=units.symbols
    )
    word_ctm = alignment.to_ctm(utt, wspans, shift, offset_s)
    return word_ctm, unit_ctm


def align_data(
    exp_dir, data_dir, out_ctm, device: str = "auto", quiet: bool = False
) -> tuple[int, Path]:
    """Force-align the transcripts of ``data_dir``; write the word CTM to ``out_ctm`` and unit CTM beside it.

    Times are in the recording: with ``segments`` each utterance's times are shifted by its
    segment's start and the lines are keyed by recording (:func:`recording_ctm`).
    """
    ex = load_experiment(exp_dir, device, task="ctc", quiet=quiet)
    data = DataDir(data_dir)
    reader = ex.frontend.data_reader(data.path)
    if data.text is None:
        raise SpeechseqError(f"{data.file('text')}: file not found — alignment needs transcripts")
    utts = [u for u in reader.utt_ids if u in data.text]
    targets = encode_texts(ex.task.units, {u: data.text[u] for u in utts}, str(data.file("text")))
    words, units = [], []
    for utt, lp in network_outputs(ex, reader, utts):
        try:
            w, u = _word_ctm(utt, targets[utt], lp, ex)
        except SpeechseqError as e:
            raise SpeechseqError(f"utterance {utt}: {e}") from None
        words += w
        units += u
    # with segments, times in the recording and the recording (file) as the CTM's first field,
    # as Kaldi's convert_ctm.pl: the CTM a scorer or a Kaldi user compares with the audio
    out = Path(out_ctm)
    write_ctm(out, recording_ctm(data, words))
    unit_path = out.with_name(out.stem + ".units.ctm")
    write_ctm(unit_path, recording_ctm(data, units))
    return len(utts), unit_path


def transcribe_files(
    exp_dir: str | os.PathLike,
    files: list[str],
    device: str = "auto",
    options: CTCDecodeOptions | None = None,
    quiet: bool = True,
    channel: Channel = MIX,
) -> list[dict]:
    """Text and word timings of audio files, through the model's own front end.

    ``channel``: which channel of multi-channel files (an index, or ``"mix"``: the average).
    """
    ex = load_experiment(exp_dir, device, task="ctc", quiet=quiet)
    decoder = ex.task.decoder(options or CTCDecodeOptions(), ex.model)
    reader = ex.frontend.files_reader([str(f) for f in files], channel)
    outputs = dict(network_outputs(ex, reader, list(reader.utt_ids)))
    results = []
    for path in files:
        lp = outputs[str(path)]
        text = decoder.decode(lp).text
        item = {
            "file": str(path),
            "text": text,
            "duration_s": round(reader.num_frames(str(path)) * 0.01, 2),
        }
        item["words"] = []
        if text:
            word_ctm, _ = _word_ctm(Path(path).stem, ex.task.units.encode(text), lp, ex)
            item["words"] = [
                {"word": e.word, "start_s": round(e.start_s, 3), "end_s": round(e.end_s, 3)}
                for e in word_ctm
            ]
        results.append(item)
    return results
