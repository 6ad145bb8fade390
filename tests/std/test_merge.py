"""embed --from-parts: an archive embedded part by part and merged is the vectors, the segment
table and (built over them) the index of one whole run; a part that is missing, an utterance in
two parts or a part embedded from the wrong dir is one error naming it, and nothing is written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.kaldi_dir import read_table
from speechseq.data.ops import split_data_dir
from speechseq.embed.segments import write_vectors
from speechseq.errors import SpeechseqError
from speechseq.std.index import SegmentRow
from speechseq.std.merge import merge_part_vectors

runner = CliRunner()


def _ok(*args) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.stdout


def _archive(words_corpus, tmp_path):
    """A copy of the words archive and its two parts (by speaker), part 1 the later speakers:
    the parts one after the other are not the data dir's order."""
    data = tmp_path / "archive"
    shutil.copytree(words_corpus / "archive", data)
    parts = split_data_dir(data, 2)
    parts[0].rename(data / "split2" / "x")
    parts[1].rename(parts[0])
    (data / "split2" / "x").rename(parts[1])
    assert min(read_table(parts[0] / "utt2spk")) > max(read_table(parts[1] / "utt2spk"))
    return data, parts


@pytest.mark.parametrize(
    "opts", [["--widths", "0.3,0.6", "--hop", "0.1"], ["--segments", "ctm"]], ids=["window", "ctm"]
)
def test_parts_embedded_apart_and_merged_are_the_whole_run(
    tiny_embedder, words_corpus, tmp_path, opts
):
    data, parts = _archive(words_corpus, tmp_path)
    for d in (data, *parts):  # the ctm's lines not in the data dir's order: embed orders them
        ctm = (d / "ctm").read_text().splitlines()
        (d / "ctm").write_text("\n".join(reversed(ctm)) + "\n")
    _ok("embed", tiny_embedder, data, "--out", tmp_path / "whole", "--device", "cpu", *opts)
    vecs = tmp_path / "vecs"
    for k, part in enumerate(parts, start=1):
        _ok("embed", tiny_embedder, part, "--out", vecs / f"part-{k}", "--device", "cpu", *opts)
    _ok("embed", tiny_embedder, data, "--from-parts", data / "split2", "--out", vecs)
    whole = tmp_path / "whole"
    assert sorted(p.name for p in vecs.iterdir()) == ["meta.json", "segments.tsv", "vectors.npy"]
    table = (vecs / "segments.tsv").read_text()
    assert table == (whole / "segments.tsv").read_text()
    # every utterance's segments, in the data dir's order
    sources = [line.split("\t")[1] for line in table.splitlines()[1:]]
    assert set(sources) == set(read_table(data / "utt2spk")) and sources == sorted(sources)
    # batches of other segments than the whole run's: equal to float rounding (equal bits here)
    np.testing.assert_allclose(
        np.load(vecs / "vectors.npy"), np.load(whole / "vectors.npy"), rtol=0, atol=1e-6
    )
    got, want = (json.loads((d / "meta.json").read_text()) for d in (vecs, whole))
    for key in ("embedder_id", "model", "dim", "count", "audio", "segments", "window_s", "hop_s"):
        assert got[key] == want[key], key
    assert got["parts"] == 2 and got["audio_s"] == pytest.approx(want["audio_s"], abs=0.02)
    # the index built over the merged vectors answers spoken queries as the whole one does
    query = read_table(words_corpus / "queries" / "wav.scp")
    files = [query[u] for u in sorted(query)[:3]]
    hits = []
    for d in (vecs, whole):
        _ok("index", "build", d, "--out", d.with_name(d.name + "_idx"))
        hits.append(
            _ok("search", *files, "--index", d.with_name(d.name + "_idx"), "--json", "--top-k", 5)
        )
    assert hits[0] == hits[1] and json.loads(hits[0])[0]["hits"]


def _fake_parts(out, parts, dim: int = 4, model: str = "/exp/emb"):
    """Part embeddings as ``embed PART --out VECS/part-K`` writes them, without a model: two
    windows per utterance, random vectors."""
    rng = np.random.default_rng(0)
    for k, part in enumerate(parts, start=1):
        rows = [
            SegmentRow(f"{u}_{s:07.2f}", u, s, s + 0.5)
            for u in sorted(read_table(part / "utt2spk"))
            for s in (0.0, 0.2)
        ]
        meta = {"embedder_id": f"{model}@0", "model": model, "dim": dim, "count": len(rows)}
        meta.update(audio=str(part.resolve()), segments="window", audio_s=1.5, seconds=0.5)
        vectors = rng.standard_normal((len(rows), dim)).astype(np.float32)
        write_vectors(out / f"part-{k}", vectors, rows, meta)


def test_the_merged_meta_adds_up_the_parts(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    _fake_parts(tmp_path / "vecs", parts)
    meta = merge_part_vectors(data, data / "split2", tmp_path / "vecs", exp_dir="/exp/emb")
    assert (meta["audio_s"], meta["seconds"], meta["audio_s_per_s"], meta["parts"]) == (
        3.0,
        1.0,
        3.0,
        2,
    )
    assert meta["count"] == 2 * len(read_table(data / "utt2spk"))
    assert meta["audio"] == str(data.resolve())


def test_a_part_not_embedded_is_named_and_nothing_is_written(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    shutil.rmtree(out / "part-2")
    res = runner.invoke(
        app,
        ["embed", "/exp/emb", str(data), "--from-parts", str(data / "split2"), "--out", str(out)],
    )
    assert res.exit_code == 1
    assert f"{out}/part-2: part 2 was not embedded" in res.output
    assert f"embed {data}/split2/2 with --out {out}/part-2" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["part-1"]


def test_a_missing_part_dir_is_named(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    _fake_parts(tmp_path / "vecs", parts)
    shutil.rmtree(parts[1])
    with pytest.raises(SpeechseqError, match="split2/2: no such part"):
        merge_part_vectors(data, data / "split2", tmp_path / "vecs")


def test_an_utterance_embedded_in_two_parts_is_named(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    utt = sorted(read_table(parts[0] / "utt2spk"))[0]
    table = out / "part-2" / "segments.tsv"
    lines = table.read_text().splitlines()
    lines[-1] = "\t".join([f"{utt}_0009.00", utt, "9.000", "9.500"])  # as many rows as vectors
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        SpeechseqError,
        match=rf"part-2/segments.tsv: segment {utt}_0009.00 is of utterance {utt}, which is in "
        r"part 1 of .*split2, not in part 2 — embed .*split2/2 again",
    ):
        merge_part_vectors(data, data / "split2", out)
    assert sorted(p.name for p in out.iterdir()) == ["part-1", "part-2"]


def test_an_utterance_in_two_part_dirs_or_in_none_is_named(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    utt2spk = (parts[1] / "utt2spk").read_text()
    first = (parts[0] / "utt2spk").read_text().splitlines()[0]
    (parts[1] / "utt2spk").write_text(first + "\n" + utt2spk)
    with pytest.raises(
        SpeechseqError, match=rf"split2/2: utterance {first.split()[0]} is also in part 1"
    ):
        merge_part_vectors(data, data / "split2", out)
    (parts[1] / "utt2spk").write_text("")
    lost = sorted(read_table(data / "utt2spk"))
    lost = [u for u in lost if u not in read_table(parts[0] / "utt2spk")][0]
    with pytest.raises(
        SpeechseqError, match=rf"{data}: utterance {lost} \(\d+ in all\) is in no part"
    ):
        merge_part_vectors(data, data / "split2", out)


def test_a_part_embedded_from_another_dir_or_model_is_named(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    shutil.rmtree(out / "part-2")
    shutil.copytree(out / "part-1", out / "part-2")
    with pytest.raises(
        SpeechseqError, match=r"part-2/meta.json: embedded from .*split2/1, not from part 2"
    ):
        merge_part_vectors(data, data / "split2", out)
    shutil.rmtree(out)
    _fake_parts(out, parts)
    with pytest.raises(
        SpeechseqError, match=r"part-1/meta.json: embedded with the model /exp/emb, not "
    ):
        merge_part_vectors(data, data / "split2", out, exp_dir=tmp_path / "other")
    meta = json.loads((out / "part-2" / "meta.json").read_text())
    meta["segments"] = "vad"
    (out / "part-2" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(
        SpeechseqError, match=r"part-2/meta.json: segments 'vad', but .*part-1 has 'window'"
    ):
        merge_part_vectors(data, data / "split2", out)


def _refused(data, out) -> str:
    """The merge's error message."""
    with pytest.raises(SpeechseqError) as e:
        merge_part_vectors(data, data / "split2", out)
    return str(e.value)


def _set_meta(part_dir, **changes):
    """Change (None: remove) keys of a part's meta.json."""
    meta = json.loads((part_dir / "meta.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    (part_dir / "meta.json").write_text(json.dumps(meta))


def test_the_merged_meta_is_the_first_parts_with_the_sums_rounded(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    _set_meta(out / "part-1", audio_s=1.234, seconds=0.111, note="from part 1")
    _set_meta(out / "part-2", audio_s=2.345, seconds=0.222)
    meta = merge_part_vectors(data, data / "split2", out)
    # 3.579 s of audio in 0.333 s: two decimals for the sums, one for the speed
    assert (meta["audio_s"], meta["seconds"], meta["audio_s_per_s"]) == (3.58, 0.33, 10.7)
    assert meta["note"] == "from part 1"  # keys the merge does not set: the first part's
    assert np.load(out / "vectors.npy").dtype == np.float32
    # a part whose meta.json lacks the figures (an older speechseq's) counts as none
    _fake_parts(out, parts)
    _set_meta(out / "part-2", audio_s=None, seconds=None)
    meta = merge_part_vectors(data, data / "split2", out)
    assert (meta["audio_s"], meta["seconds"], meta["audio_s_per_s"]) == (1.5, 0.5, 3.0)


def test_an_utterance_without_segments_is_left_out(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    vectors, table = np.load(out / "part-1" / "vectors.npy"), out / "part-1" / "segments.tsv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([lines[0], *lines[3:]]) + "\n")  # its first utterance's 2 rows
    np.save(out / "part-1" / "vectors.npy", vectors[2:])
    meta = merge_part_vectors(data, data / "split2", out)
    assert meta["count"] == 2 * len(read_table(data / "utt2spk")) - 2
    gone = lines[1].split("\t")[1]
    assert gone not in (out / "segments.tsv").read_text()


def test_no_segments_in_any_part_is_one_error(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    for k in (1, 2):
        (out / f"part-{k}" / "segments.tsv").write_text("segment_id\tsource\tstart_s\tend_s\n")
        np.save(out / f"part-{k}" / "vectors.npy", np.zeros((0, 4), np.float32))
    assert _refused(data, out) == (
        f"{out}: the parts hold no segments — check the audio of {data} or embed with another "
        "--segments"
    )


def test_a_segment_of_no_part_or_named_twice_is_named(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    table = out / "part-2" / "segments.tsv"
    lines = table.read_text().splitlines()
    lines[-1] = "\t".join(["ghost_0000.00", "ghost", "0.000", "0.500"])
    table.write_text("\n".join(lines) + "\n")
    assert _refused(data, out) == (
        f"{table}: segment ghost_0000.00 is of utterance ghost, which is in no part of "
        f"{data / 'split2'}, not in part 2 — embed {parts[1]} again with --out {out / 'part-2'}"
    )
    # a segment id that part 1 has too, on an utterance of part 2
    first = (out / "part-1" / "segments.tsv").read_text().splitlines()[1].split("\t")[0]
    own = lines[-2].split("\t")[1]
    lines[-1] = "\t".join([first, own, "9.000", "9.500"])
    table.write_text("\n".join(lines) + "\n")
    assert _refused(data, out) == (
        f"{table}: segment {first} is also in part 1 — embed {parts[1]} again with --out "
        f"{out / 'part-2'}"
    )


def test_a_split_of_another_data_dir_is_named_in_full(words_corpus, tmp_path):
    data, parts = _archive(words_corpus, tmp_path)
    out = tmp_path / "vecs"
    _fake_parts(out, parts)
    utt2spk = (parts[1] / "utt2spk").read_text()
    (parts[1] / "utt2spk").write_text(utt2spk + "zz_stray spk\n")
    assert _refused(data, out) == (
        f"{parts[1]}: utterance zz_stray (1 in all) is not in {data} — the split is of another "
        f"data dir; split {data} again and embed its parts"
    )
    (parts[1] / "utt2spk").write_text("")
    assert _refused(data, out).endswith(
        f"is in no part of {data / 'split2'} — the split is not of this data dir; split {data} "
        "again and embed its parts"
    )
    # other options in one part: the message says what to do
    (parts[1] / "utt2spk").write_text(utt2spk)
    _set_meta(out / "part-2", window_s=[0.5])
    assert _refused(data, out).endswith("— embed every part with the same model and options")
