"""Using a trained CTC model directory: decode a data dir, align it, transcribe audio files."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from speechseq.asr.ctc import CTCConfig, CTCModel, encode_texts, to_numpy_log_probs
from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import FeatDataset, make_loader
from speechseq.core.device import resolve_device
from speechseq.core.experiment import load_exp_config
from speechseq.data.kaldi_dir import CtmEntry, DataDir, write_ctm, write_table
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write


@dataclass
class LoadedCTC:
    exp: Path
    cfg: CTCConfig
    model: CTCModel
    units: object  # speechseq.text.units.Units
    input_dim: int
    device: torch.device
    frame_shift_s: float  # seconds per output frame (10 ms times the subsampling)


def load_ctc(exp_dir: str | os.PathLike, device: str = "auto", quiet: bool = False) -> LoadedCTC:
    """Load ``EXP/final.pt`` with its config and units."""
    from speechseq.text.units import Units

    exp = Path(exp_dir)
    cfg, _ = load_exp_config(CTCConfig, exp)
    final = ckpt.load(exp / "final.pt")
    meta = final.get("meta", {})
    if meta.get("task") != "ctc":
        raise SpeechseqError(
            f"{exp}/final.pt: a {meta.get('task')} model, not a CTC model — give a train-ctc model directory"
        )
    units = Units.load(exp)
    if len(units) != meta["num_units"]:
        raise SpeechseqError(
            f"{exp}: units.txt has {len(units)} units but the model outputs {meta['num_units']} — "
            f"units.txt does not belong to this model; restore it from training"
        )
    dev = resolve_device(device, quiet=quiet)
    model = CTCModel(meta["input_dim"], meta["num_units"], cfg.encoder)
    model.load_state_dict(final["model"])
    model.to(dev).eval()
    probe = model.encoder.subsampled_lengths(torch.tensor([3000]))
    frame_shift_s = 0.01 * 3000 / int(probe[0])
    return LoadedCTC(exp, cfg, model, units, meta["input_dim"], dev, frame_shift_s)


def _reader(m: LoadedCTC, data: DataDir):
    from speechseq.features import FeatureReader

    reader = FeatureReader(data.path, cmvn=m.cfg.ctc.cmvn)
    if reader.dim != m.input_dim:
        raise SpeechseqError(
            f"{data.path}/feats.scp: features have dimension {reader.dim} but the model in {m.exp} expects "
            f"{m.input_dim} — compute features with the model's settings ({m.exp}/feats.yaml)"
        )
    return reader


@torch.no_grad()
def posteriors(m: LoadedCTC, reader, utt_ids: list[str], max_frames: int = 30000):
    """Yield ``(utt, log_probs [T', V])`` for the given utterances, batched."""
    loader = make_loader(FeatDataset(reader, utt_ids), max_frames, shuffle=False)
    for batch in loader:
        lp, lengths = m.model(batch["feats"].to(m.device), batch["lengths"].to(m.device))
        yield from zip(batch["utt_ids"], to_numpy_log_probs(lp, lengths), strict=True)


def make_searcher(
    m: LoadedCTC,
    beam: int,
    lm_path: str | None,
    lexicon_path: str | None,
    lm_weight: float,
    word_bonus: float,
):
    """A function ``log_probs [T, V] -> list[int] unit ids`` (and words or None) for the chosen search."""
    from speechseq.decode import ctc as ctc_decode

    units = m.units
    if beam <= 1 and not lm_path and not lexicon_path:
        return lambda lp: (ctc_decode.greedy(lp), None)
    lm = None
    if lm_path:
        from speechseq.lm.ngram import NgramLM

        lm = NgramLM.read_arpa(lm_path)
    trie = None
    if lexicon_path:
        from speechseq.text.lexicon import Lexicon

        lex = Lexicon.read(lexicon_path)
        trie = ctc_decode.build_lexicon_trie(units.spellings(lex))
    if trie is not None and units.word_boundary is None:
        raise SpeechseqError(
            f"{m.exp}: --lexicon needs units with a word boundary (char or phone); this model uses {units.kind}"
        )
    word_starts = (
        set(getattr(units, "word_start_units", None) or ()) if units.word_boundary is None else None
    )

    def units_to_word(ids):
        return units.decode(list(ids))

    def search(lp):
        hyps = ctc_decode.prefix_beam_search(
            lp,
            beam=max(beam, 1),
            word_boundary=units.word_boundary,
            lm=lm,
            lm_weight=lm_weight,
            word_bonus=word_bonus,
            lexicon_trie=trie,
            units_to_word=units_to_word,
            word_start_units=word_starts,
        )
        best = hyps[0]
        return best.ids, best.words

    return search


def decode_data(
    exp_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    beam: int = 1,
    lm: str | None = None,
    lexicon: str | None = None,
    lm_weight: float = 0.5,
    word_bonus: float = 1.0,
    device: str = "auto",
    out_dir: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict:
    """Decode every utterance of ``data_dir``; write hyp.txt, per_utt, per_spk, wer and results.json.

    Returns the results dict (``wer``, ``cer`` in percent, ``rtf``, counts).
    """
    from speechseq.metrics.wer import (
        ErrorStats,
        error_stats,
        kaldi_wer_line,
        per_spk_lines,
        per_spk_stats,
        per_utt_lines,
    )

    m = load_ctc(exp_dir, device, quiet=quiet)
    data = DataDir(data_dir)
    reader = _reader(m, data)
    utts = list(reader.utt_ids)
    if not utts:
        raise SpeechseqError(f"{data.path}: no utterances to decode")
    search = make_searcher(m, beam, lm, lexicon, lm_weight, word_bonus)
    hyps: dict[str, str] = {}
    t0 = time.perf_counter()
    nn_s = 0.0
    t_nn = time.perf_counter()
    for utt, lp in posteriors(m, reader, utts):
        nn_s += time.perf_counter() - t_nn
        ids, words = search(lp)
        hyps[utt] = " ".join(words) if words is not None else m.units.decode(ids)
        t_nn = time.perf_counter()
    elapsed = time.perf_counter() - t0
    audio_s = sum(reader.num_frames(u) for u in utts) * 0.01
    out = (
        Path(out_dir)
        if out_dir
        else Path(exp_dir) / f"decode_{data.path.name}{'' if not lm else '_lm'}"
    )
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "hyp.txt", hyps)
    results = {
        "data": str(data.path),
        "utterances": len(utts),
        "beam": beam,
        "lm": lm,
        "lexicon": lexicon,
        "lm_weight": lm_weight if lm else None,
        "audio_s": round(audio_s, 2),
        "decode_s": round(elapsed, 3),
        "rtf": round(elapsed / max(audio_s, 1e-9), 5),
        "search_rtf": round((elapsed - nn_s) / max(audio_s, 1e-9), 5),
    }
    if data.text is not None:
        refs = {u: data.text.get(u, "") for u in utts}
        by_spk = per_spk_stats(refs, hyps, data.utt2spk or {})
        w = sum(by_spk.values(), ErrorStats())  # the word totals, aligned once
        c = error_stats(refs, hyps, unit="char")
        with atomic_write(out / "wer") as f:
            f.write(kaldi_wer_line(w, "WER") + "\n" + kaldi_wer_line(c, "CER") + "\n")
        with atomic_write(out / "per_utt") as f:
            f.write("\n".join(per_utt_lines(refs, hyps)) + "\n")
        with atomic_write(out / "per_spk") as f:
            f.write("\n".join(per_spk_lines(by_spk)) + "\n")
        results.update(
            wer=round(100 * w.rate, 2),
            cer=round(100 * c.rate, 2),
            wer_line=kaldi_wer_line(w, "WER"),
            cer_line=kaldi_wer_line(c, "CER"),
            speaker_wer={spk: round(100 * s.rate, 2) for spk, s in by_spk.items()},
        )
    with atomic_write(out / "results.json") as f:
        json.dump(results, f, indent=2)
    results["out_dir"] = str(out)
    return results


def _word_ctm(utt: str, ids: list[int], lp: np.ndarray, m: LoadedCTC, offset_s: float = 0.0):
    """Word and unit CTM entries for unit sequence ``ids`` force-aligned to ``lp``."""
    from speechseq.asr import alignment

    labels = alignment.forced_align(lp, ids)
    spans = alignment.unit_spans(labels)
    unit_ctm = [
        CtmEntry(
            utt, "1", offset_s + s * m.frame_shift_s, (e - s) * m.frame_shift_s, m.units.symbols[u]
        )
        for u, s, e in spans
    ]
    words = m.units.decode(ids).split()
    wspans = alignment.word_spans(
        spans, word_boundary=m.units.word_boundary, words=words, symbols=m.units.symbols
    )
    word_ctm = alignment.to_ctm(utt, wspans, m.frame_shift_s, offset_s)
    return word_ctm, unit_ctm


def align_data(
    exp_dir, data_dir, out_ctm, device: str = "auto", quiet: bool = False
) -> tuple[int, Path]:
    """Force-align the transcripts of ``data_dir``; write the word CTM to ``out_ctm`` and unit CTM beside it."""
    m = load_ctc(exp_dir, device, quiet=quiet)
    data = DataDir(data_dir)
    reader = _reader(m, data)
    if data.text is None:
        raise SpeechseqError(f"{data.file('text')}: file not found — alignment needs transcripts")
    utts = [u for u in reader.utt_ids if u in data.text]
    targets = encode_texts(m.units, {u: data.text[u] for u in utts}, str(data.file("text")))
    words, units = [], []
    for utt, lp in posteriors(m, reader, utts):
        try:
            w, u = _word_ctm(utt, targets[utt], lp, m)
        except SpeechseqError as e:
            raise SpeechseqError(f"utterance {utt}: {e}") from None
        words += w
        units += u
    out = Path(out_ctm)
    write_ctm(out, words)
    unit_path = out.with_name(out.stem + ".units.ctm")
    write_ctm(unit_path, units)
    return len(utts), unit_path


def transcribe_files(
    exp_dir,
    files: list[str],
    device: str = "auto",
    beam: int = 1,
    lm: str | None = None,
    quiet: bool = True,
) -> list[dict]:
    """Text (and word timings) for audio files, featurised with the model's feature settings."""
    from speechseq.data.audio import read_audio
    from speechseq.features import compute_features, feature_config_from_yaml
    from speechseq.features.cmvn import normalise_utterance

    m = load_ctc(exp_dir, device, quiet=quiet)
    feat_cfg = replace(feature_config_from_yaml(m.exp / "feats.yaml"), dither=0.0)
    search = make_searcher(m, beam, lm, None, 0.5, 1.0)
    results = []
    for path in files:
        x = read_audio(path, target_sr=feat_cfg.sample_rate)
        feats = compute_features(x, feat_cfg)
        if m.cfg.ctc.cmvn != "none":
            feats = normalise_utterance(feats)
        if feats.shape[1] != m.input_dim:
            raise SpeechseqError(
                f"{m.exp}/feats.yaml gives {feats.shape[1]}-dim features but the model expects {m.input_dim}"
            )
        with torch.no_grad():
            lp, lengths = m.model(
                torch.from_numpy(feats)[None].to(m.device),
                torch.tensor([feats.shape[0]], device=m.device),
            )
        lp = to_numpy_log_probs(lp, lengths)[0]
        ids, words = search(lp)
        text = " ".join(words) if words is not None else m.units.decode(ids)
        item = {
            "file": str(path),
            "text": text,
            "duration_s": round(len(x) / feat_cfg.sample_rate, 3),
        }
        if text:
            ids_for_align = m.units.encode(text)
            word_ctm, _ = _word_ctm(Path(path).stem, ids_for_align, lp, m)
            item["words"] = [
                {"word": e.word, "start_s": round(e.start_s, 3), "end_s": round(e.end_s, 3)}
                for e in word_ctm
            ]
        else:
            item["words"] = []
        results.append(item)
    return results
