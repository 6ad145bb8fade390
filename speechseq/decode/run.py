"""``speechseq decode EXP DATA``: any decodable experiment over a data dir, scored as Kaldi does.

The experiment's task says how (:meth:`speechseq.core.task.Task.outputs` gives the network
outputs per utterance, :meth:`~speechseq.core.task.Task.decoder` the search strategy);
this module runs the network once, keeps its outputs, and searches them once per point of
an LM-weight x word-bonus grid, so a grid costs one network pass. Each point is written to
its own decode dir, named after its options unless ``out_dir`` is given:
``hyp.txt``, ``per_utt``, ``per_spk``, ``wer`` (Kaldi's ``%WER`` line) and ``results.json``,
built under a temporary name and renamed into place whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from speechseq.core.batching import FeatDataset, make_loader
from speechseq.core.loading import Experiment, load_experiment
from speechseq.core.task import Task
from speechseq.data.kaldi_dir import DataDir, read_table, write_table
from speechseq.decode.graph import write_lattices
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.metrics.bleu import translation_scores
from speechseq.metrics.wer import (
    ErrorStats,
    error_stats,
    kaldi_wer_line,
    per_spk_lines,
    per_spk_stats,
    per_utt_lines,
)


@torch.no_grad()
def network_outputs(
    ex: Experiment, reader, utt_ids: Sequence[str], max_frames: int = 30000
) -> Iterator[tuple[str, np.ndarray]]:
    """``(utt, output)`` for the given utterances of ``reader``, batched through the model."""
    loader = make_loader(
        FeatDataset(reader, utt_ids), max_frames, shuffle=False, collate_fn=ex.task.collate
    )
    for batch in loader:
        batch = {k: v.to(ex.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        yield from zip(batch["utt_ids"], ex.task.outputs(ex.model, batch), strict=True)


def decode_data(
    exp_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    options,
    lm_weights: Sequence[float] | None = None,
    word_bonuses: Sequence[float] | None = None,
    device: str = "auto",
    out_dir: str | os.PathLike | None = None,
    quiet: bool = False,
    plot_attention: str | os.PathLike | None = None,
) -> list[dict]:
    """Decode every utterance of ``data_dir`` with ``options`` (the task's options dataclass,
    e.g. :class:`speechseq.decode.ctc.CTCDecodeOptions`, or a function of the loaded task that
    returns them), once per grid point of ``lm_weights`` x ``word_bonuses`` (CTC only; default:
    the options' own). Returns one results dict per point (``wer``, ``cer`` in percent, or
    ``bleu``, ``chrf`` for translation; ``rtf``, ``out_dir`` ...).

    ``plot_attention``: a directory for attention maps (PNG, one per utterance) of a decoder
    that returns them (translation)."""
    ex = load_experiment(exp_dir, device, quiet=quiet)
    if type(ex.task).decoder is Task.decoder:
        raise SpeechseqError(
            f"{exp_dir}: a model of task '{ex.task.name}' has nothing to decode — use the command "
            f"made for it (an embedder: speechseq embed)"
        )
    if callable(options):
        options = options(ex.task)
    grid = decode_grid(options, lm_weights, word_bonuses, ex.task.name)
    data = DataDir(data_dir)
    base = ex.task.decoder(options, ex.model)
    if getattr(base, "scoring", "wer") == "bleu" and not data.file(base.reference).is_file():
        raise SpeechseqError(
            f"{data.file(base.reference)}: file not found — this {ex.task.name} model translates into "
            f"'{base.reference.partition('.')[2]}', so scoring needs the reference translations in "
            f"{base.reference} (synth translate writes them)"
        )
    reader = ex.frontend.data_reader(data.path)
    utts = list(reader.utt_ids)
    if not utts:
        raise SpeechseqError(f"{data.path}: no utterances to decode")
    t0 = time.perf_counter()
    batched = dict(network_outputs(ex, reader, utts))
    # the data dir's order (C order), not the batches' (by length): per_utt lists the
    # utterances in it, and a decode merged from parts (decode/merge.py) gives the same file
    outputs = {u: batched[u] for u in utts}
    nn_s = time.perf_counter() - t0
    audio_s = sum(reader.num_frames(u) for u in utts) * 0.01
    return search_grid(
        exp_dir, data, base, outputs, grid, nn_s, audio_s, out_dir, plot_attention=plot_attention
    )


def decode_grid(
    options,
    lm_weights: Sequence[float] | None,
    word_bonuses: Sequence[float] | None,
    task_name: str,
) -> list[tuple[float, float] | None]:
    """The (LM weight, word bonus) points to search: the options' own unless grids are given;
    ``[None]`` for a decoder with no LM weight."""
    weighted = hasattr(options, "lm_weight")
    if not weighted and (lm_weights or word_bonuses):
        raise UsageError(
            f"--lm-weight and --word-bonus grids are for CTC decoding and graph lattices; a "
            f"{task_name} model has no LM weight"
        )
    grid = (
        [
            (w, b)
            for w in (lm_weights or [options.lm_weight])
            for b in (word_bonuses or [options.word_bonus])
        ]
        if weighted
        else [None]
    )
    return grid


def search_grid(
    exp_dir: str | os.PathLike,
    data: DataDir,
    base,
    outputs: dict[str, np.ndarray],
    grid: list[tuple[float, float] | None],
    model_s: float,
    audio_s: float,
    out_dir: str | os.PathLike | None = None,
    plot_attention: str | os.PathLike | None = None,
) -> list[dict]:
    """Search the model outputs (``{utt: [T, P]}``, computed in ``model_s`` seconds) with the
    decoder ``base`` at every grid point and write each point's scored decode dir (with the
    lattices, ``lat.txt.gz``, of a decoder that keeps them): ``out_dir`` for a single point,
    ``out_dir/<options>`` for each of several (``out_dir`` built whole under a temporary name
    and renamed into place), ``EXP/decode_<set>_<options>`` without ``out_dir``."""
    scoring = getattr(base, "scoring", "wer")
    options = base.options
    utts = list(outputs)
    results = []
    nested = out_dir is not None and len(grid) > 1
    with atomic_dir(out_dir) if nested else contextlib.nullcontext() as parent:
        # a grid of several points with an out dir: OUT/<point> each, OUT replaced whole
        for point in grid:
            decoder = (
                base.with_weights(*point)
                if point is not None and point != (options.lm_weight, options.word_bonus)
                else base
            )
            t1 = time.perf_counter()
            decoded = {u: decoder.decode(outputs[u]) for u in utts}
            hyps = {u: d.text for u, d in decoded.items()}
            search_s = time.perf_counter() - t1
            o = decoder.options
            if nested:
                out = Path(out_dir) / o.tag()
            else:
                out = (
                    Path(out_dir)
                    if out_dir
                    else Path(exp_dir) / f"decode_{data.path.name}_{o.tag()}"
                )
            r = {
                "data": str(data.path),
                "utterances": len(utts),
                "options": dataclasses.asdict(o),
                "audio_s": round(audio_s, 2),
                "decode_s": round(model_s + search_s, 3),
                "rtf": round((model_s + search_s) / max(audio_s, 1e-9), 5),
                "search_rtf": round(search_s / max(audio_s, 1e-9), 5),
            }
            # the decode dir is replaced whole: no old wer beside a new hyp
            # (a point of a nested grid: its dir inside OUT, which is being built whole)
            with contextlib.nullcontext(parent / o.tag()) if nested else atomic_dir(out) as tmp:
                tmp.mkdir(exist_ok=True)
                if scoring == "bleu":
                    r.update(write_translations(tmp, data, decoded, base.reference))
                else:
                    r.update(write_scored(tmp, data, hyps))
                    r.update(no_final_state(decoded))
                if getattr(o, "lattice", False):
                    write_lattices(tmp / "lat.txt.gz", decoded, o.acoustic_scale)
                (tmp / "results.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
            if plot_attention:
                r["attention_plots"] = plot_attention_maps(plot_attention, decoded, utts)
            r["out_dir"] = str(out)
            results.append(r)
    return results


def no_final_state(decoded: dict) -> dict:
    """``{"no_final_state": [utts]}`` for the utterances whose graph search reached no final
    state within the beam (their hypotheses are empty); ``{}`` when there are none."""
    failed = sorted(u for u, d in decoded.items() if not getattr(d, "final", True))
    return {"no_final_state": failed} if failed else {}


def write_translations(out: Path, data: DataDir, decoded: dict, reference: str) -> dict:
    """Write ``hyp.txt``, ``ref.txt``, ``per_utt`` (ref / hyp pairs) and ``bleu`` (BLEU and chrF
    with sacrebleu's signatures) into the decode dir being built; returns the figures."""
    refs_all = read_table(data.file(reference))
    hyps = {u: d.text for u, d in decoded.items()}
    missing = [u for u in hyps if u not in refs_all]
    if missing:
        raise SpeechseqError(
            f"{data.file(reference)}: no reference for {len(missing)} utterance(s) (first: {missing[0]}) "
            f"— every decoded utterance needs one (speechseq data fix keeps the files consistent)"
        )
    refs = {u: refs_all[u] for u in hyps}
    s = translation_scores(refs, hyps)
    write_table(out / "hyp.txt", hyps)
    write_table(out / "ref.txt", refs)
    with atomic_write(out / "per_utt") as f:
        for u in sorted(hyps):
            f.write(f"{u} ref {refs[u]}\n{u} hyp {hyps[u]}\n")
    with atomic_write(out / "bleu") as f:
        f.write("\n".join(s.lines()) + "\n")
    unfinished = sorted(u for u, d in decoded.items() if not getattr(d, "finished", True))
    return {
        "bleu": round(s.bleu, 2),
        "chrf": round(s.chrf, 2),
        "bleu_line": s.lines()[0],
        "chrf_line": s.lines()[1],
        "reference": reference,
        "stopped_by_length_guard": unfinished,
    }


def plot_attention_maps(directory: str | os.PathLike, decoded: dict, utts: Sequence[str]) -> int:
    """One PNG per utterance: encoder frames (x) against output tokens (y); returns the count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for u in utts:
        att = getattr(decoded[u], "attention", None)
        if att is None or not len(att):
            continue
        fig, ax = plt.subplots(figsize=(max(4, att.shape[1] / 8), max(3, att.shape[0] / 4)))
        ax.imshow(att, aspect="auto", cmap="Greys", interpolation="nearest")
        tokens = getattr(decoded[u], "tokens", None)
        if tokens and len(tokens) == att.shape[0]:
            ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
        ax.set_xlabel("encoder frame")
        ax.set_ylabel("output token (first at the top)")
        ax.set_title(f"{u}: {decoded[u].text}", fontsize=8)
        fig.tight_layout()
        with atomic_write(d / f"{u}.png", mode="wb", encoding=None) as f:
            fig.savefig(f, format="png", dpi=100)
        plt.close(fig)
        n += 1
    return n


def write_scored(out: Path, data: DataDir, hyps: dict[str, str]) -> dict:
    """Write ``hyp.txt`` and, when ``data`` has transcripts, ``wer``, ``per_utt`` and ``per_spk``
    into the directory ``out`` (a decode dir being built); returns the figures for results.json."""
    write_table(out / "hyp.txt", hyps)
    if data.text is None:
        return {}
    refs = {u: data.text.get(u, "") for u in hyps}
    by_spk = per_spk_stats(refs, hyps, data.utt2spk or {})
    w = sum(by_spk.values(), ErrorStats())  # the word totals, aligned once
    c = error_stats(refs, hyps, unit="char")
    with atomic_write(out / "wer") as f:
        f.write(kaldi_wer_line(w, "WER") + "\n" + kaldi_wer_line(c, "CER") + "\n")
    with atomic_write(out / "per_utt") as f:
        f.write("\n".join(per_utt_lines(refs, hyps)) + "\n")
    with atomic_write(out / "per_spk") as f:
        f.write("\n".join(per_spk_lines(by_spk)) + "\n")
    return {
        "wer": round(100 * w.rate, 2),
        "cer": round(100 * c.rate, 2),
        "wer_line": kaldi_wer_line(w, "WER"),
        "cer_line": kaldi_wer_line(c, "CER"),
        "speaker_wer": {spk: round(100 * s.rate, 2) for spk, s in by_spk.items()},
    }
