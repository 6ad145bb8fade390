"""Using trained translation models: translate audio files, and the cascade (ASR, then MT) over a data dir.

``translate_files`` runs a speech translation experiment over audio files through its own
front end. ``cascade_decode`` transcribes a data dir with any decodable ASR experiment (its
task's decoder; a CTC model in practice), then translates the transcripts with a text
translation experiment, and scores the result exactly as ``speechseq decode`` scores an
end-to-end model (:func:`speechseq.decode.run.write_translations`). Words of the transcripts
that the MT model never saw are encoded as ``<unk>`` and reported (``oov.txt`` in the decode
dir, the count in results.json and on the terminal), never dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path

import torch

from speechseq.core.loading import load_experiment
from speechseq.data.audio import MIX, Channel
from speechseq.data.kaldi_dir import DataDir, write_table
from speechseq.decode.run import network_outputs, plot_attention_maps, write_translations
from speechseq.decode.seq2seq import Seq2SeqDecodeOptions
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.st.task import MTTask, Seq2SeqTask


def _check_target(task, target: str | None, where: str) -> None:
    trained = task.cfg.st.target
    if target and target != trained:
        raise UsageError(
            f"{where}: this model translates into '{trained}', not '{target}' — train one with "
            f"speechseq train-st --target {target}, or leave out --target"
        )


def options_by_task(
    ctc_options,
    beam: int | None,
    target: str | None,
    ctc_only_given: bool,
    translation_only_given: bool,
    where: str,
):
    """For ``speechseq decode``: a function of the loaded experiment's task that returns its
    decoding options — ``ctc_options`` for a CTC model, beam search (``beam``, default 5) for a
    translation model — and refuses options meant for the other kind (a usage error)."""

    def choose(task):
        if task.name not in ("st", "mt"):
            if translation_only_given:
                raise UsageError(
                    f"{where}: --plot-attention and --target are for translation models"
                )
            return ctc_options
        if ctc_only_given:
            raise UsageError(
                f"{where}: a {task.name} model is decoded by beam search over its attention decoder — "
                f"--lm, --lexicon, --lm-weight and --word-bonus are for CTC models"
            )
        _check_target(task, target, where)
        return Seq2SeqDecodeOptions(beam=beam or 5)

    return choose


def translate_files(
    exp_dir: str | os.PathLike,
    files: list[str],
    options: Seq2SeqDecodeOptions,
    device: str = "auto",
    target: str | None = None,
    channel: Channel = MIX,
    quiet: bool = True,
) -> list[dict]:
    """Translations of audio files: ``{"file", "text", "score", "finished", "nbest": [...]}`` each."""
    ex = load_experiment(exp_dir, device, task="st", quiet=quiet)
    _check_target(ex.task, target, str(exp_dir))
    decoder = ex.task.decoder(options, ex.model)
    reader = ex.frontend.files_reader([str(f) for f in files], channel)
    outputs = dict(network_outputs(ex, reader, list(reader.utt_ids)))
    results = []
    for path in files:
        t = decoder.decode(outputs[str(path)])
        results.append(
            {
                "file": str(path),
                "text": t.text,
                "score": round(t.score, 4),
                "finished": t.finished,
                "nbest": [{"text": text, "score": round(s, 4)} for text, s in t.nbest],
                "duration_s": round(reader.num_frames(str(path)) * 0.01, 2),
            }
        )
    return results


@torch.no_grad()
def translate_texts(
    ex, texts: dict[str, str], options: Seq2SeqDecodeOptions
) -> tuple[dict, Counter]:
    """``{utt: Translation}`` of English ``texts`` by a loaded MT experiment, and the unseen words."""
    task: MTTask = ex.task
    decoder = task.decoder(options, ex.model)
    unseen: Counter = Counter()
    out = {}
    for utt, text in texts.items():
        ids, new = task.source_ids(text)
        unseen.update(new)
        if not len(ids):
            ids = torch.tensor([task.source.specials.unk])
        src = torch.as_tensor(ids, device=ex.device)[None]
        memory, lengths = ex.model.encode(src, torch.tensor([src.shape[1]], device=ex.device))
        out[utt] = decoder.decode(memory[0, : int(lengths[0])].float().cpu().numpy())
    return out, unseen


def cascade_decode(
    asr_exp: str | os.PathLike | None,
    mt_exp: str | os.PathLike,
    data_dir: str | os.PathLike,
    asr_options,
    mt_options: Seq2SeqDecodeOptions,
    device: str = "auto",
    out_dir: str | os.PathLike | None = None,
    plot_attention: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict:
    """ASR then MT over ``data_dir``; ``asr_exp`` None translates the data dir's reference
    transcripts (``text``): the cascade with a perfect recogniser."""
    mt = load_experiment(mt_exp, device, task="mt", quiet=quiet)
    task: Seq2SeqTask = mt.task
    reference = f"text.{task.cfg.st.target}"
    data = DataDir(data_dir)
    if not data.file(reference).is_file():
        raise SpeechseqError(
            f"{data.file(reference)}: file not found — the MT model translates into "
            f"'{task.cfg.st.target}', so scoring needs the reference translations {reference}"
        )
    t0 = time.perf_counter()
    if asr_exp is None:
        if data.text is None:
            raise SpeechseqError(
                f"{data.file('text')}: file not found — translating the transcripts needs them"
            )
        english = dict(data.text)
        audio_s = 0.0
        tag = "mt-ref"
    else:
        asr = load_experiment(asr_exp, device, quiet=quiet)
        if asr.task.name in ("st", "mt"):
            raise UsageError(
                f"{asr_exp}: --cascade needs a recogniser (a CTC model) here, not a {asr.task.name} model"
            )
        asr_decoder = asr.task.decoder(asr_options, asr.model)
        reader = asr.frontend.data_reader(data.path)
        utts = list(reader.utt_ids)
        if not utts:
            raise SpeechseqError(f"{data.path}: no utterances to decode")
        english = {u: asr_decoder.decode(o).text for u, o in network_outputs(asr, reader, utts)}
        audio_s = sum(reader.num_frames(u) for u in utts) * 0.01
        tag = f"cascade-{Path(mt_exp).name}"
    translations, unseen = translate_texts(mt, english, mt_options)
    decode_s = time.perf_counter() - t0
    base = Path(asr_exp if asr_exp is not None else mt_exp)
    out = Path(out_dir) if out_dir else base / f"decode_{data.path.name}_{tag}_{mt_options.tag()}"
    r = {
        "data": str(data.path),
        "utterances": len(english),
        "asr": str(asr_exp) if asr_exp is not None else "reference transcripts",
        "mt": str(mt_exp),
        "options": {
            "asr": dataclasses.asdict(asr_options) if asr_exp is not None else None,
            "mt": dataclasses.asdict(mt_options),
        },
        "audio_s": round(audio_s, 2),
        "decode_s": round(decode_s, 3),
        "rtf": round(decode_s / audio_s, 5) if audio_s else None,
        "unseen_words": sum(unseen.values()),
        "unseen_types": len(unseen),
    }
    with atomic_dir(out) as tmp:
        r.update(write_translations(tmp, data, translations, reference))
        write_table(tmp / "asr_hyp.txt", english)
        with atomic_write(tmp / "oov.txt") as f:
            for w, n in unseen.most_common():
                f.write(f"{w} {n}\n")
        (tmp / "results.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    if plot_attention:
        r["attention_plots"] = plot_attention_maps(plot_attention, translations, list(translations))
    r["out_dir"] = str(out)
    return r
