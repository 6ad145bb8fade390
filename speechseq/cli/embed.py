"""``train-embedder``, ``embed``, ``search``, ``eval-std``, ``plot-embeddings``.

The index these commands search is built by ``speechseq index`` (cli/index.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from speechseq.cli.common import (
    CHANNEL,
    DEVICE,
    TrainingOptions,
    commands,
    dev_option,
    from_parts_option,
    info,
    json_option,
    out_option,
    training_command,
)
from speechseq.core.experiment import resolve_config
from speechseq.std.merge import merge_part_vectors
from speechseq.std.plot import plot_embeddings

app = commands()

INDEX = typer.Option(..., "--index", help="Index directory (speechseq index build).")


@training_command(app, "train-embedder", max_epochs=20, max_frames=8000)
def train_embedder_cmd(
    train: Path = typer.Argument(
        ..., help="Training data dir with feats.scp (and ctm for --segments ctm)."
    ),
    out: Path = out_option("Model directory to write."),
    dev: Path | None = dev_option(
        "Dev data dir [default: every 20th training segment].", required=False
    ),
    segments: str | None = typer.Option(
        None, "--segments", help="ctm | vad | window [config: embed.segments, default ctm]."
    ),
    objective: str | None = typer.Option(
        None,
        "--objective",
        help="autoencoder (reconstruct the segment; --variant, --same-word) | contrastive "
        "(a discriminative word embedding: examples of one word close, other words far; needs "
        "--segments ctm) [config: embed.objective, default autoencoder].",
    ),
    variant: str | None = typer.Option(
        None,
        "--variant",
        help="sa (autoencoder) | dsa (denoising; with --objective contrastive: corrupted input "
        "as augmentation) [config: embed.variant, default sa].",
    ),
    dim: int | None = typer.Option(
        None, "--dim", help="Vector size [config: embed.dim, default 256]."
    ),
    same_word: float | None = typer.Option(
        None,
        "--same-word",
        help="Weight of the same-word contrastive term, the '+same-word' variant (needs "
        "--segments ctm; 0: off) [config: embed.same_word_weight, default 0.0].",
    ),
    *,
    training: TrainingOptions,
) -> None:
    """Train a segment-to-vector embedder: a seq2seq autoencoder (Audio Word2Vec) or a
    contrastive acoustic word embedding (--objective contrastive)."""
    # deferred: the embedder task imports torch, which is slow to import
    from speechseq.embed.model import EmbedConfig
    from speechseq.embed.training import train_embedder

    cfg = resolve_config(
        EmbedConfig,
        training.config,
        {
            "train": training.overrides,
            "embed": {
                "segments": segments,
                "objective": objective,
                "variant": variant,
                "dim": dim,
                "same_word_weight": same_word,
            },
        },
    )
    state = train_embedder(
        train, out, cfg, dev_dir=dev, resume=training.resume, overwrite=training.overwrite
    )
    what = "same-different AP" if cfg.embed.objective == "contrastive" else "reconstruction loss"
    if state.best_metric is None:
        info(f"{out}: no dev {what} (see above); final.pt holds the last epoch's weights")
    else:
        info(f"{out}: best dev {what} {state.best_metric:.4f} at epoch {state.best_epoch}")


@training_command(app, "train-segmenter", max_epochs=10, max_frames=8000)
def train_segmenter_cmd(
    train: Path = typer.Argument(
        ..., help="Training data dir with feats.scp and ctm (word timings)."
    ),
    out: Path = out_option("Model directory to write."),
    dev: Path | None = dev_option(
        "Dev data dir with a ctm [default: every 20th training utterance].", required=False
    ),
    *,
    training: TrainingOptions,
) -> None:
    """Train a word-boundary detector on word timings: it cuts archives (speechseq segment) and
    queries (eval-std/search --query-segmenter) where words begin and end, words it never heard
    included."""
    # deferred: the segmenter task imports torch, which is slow to import
    from speechseq.std.segmenter import SegmenterConfig, train_segmenter

    cfg = resolve_config(SegmenterConfig, training.config, {"train": training.overrides})
    state = train_segmenter(
        train, out, cfg, dev_dir=dev, resume=training.resume, overwrite=training.overwrite
    )
    if state.best_metric is None:
        info(f"{out}: no dev boundary F-score (see above); final.pt holds the last epoch's weights")
    else:
        info(
            f"{out}: best dev boundary F-score {state.best_metric:.4f} at epoch {state.best_epoch}"
        )


@app.command("segment")
def segment_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-segmenter."),
    data: Path = typer.Argument(..., help="Data dir with feats.scp (computed as the model's)."),
    out: Path = out_option("Kaldi segments file to write (embed --segments segments --ctm OUT)."),
    threshold: float = typer.Option(
        0.3, "--threshold", help="A boundary: a posterior peak above this."
    ),
    span: int = typer.Option(
        2, "--span", help="Segments from each boundary to each of the next N boundaries."
    ),
    min_dur: float = typer.Option(0.15, "--min-dur", help="Shortest segment (seconds)."),
    max_dur: float = typer.Option(1.5, "--max-dur", help="Longest segment (seconds)."),
    device: str = DEVICE,
) -> None:
    """Cut a data dir's utterances into candidate word segments at detected word boundaries."""
    # deferred: the segmenter imports torch, which is slow to import
    from speechseq.std.segmenter import CutOptions, Segmenter, write_segments_file

    opts = CutOptions(threshold=threshold, span=span, min_dur_s=min_dur, max_dur_s=max_dur)
    spans = Segmenter(exp, opts, device).spans_of_data(data)
    n = write_segments_file(spans, out)
    info(f"{out}: {n} segments of {len(spans)} utterances")


@app.command("embed")
def embed_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-embedder."),
    audio: Path = typer.Argument(
        ..., help="A folder of audio files (searched recursively) or a data dir."
    ),
    out: Path = out_option("Directory for vectors.npy, segments.tsv, meta.json."),
    segments: str = typer.Option(
        "window",
        "--segments",
        help="window | vad | ctm (word timings) | segments (a Kaldi segments file over the "
        "recordings).",
    ),
    widths: str | None = typer.Option(
        None,
        "--widths",
        help="Window widths in seconds, comma separated [default: the model's].",
    ),
    hop: float | None = typer.Option(
        None, "--hop", min=0.01, help="Window hop in seconds [default: the model's]."
    ),
    ctm: Path | None = typer.Option(
        None,
        "--ctm",
        help="The CTM (--segments ctm) or Kaldi segments file (--segments segments) to cut "
        "[default: AUDIO/ctm or AUDIO/segments].",
    ),
    device: str = DEVICE,
    channel: str = CHANNEL,
    from_parts: Path | None = from_parts_option(
        "DATA/splitN: instead of embedding, write OUT from the parts of 'speechseq data split "
        "DATA N' embedded apart (e.g. on Slurm; recipes/utils/parallel.sh) into OUT/part-1 .. "
        "OUT/part-N: the vectors and segments of one run over DATA; every utterance of DATA "
        "must be in exactly one part. The model and segment options are then those of the parts."
    ),
) -> None:
    """Embed candidate segments of recordings into L2-normalised vectors."""
    if from_parts is not None:
        meta = merge_part_vectors(audio, from_parts, out, exp_dir=exp)
        info(
            f"{out}: {meta['count']} vectors of dimension {meta['dim']} from {meta['parts']} parts"
        )
        return
    # deferred: inference imports torch, which is slow to import
    from speechseq.embed.inference import embed_audio

    meta = embed_audio(
        exp,
        audio,
        out,
        segments=segments,
        widths=widths,
        hop_s=hop,
        ctm=str(ctm) if ctm else None,
        device=device,
        channel=channel,
    )
    info(f"{out}: {meta['count']} vectors of dimension {meta['dim']}")


@app.command("search")
def search_cmd(
    queries: list[Path] = typer.Argument(..., help="Spoken query files."),
    idx: Path = INDEX,
    top_k: int = typer.Option(
        10, "--top-k", min=1, help="Hits per query (after merging overlaps)."
    ),
    as_json: bool = json_option("JSON instead of a table."),
    export: Path | None = typer.Option(
        None, "--export", help="Write each hit as a wav snippet here."
    ),
    method: str = typer.Option(
        "embed",
        "--method",
        help="embed (index) | dtw (segmental DTW on MFCC frames, slow baseline).",
    ),
    combine: str | None = typer.Option(
        None,
        "--combine",
        help="The query files are examples of one term, searched as one: mean (average their "
        "vectors) or max (each hit's best score over the examples).",
    ),
    query_segmenter: Path | None = typer.Option(
        None,
        "--query-segmenter",
        help="A word-boundary detector (train-segmenter): each query is cut from its first "
        "detected word boundary to its last before the 30 dB trim (--method embed).",
    ),
    expand: int = typer.Option(
        0,
        "--expand",
        min=0,
        help="Average query expansion: search again with each query's vector plus its N "
        "nearest archive vectors (a pseudo-relevance feedback; 0: off; --method embed).",
    ),
    device: str = DEVICE,
    channel: str = CHANNEL,
) -> None:
    """Query-by-example search: where in the archive is this spoken term?"""
    # deferred: spoken-term search loads the embedder, which imports torch (slow to import)
    from speechseq.std import qbe

    files = [str(q) for q in queries]
    if combine is not None and method != "embed":
        raise typer.BadParameter("--combine works with --method embed")
    if query_segmenter is not None and method != "embed":
        raise typer.BadParameter("--query-segmenter works with --method embed")
    if expand and method != "embed":
        raise typer.BadParameter("--expand works with --method embed")
    if method == "embed":
        results, per_query_s = qbe.search_files(
            idx,
            files,
            top_k=top_k,
            device=device,
            channel=channel,
            combine=combine,
            query_segmenter=query_segmenter,
            expand=expand,
        )
    elif method == "dtw":
        results, per_query_s = qbe.dtw_search_files(idx, files, top_k=top_k, channel=channel)
    else:
        raise typer.BadParameter(f"--method {method}: use embed or dtw")
    if combine is not None:  # one hit list for all the examples; snippets named after the first
        first = Path(files[0])
        files, export_names = ["+".join(files)], [f"{first.stem}-{combine}{first.suffix}"]
    else:
        export_names = files
    if export is not None:
        qbe.export_query_hits(idx, export_names, results, export)
    if as_json:
        out = qbe.hits_json(files, results)
        print(json.dumps(out if len(out) > 1 else out[0], indent=2))
    else:
        console = Console()
        for q, hits in zip(files, results, strict=True):
            t = Table(title=f"{q}", title_justify="left")
            for col in ("rank", "file", "start", "end", "score"):
                t.add_column(col, justify="right" if col != "file" else "left")
            for r, h in enumerate(hits, 1):
                t.add_row(str(r), h.source, f"{h.start_s:.2f}", f"{h.end_s:.2f}", f"{h.score:.3f}")
            console.print(t)
    info(f"{len(files)} queries, {1000 * per_query_s:.1f} ms per query ({method})")


@app.command("eval-std")
def eval_std_cmd(
    idx: Path = INDEX,
    queries: Path = typer.Option(
        ...,
        "--queries",
        help="Data dir of spoken queries (text holds each query's word, or words: a term of several words occurs where they follow one another).",
    ),
    ref: Path = typer.Option(..., "--ref", help="CTM of the archive: the true occurrences."),
    top_k: int = typer.Option(100, "--top-k", min=1, help="Hits ranked per query."),
    dtw: bool = typer.Option(
        True, "--dtw/--no-dtw", help="Also evaluate the segmental DTW baseline."
    ),
    max_queries: int = typer.Option(
        0, "--max-queries", min=0, help="Evaluate only the first N queries (0: all)."
    ),
    out: Path | None = out_option(
        "Write results.json, hits.tsv and the NIST keyword-search files (kws/) here.",
        required=False,
    ),
    thresholds_from: Path | None = typer.Option(
        None,
        "--thresholds-from",
        help="results.json of an eval-std run on dev queries: each method's MTWV threshold "
        "there is its YES threshold for ATWV here (default: every returned hit is a YES).",
    ),
    posteriorgram: Path | None = typer.Option(
        None,
        "--posteriorgram",
        help="A speech recogniser's model dir (train-ctc): also evaluate DTW on its "
        "posteriorgrams (method dtw-pg), the speaker-robust baseline.",
    ),
    combine: str | None = typer.Option(
        None,
        "--combine",
        help="mean | max: also search every term that several queries speak once with all its "
        "examples (search --combine; method embed-mean or embed-max, one row per term), beside "
        "each example alone on the same terms (method embed-one).",
    ),
    query_segmenter: Path | None = typer.Option(
        None,
        "--query-segmenter",
        help="A word-boundary detector (train-segmenter): each query is cut from its first "
        "detected word boundary to its last before the 30 dB trim.",
    ),
    expand: int = typer.Option(
        0,
        "--expand",
        min=0,
        help="Also the embedder's search with average query expansion over each query's N "
        "nearest archive vectors (search --expand; method embed-qe), beside the plain search.",
    ),
    device: str = DEVICE,
    channel: str = CHANNEL,
) -> None:
    """Spoken-term detection scores: MAP, P@10, P@N, same-different AP (SD-AP), ATWV and
    MTWV (NIST, beta 999.9) for the embedder and for DTW (on MFCC, and on posteriorgrams)."""
    # deferred: spoken-term search loads the embedder, which imports torch (slow to import)
    from speechseq.std import qbe

    rows = qbe.evaluate_std(
        idx,
        queries,
        ref,
        top_k=top_k,
        with_dtw=dtw,
        max_queries=max_queries,
        out_dir=out,
        device=device,
        channel=channel,
        thresholds=qbe.dev_thresholds(thresholds_from) if thresholds_from else None,
        posteriorgram_model=str(posteriorgram) if posteriorgram else None,
        combine=combine,
        query_segmenter=str(query_segmenter) if query_segmenter else None,
        expand=expand,
    )
    for line in results_table(rows):
        print(line)


def results_table(rows: list[dict]) -> list[str]:
    """eval-std's table: a header and one line per method. A space precedes every column, so a
    value wider than its column (an ATWV of -2329.513) never runs into its neighbour."""
    lines = [
        f"{'method':<10} {'MAP':>7} {'P@10':>7} {'P@N':>7} {'SD-AP':>7} {'ATWV':>8} {'MTWV':>7}"
        f" {'ms/query':>9} {'queries':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r['method']:<10} {r['map']:>7.3f} {r['p_at_10']:>7.3f} {r['p_at_n']:>7.3f}"
            f" {_num(r['same_diff_ap']):>7} {r['atwv']:>8.3f} {r['mtwv']:>7.3f}"
            f" {r['ms_per_query']:>9.1f} {r['queries']:>8}"
        )
    return lines


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


@app.command("plot-embeddings")
def plot_embeddings_cmd(
    vecs: Path = typer.Argument(
        ..., help="Output of speechseq embed (over word segments: --segments ctm)."
    ),
    labels: Path = typer.Option(
        ...,
        "--labels",
        help="CTM (or segments TSV with a label column) giving each segment's word.",
    ),
    out: Path = out_option("PNG to write."),
    method: str = typer.Option("pca", "--method", help="pca | tsne."),
    words: str | None = typer.Option(
        None, "--words", help="Comma-separated words to show [default: the 12 most frequent]."
    ),
) -> None:
    """A 2-D map of word vectors labelled by word: sound-alike words lie close."""
    n = plot_embeddings(vecs, labels, out, method=method, words=words.split(",") if words else None)
    info(f"{out}: {n} vectors plotted")
