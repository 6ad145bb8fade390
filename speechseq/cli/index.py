"""``speechseq index build|add``: FAISS indexes of segment vectors for spoken-term search."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import CHANNEL, DEVICE, info, noun_group, out_option, type_option

app = noun_group("index", "FAISS indexes of segment vectors.")


@app.command("build")
def build_cmd(
    vecs: Path = typer.Argument(..., help="Output directory of speechseq embed."),
    out: Path = out_option("Index directory to write."),
    index_type: str = type_option(
        "auto", "auto | flat | hnsw | ivfpq (auto: exact below ~100k vectors)."
    ),
) -> None:
    """Build a FAISS index (inner product of normalised vectors)."""
    # deferred: spoken-term search loads the embedder, which imports torch (slow to import)
    from speechseq.std import qbe

    store = qbe.build(vecs, out, index_type)
    info(
        f"{out}: {store.meta.get('index_type')} index of {store.meta.get('count', len(store.segments))} vectors"
    )


@app.command("add")
def add_cmd(
    idx: Path = typer.Argument(..., help="Index directory."),
    audio: Path = typer.Argument(..., help="New recordings: a folder of audio or a data dir."),
    device: str = DEVICE,
    channel: str = CHANNEL,
) -> None:
    """Embed new recordings with the index's embedder and add them without a rebuild."""
    # deferred: spoken-term search loads the embedder, which imports torch (slow to import)
    from speechseq.std import qbe

    n = qbe.add(idx, audio, device=device, channel=channel)
    info(f"{idx}: added {n} segments")
