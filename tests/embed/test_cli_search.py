"""train-embedder -> embed -> index build/add -> search -> eval-std -> plot-embeddings, through the CLI."""

import json
import shutil

import numpy as np
import pytest
import torch

from speechseq.cli.main import app
from speechseq.embed.model import same_word_loss
from tests.embed.helpers import run_ok, runner


def test_same_word_loss_prefers_same_word_vectors_together():
    labels = torch.tensor([0, 0, 1, 1])
    together = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0], [0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert same_word_loss(together, labels, 0.1) < same_word_loss(mixed, labels, 0.1)
    assert float(same_word_loss(together, torch.tensor([0, 1, 2, 3]), 0.1)) == 0.0


def test_embed_writes_normalised_vectors_with_their_segments(search_setup):
    vecs = np.load(search_setup / "vecs" / "vectors.npy")
    rows = (search_setup / "vecs" / "segments.tsv").read_text().splitlines()
    assert rows[0] == "segment_id\tsource\tstart_s\tend_s"
    assert vecs.shape == (len(rows) - 1, 16) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    meta = json.loads((search_setup / "vecs" / "meta.json").read_text())
    assert meta["count"] == vecs.shape[0] and meta["audio_s_per_s"] > 0


def test_search_prints_hits_as_json_and_exports_snippets(search_setup, words_corpus, tmp_path):
    wav = (words_corpus / "queries" / "wav.scp").read_text().split()[1]
    res = run_ok(
        [
            "search",
            wav,
            "--index",
            str(search_setup / "idx"),
            "--top-k",
            "3",
            "--json",
            "--export",
            str(tmp_path / "hits"),
            "--device",
            "cpu",
        ]
    )
    out = json.loads(res.stdout)
    assert out["query"] == wav and 1 <= len(out["hits"]) <= 3
    assert [h["rank"] for h in out["hits"]] == list(range(1, len(out["hits"]) + 1))
    assert len(list((tmp_path / "hits").glob("*.wav"))) == len(out["hits"])
    table = run_ok(
        ["search", wav, "--index", str(search_setup / "idx"), "--top-k", "3", "--device", "cpu"]
    )
    assert "rank" in table.stdout and "score" in table.stdout


def test_search_merges_overlapping_windows(search_setup, words_corpus):
    from speechseq.std.qbe import search_files

    wav = (words_corpus / "queries" / "wav.scp").read_text().split()[1]
    hits = search_files(search_setup / "idx", [wav], top_k=20, device="cpu")[0][0]
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if a.source == b.source:
                inter = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
                assert inter <= 0.5 * min(a.end_s - a.start_s, b.end_s - b.start_s) + 1e-9


def test_eval_std_reports_map_for_embedder_and_dtw(search_setup, words_corpus, tmp_path):
    res = run_ok(
        [
            "eval-std",
            "--index",
            str(search_setup / "idx"),
            "--queries",
            str(words_corpus / "queries"),
            "--ref",
            str(words_corpus / "archive" / "ctm"),
            "--out",
            str(tmp_path / "ev"),
            "--max-queries",
            "3",
            "--device",
            "cpu",
        ]
    )
    lines = res.stdout.splitlines()
    assert lines[0].split()[:7] == ["method", "MAP", "P@10", "P@N", "SD-AP", "ATWV", "MTWV"]
    assert [ln.split()[0] for ln in lines[1:]] == ["embed", "dtw"]
    rows = json.loads((tmp_path / "ev" / "results.json").read_text())["rows"]
    assert all(0.0 <= r["map"] <= 1.0 for r in rows)
    # the NIST files, and the ATWV they give when scored again from the files alone
    from speechseq.metrics.kws import (
        read_ecf,
        read_kwlist,
        read_kwslist,
        read_rttm,
        term_weighted_value,
    )

    kws = tmp_path / "ev" / "kws"
    terms = read_kwlist(kws / "kwlist.xml")
    assert 1 <= len(terms) <= 3
    speech_s = sum(read_ecf(kws / "ecf.xml").values())
    for r in rows:
        dets = read_kwslist(kws / r["method"] / "kwslist.xml")
        again = term_weighted_value(dets, read_rttm(kws / "ref.rttm"), terms, speech_s)
        # (the files round times to milliseconds)
        assert again.atwv == pytest.approx(r["atwv"], rel=1e-3, abs=1e-3)
        assert again.mtwv == pytest.approx(r["mtwv"], rel=1e-3, abs=1e-3)
        assert r["mtwv"] >= r["atwv"]
    # A threshold chosen on "dev" (here the same queries): ATWV at it is that run's MTWV.
    args = [
        "eval-std",
        "--index",
        str(search_setup / "idx"),
        "--queries",
        str(words_corpus / "queries"),
        "--ref",
        str(words_corpus / "archive" / "ctm"),
        "--max-queries",
        "3",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "ev2"),
        "--thresholds-from",
        str(tmp_path / "ev" / "results.json"),
    ]
    run_ok(args)
    rows2 = json.loads((tmp_path / "ev2" / "results.json").read_text())["rows"]
    for r, r2 in zip(rows, rows2, strict=True):
        assert r2["atwv"] == pytest.approx(r["mtwv"], abs=1e-4)


def test_index_add_grows_the_index_and_refuses_a_repeat(search_setup, words_corpus, tmp_path):
    idx = tmp_path / "idx"
    shutil.copytree(search_setup / "idx", idx)
    before = len((idx / "segments.tsv").read_text().splitlines())
    new = tmp_path / "new"
    (new / "sub").mkdir(parents=True)
    shutil.copy(
        (words_corpus / "queries" / "wav.scp").read_text().split()[1], new / "sub" / "q.wav"
    )
    run_ok(["index", "add", str(idx), str(new), "--device", "cpu"])
    after = len((idx / "segments.tsv").read_text().splitlines())
    assert after > before
    res = runner.invoke(app, ["index", "add", str(idx), str(new), "--device", "cpu"])
    assert res.exit_code == 1 and "already in the index" in res.stderr


def test_search_refuses_an_index_whose_embedder_changed(search_setup, words_corpus, tmp_path):
    import torch as _t

    emb = tmp_path / "emb"
    shutil.copytree(search_setup / "emb", emb)
    idx = tmp_path / "idx"
    shutil.copytree(search_setup / "idx", idx)
    settings = json.loads((idx / "embed.json").read_text())
    settings["model"] = str(emb)
    (idx / "embed.json").write_text(json.dumps(settings))
    final = _t.load(emb / "final.pt", weights_only=False)
    final["model"] = {
        k: v + 0.01 if v.is_floating_point() else v for k, v in final["model"].items()
    }
    _t.save(final, emb / "final.pt")
    wav = (words_corpus / "queries" / "wav.scp").read_text().split()[1]
    res = runner.invoke(app, ["search", wav, "--index", str(idx), "--device", "cpu"])
    assert res.exit_code == 1 and "rebuild the index" in res.stderr


def test_plot_embeddings_of_ctm_word_segments(search_setup, words_corpus, tmp_path):
    run_ok(
        [
            "embed",
            str(search_setup / "emb"),
            str(words_corpus / "archive"),
            "--out",
            str(tmp_path / "wv"),
            "--segments",
            "ctm",
            "--device",
            "cpu",
        ]
    )
    run_ok(
        [
            "plot-embeddings",
            str(tmp_path / "wv"),
            "--labels",
            str(words_corpus / "archive" / "ctm"),
            "--out",
            str(tmp_path / "map.png"),
        ]
    )
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_embed_names_a_folder_without_audio(search_setup, tmp_path):
    (tmp_path / "empty").mkdir()
    res = runner.invoke(
        app,
        [
            "embed",
            str(search_setup / "emb"),
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "v"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 1 and "no audio files found" in res.stderr
    assert not (tmp_path / "v").exists()


def test_embed_cuts_a_given_kaldi_segments_file(search_setup, words_corpus, tmp_path):
    utts = (words_corpus / "archive" / "text").read_text().split("\n")[:2]
    seg = tmp_path / "segments"
    seg.write_text("".join(f"{u.split()[0]}-a {u.split()[0]} 0.10 0.50\n" for u in utts))
    run_ok(
        [
            "embed",
            str(search_setup / "emb"),
            str(words_corpus / "archive"),
            "--out",
            str(tmp_path / "v"),
            "--segments",
            "segments",
            "--ctm",
            str(seg),
            "--device",
            "cpu",
        ]
    )
    rows = (tmp_path / "v" / "segments.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[2:] for r in rows] == [["0.100", "0.500"], ["0.100", "0.500"]]
    seg.write_text("x-a nosuchrecording 0.1 0.5\n")
    res = runner.invoke(
        app,
        [
            "embed",
            str(search_setup / "emb"),
            str(words_corpus / "archive"),
            "--out",
            str(tmp_path / "w"),
            "--segments",
            "segments",
            "--ctm",
            str(seg),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 1 and "nosuchrecording" in res.stderr


def test_the_same_word_stats_reach_metrics_csv(search_setup):
    import csv

    rows = list(csv.DictReader((search_setup / "emb" / "metrics.csv").open()))
    assert len(rows) == 2
    for r in rows:  # the embedder's loss parts, averaged per epoch by the Trainer
        assert float(r["train_mse"]) > 0 and float(r["train_same_word"]) > 0


def test_train_embedder_starts_from_a_ctc_encoder(words_corpus, words_ctc, tmp_path):
    """--init-from EXP --init-part encoder: a CTC model's encoder starts the embedder."""
    from speechseq.core import checkpoint as ckpt

    enc = "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, dropout: 0.0}\n"
    train = "train: {max_epochs: 1, max_frames: 3000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
    (tmp_path / "emb.yaml").write_text(enc + train + "embed: {dim: 8, decoder_hidden: 8}\n")
    d = words_corpus
    res = run_ok(
        [
            "train-embedder",
            str(d / "train"),
            "--out",
            str(tmp_path / "emb"),
            "--config",
            str(tmp_path / "emb.yaml"),
            "--init-from",
            str(words_ctc),
            "--init-part",
            "encoder",
            "--freeze",
            "encoder",
        ]
    )
    assert "init-from" in res.output and "under 'encoder'" in res.output
    ctc = ckpt.load(words_ctc / "final.pt")["model"]
    emb = ckpt.load(tmp_path / "emb" / "final.pt")["model"]
    keys = [k for k in ctc if k.startswith("encoder.")]
    assert keys and all(torch.equal(ctc[k], emb[k]) for k in keys)
    cfg = (tmp_path / "emb" / "config.yaml").read_text()
    assert "init_part: encoder" in cfg  # the run's origin is in its config
    bad = runner.invoke(
        app,
        [
            "train-embedder",
            str(d / "train"),
            "--out",
            str(tmp_path / "e2"),
            "--config",
            str(tmp_path / "emb.yaml"),
            "--init-from",
            str(words_ctc),
            "--init-part",
            "decoder",
        ],
    )
    assert bad.exit_code == 1 and "no parameters under 'decoder'" in bad.output


def _query_wav(words_corpus):
    return (words_corpus / "queries" / "wav.scp").read_text().split()[1]


def test_a_single_word_clip_shorter_than_every_window_is_indexed_and_found(
    search_setup, words_corpus, tmp_path
):
    """One window of the clip's whole length (not one per width, sharing an id and a zero vector)."""
    import soundfile as sf

    clips = tmp_path / "clips"
    clips.mkdir()
    queries = (words_corpus / "queries" / "wav.scp").read_text().split("\n")[:3]
    for line in queries:
        shutil.copy(line.split()[1], clips / f"{line.split()[0]}.wav")
    longest = max(sf.info(p).duration for p in clips.iterdir())
    widths = f"{longest + 0.5:.2f},{longest + 1.0:.2f}"  # both longer than every clip
    run_ok(
        [
            "embed",
            str(search_setup / "emb"),
            str(clips),
            "--out",
            str(tmp_path / "v"),
            "--widths",
            widths,
            "--device",
            "cpu",
        ]
    )
    vecs = np.load(tmp_path / "v" / "vectors.npy")
    rows = [r.split("\t") for r in (tmp_path / "v" / "segments.tsv").read_text().splitlines()[1:]]
    assert len(rows) == len(queries) == vecs.shape[0]  # one window per clip
    assert len({r[0] for r in rows}) == len(rows)  # unique segment ids
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)  # no zero vectors
    for r in rows:
        assert float(r[2]) == 0.0 and abs(float(r[3]) - sf.info(clips / r[1]).duration) < 0.03
    run_ok(["index", "build", str(tmp_path / "v"), "--out", str(tmp_path / "idx")])
    clip = sorted(clips.iterdir())[0]
    res = run_ok(
        [
            "search",
            str(clip),
            "--index",
            str(tmp_path / "idx"),
            "--top-k",
            "1",
            "--json",
            "--device",
            "cpu",
        ]
    )
    assert json.loads(res.stdout)["hits"][0]["source"] == clip.name


@pytest.mark.parametrize("level, shown", [(0.0, "-inf"), (3e-4, "-70.3")])  # 10 int16 steps
def test_search_says_a_silent_query_has_no_speech(search_setup, tmp_path, level, shown):
    from speechseq.data.audio import write_wav

    x = level * np.random.default_rng(0).choice([-1.0, 1.0], 16000).astype(np.float32)
    write_wav(tmp_path / "quiet.wav", x, 16000)
    res = runner.invoke(
        app,
        [
            "search",
            str(tmp_path / "quiet.wav"),
            "--index",
            str(search_setup / "idx"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 1 and res.stdout == ""
    assert f"query {tmp_path / 'quiet.wav'}: no speech found (peak level {shown} dBFS" in res.stderr
    res = runner.invoke(
        app,
        [
            "search",
            str(tmp_path / "quiet.wav"),
            "--index",
            str(search_setup / "idx"),
            "--method",
            "dtw",
        ],
    )
    assert res.exit_code == 1 and "no speech found" in res.stderr


# steps: the new vectors' temporary directory (atomic_dir), then the index's own steps:
# the commit; or, for an index of plain files (old layout), adopting them (commit + 4 links) first
@pytest.mark.parametrize("layout, steps", [("generations", 2), ("old layout", 7)])
def test_index_add_killed_at_every_step_leaves_old_or_new_index(
    search_setup, words_corpus, tmp_path, command_runner, layout, steps
):
    from speechseq.std.index import IndexStore
    from tests.faults import kill_at_every_step
    from tests.std.helpers import assert_clean, old_layout

    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(_query_wav(words_corpus), new / "q.wav")
    idx = tmp_path / "idx"

    def state():
        store = IndexStore.open(idx)
        settings = json.loads(store.files["embed.json"].read_text())
        return [r.segment_id for r in store.segments], len(store), settings

    def reset():
        shutil.rmtree(idx, ignore_errors=True)
        shutil.copytree(search_setup / "idx", idx, symlinks=True)
        if layout == "old layout":
            old_layout(idx)

    reset()
    old = state()
    args = ["index", "add", str(idx), str(new), "--device", "cpu"]
    run_ok(args)
    grown = state()
    assert grown[1] > old[1] and grown[2] == old[2]  # embed.json carried over

    def after_kill(n):
        assert state() == old, f"killed at step {n}: not the old index"
        run_ok(args)  # the rerun
        assert state() == grown
        assert_clean(idx)

    assert kill_at_every_step(command_runner, args, reset, after_kill) == steps
    assert state() == grown
    assert_clean(idx)


def test_search_combine_with_one_example_equals_plain_search(search_setup, words_corpus):
    from speechseq.std.qbe import search_files

    wav = (words_corpus / "queries" / "wav.scp").read_text().split()[1]
    plain = search_files(search_setup / "idx", [wav], top_k=5, device="cpu")[0]
    for how in ("mean", "max"):
        got = search_files(search_setup / "idx", [wav], top_k=5, device="cpu", combine=how)[0]
        assert [(h.source, h.start_s, round(h.score, 5)) for h in got[0]] == [
            (h.source, h.start_s, round(h.score, 5)) for h in plain[0]
        ]


def test_search_combine_of_two_examples_gives_one_hit_list(search_setup, words_corpus, tmp_path):
    lines = (words_corpus / "queries" / "text").read_text().splitlines()
    wavs = dict(
        ln.split(maxsplit=1)
        for ln in (words_corpus / "queries" / "wav.scp").read_text().splitlines()
    )
    by_word = {}
    for ln in lines:
        utt, word = ln.split(maxsplit=1)
        by_word.setdefault(word, []).append(wavs[utt])
    pair = next(v[:2] for v in by_word.values() if len(v) >= 2)
    res = run_ok(
        [
            "search",
            *pair,
            "--index",
            str(search_setup / "idx"),
            "--combine",
            "max",
            "--top-k",
            "3",
            "--json",
            "--device",
            "cpu",
            "--export",
            str(tmp_path / "x"),
        ]
    )
    out = json.loads(res.stdout)
    assert out["query"] == "+".join(pair) and 1 <= len(out["hits"]) <= 3
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    bad = runner.invoke(
        app, ["search", *pair, "--index", str(search_setup / "idx"), "--combine", "sum"]
    )
    assert bad.exit_code == 2 and "--combine sum" in bad.output


def test_posteriorgram_dtw_finds_a_planted_exact_copy_first(words_ctc, words_corpus):
    from speechseq.data.audio import read_audio
    from speechseq.std.dtw import dtw_search
    from speechseq.std.posteriorgram import Posteriorgrams

    pg = Posteriorgrams(words_ctc, device="cpu")
    wavs = (words_corpus / "archive" / "wav.scp").read_text().splitlines()[:4]
    audio = {u: read_audio(p, 16000) for u, p in (w.split(maxsplit=1) for w in wavs)}
    docs = {u: pg.of_audio(x) for u, x in audio.items()}
    target = list(audio)[2]
    x = audio[target]
    a, b = len(x) // 4, len(x) // 4 + 8000  # half a second cut out of the third recording
    query = pg.of_audio(x[a:b])
    np.testing.assert_allclose(query.sum(axis=1), 1.0, atol=1e-4)  # frames of posteriors
    best = dtw_search(query, docs, frame_shift_s=pg.frame_shift_s, top_k=3)[0]
    assert best.source == target
    assert abs(best.start_s - a / 16000) < 0.1 and abs(best.end_s - b / 16000) < 0.1


def test_eval_std_with_posteriorgram_dtw(search_setup, words_corpus, words_ctc, tmp_path):
    res = run_ok(
        [
            "eval-std",
            "--index",
            str(search_setup / "idx"),
            "--queries",
            str(words_corpus / "queries"),
            "--ref",
            str(words_corpus / "archive" / "ctm"),
            "--max-queries",
            "2",
            "--no-dtw",
            "--posteriorgram",
            str(words_ctc),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "ev"),
        ]
    )
    assert [ln.split()[0] for ln in res.stdout.splitlines()[1:]] == ["embed", "dtw-pg"]
    assert (tmp_path / "ev" / "kws" / "dtw-pg" / "kwslist.xml").is_file()
    bad = runner.invoke(
        app,
        [
            "eval-std",
            "--index",
            str(search_setup / "idx"),
            "--queries",
            str(words_corpus / "queries"),
            "--ref",
            str(words_corpus / "archive" / "ctm"),
            "--posteriorgram",
            str(search_setup / "emb"),
            "--no-dtw",
            "--device",
            "cpu",
        ],
    )
    assert bad.exit_code == 1 and "has no frame outputs" in bad.output


def test_search_method_dtw_finds_a_planted_copy_of_the_query_first(
    search_setup, words_corpus, tmp_path
):
    """The query is cut out of one archive recording: DTW ranks that very stretch first."""
    import soundfile as sf

    from speechseq.data.audio import read_audio, write_wav

    line = (words_corpus / "archive" / "wav.scp").read_text().splitlines()[3]
    rec, path = line.split()[0], line.split()[1]
    x = read_audio(path, 16000)
    start_s, end_s = 0.25 * len(x) / 16000, 0.75 * len(x) / 16000
    write_wav(tmp_path / "q.wav", x[int(start_s * 16000) : int(end_s * 16000)], 16000)
    assert sf.info(tmp_path / "q.wav").duration > 0.3
    res = run_ok(
        [
            "search",
            str(tmp_path / "q.wav"),
            "--index",
            str(search_setup / "idx"),
            "--method",
            "dtw",
            "--top-k",
            "5",
            "--json",
        ]
    )
    hits = json.loads(res.stdout)["hits"]
    assert len(hits) == 5
    top = hits[0]
    assert rec in top["source"], (rec, hits)
    overlap = min(top["end_s"], end_s) - max(top["start_s"], start_s)
    assert overlap >= 0.8 * (end_s - start_s), (top, start_s, end_s)  # that very stretch,
    assert top["end_s"] - top["start_s"] <= 1.2 * (end_s - start_s), top  # not one around it
    assert top["score"] > hits[1]["score"]
    assert "ms per query (dtw)" in res.stderr


def test_eval_std_table_keeps_wide_values_apart():
    from speechseq.cli.embed import results_table

    row = {
        "method": "embedder-contrastive", "map": 0.5, "p_at_10": 0.25, "p_at_n": 1.0,
        "same_diff_ap": None, "atwv": -2329.5131, "mtwv": 0.0, "ms_per_query": 12345.67,
        "queries": 123456789,
    }  # fmt: skip
    header, line = results_table([row])
    assert header.split() == [
        "method", "MAP", "P@10", "P@N", "SD-AP", "ATWV", "MTWV", "ms/query", "queries"
    ]  # fmt: skip
    assert line.split() == [
        "embedder-contrastive", "0.500", "0.250", "1.000", "-", "-2329.513", "0.000",
        "12345.7", "123456789",
    ]  # fmt: skip
    narrow = {**row, "method": "dtw", "atwv": 0.1, "ms_per_query": 1.0, "queries": 20}
    narrow = results_table([narrow])[1]
    assert len(narrow) == len(header)  # ordinary values line up under the header


def test_eval_std_scores_a_two_word_query_where_its_words_follow_one_another(
    search_setup, words_corpus, tmp_path
):
    """A query of two words (cut from the archive: two words one after the other) is a term of
    its own: relevant where both words occur in a row, in the term list and kwslist as such."""
    import soundfile as sf

    from speechseq.data.kaldi_dir import read_ctm, write_table
    from speechseq.metrics.kws import read_kwlist

    ctm = read_ctm(words_corpus / "archive" / "ctm")
    by_utt: dict[str, list] = {}
    for e in ctm:
        by_utt.setdefault(e.utt, []).append(e)
    utt = sorted(by_utt)[0]
    first, second = sorted(by_utt[utt], key=lambda e: e.start_s)[:2]
    wav = dict(ln.split() for ln in (words_corpus / "archive" / "wav.scp").read_text().splitlines())
    x, sr = sf.read(wav[utt], dtype="float32")
    q = tmp_path / "queries"
    q.mkdir()
    sf.write(q / "q1.wav", x[int(first.start_s * sr) : int(second.end_s * sr)], sr)
    write_table(q / "wav.scp", {"q1": str(q / "q1.wav")})
    write_table(q / "text", {"q1": f"{first.word}  {second.word}"})  # spaces made one
    write_table(q / "utt2spk", {"q1": "q1"})
    write_table(q / "spk2utt", {"q1": "q1"})
    args = ["eval-std", "--index", search_setup / "idx", "--queries", q, "--no-dtw"]
    run_ok([str(a) for a in [*args, "--ref", words_corpus / "archive" / "ctm", "--out", tmp_path / "ev", "--device", "cpu"]])  # fmt: skip
    term = f"{first.word} {second.word}"
    row = json.loads((tmp_path / "ev" / "results.json").read_text())["rows"][0]
    assert row["map"] is not None and 0 < row["map"] <= 1  # the term occurs: it is scored
    assert row["mtwv"] is not None and row["atwv"] is not None
    assert list(read_kwlist(tmp_path / "ev" / "kws" / "kwlist.xml").values()) == [term]
    hits = (tmp_path / "ev" / "hits.tsv").read_text().splitlines()[1:]
    assert hits and all(h.split("\t")[2] == term for h in hits)


def test_only_dtw_searches_warm_up_the_dtw(monkeypatch):
    # numba compiles our DTW on its first call (~20 s in a fresh install): a search by embeddings
    # must not pay it before its timing starts, a DTW search must
    from speechseq.std import qbe

    calls = []
    monkeypatch.setattr(qbe, "subsequence_dtw", lambda q, d: calls.append((q.shape, d.shape)))
    qbe.warm_up()
    assert calls == []
    qbe.warm_up(dtw=True)
    assert calls == [((10, 13), (30, 13))]


def _queries_dir(root, rows):
    """A data dir of spoken queries: ``rows`` = [(utt id, wav path, text)]."""
    from speechseq.data.kaldi_dir import write_table

    root.mkdir()
    write_table(root / "wav.scp", {u: str(w) for u, w, _ in rows})
    write_table(root / "text", {u: t for u, _, t in rows})
    write_table(root / "utt2spk", {u: u for u, _, _ in rows})
    write_table(root / "spk2utt", {u: u for u, _, _ in rows})
    return root


@pytest.mark.parametrize("how", ["mean", "max"])
def test_eval_std_combine_scores_each_term_once_beside_its_examples_alone(
    search_setup, words_corpus, tmp_path, how
):
    wav = dict(ln.split() for ln in (words_corpus / "queries" / "wav.scp").read_text().splitlines())
    text = dict(ln.split(maxsplit=1) for ln in (words_corpus / "queries" / "text").read_text().splitlines())  # fmt: skip
    by_text = {text[u]: u for u in sorted(wav, reverse=True)}  # one query of each word
    a, b, other = (by_text[t] for t in sorted(by_text)[:3])
    # two examples of a's word (the same recording twice: combined, they search as one), two of
    # other's, and b's word spoken once (left out of the combined rows)
    q = _queries_dir(
        tmp_path / "q",
        [("q1", wav[a], text[a]), ("q2", wav[a], text[a]), ("q3", wav[b], text[b])]
        + [("q4", wav[other], text[other]), ("q5", wav[other], text[other])],
    )
    args = ["eval-std", "--index", search_setup / "idx", "--queries", q, "--no-dtw"]
    args += ["--ref", words_corpus / "archive" / "ctm", "--out", tmp_path / "ev", "--device", "cpu"]
    res = run_ok([str(x) for x in [*args, "--combine", how]])
    rows = {r["method"]: r for r in json.loads((tmp_path / "ev" / "results.json").read_text())["rows"]}  # fmt: skip
    assert list(rows) == ["embed", "embed-one", f"embed-{how}"]
    assert rows["embed"]["queries"] == 5 and rows["embed-one"]["queries"] == 4
    assert rows[f"embed-{how}"]["queries"] == 2  # two terms with two examples each
    assert f"embed-{how}" in res.stdout
    hits = [h.split("\t") for h in (tmp_path / "ev" / "hits.tsv").read_text().splitlines()[1:]]
    alone = [h[4:] for h in hits if h[0] == "embed" and h[1] == "q1"]
    both = [h[4:] for h in hits if h[0] == f"embed-{how}" and h[2] == text[a]]
    assert alone and both == alone  # two copies of one example search as that example
    # identical examples: the combined search scores as each example alone
    assert rows[f"embed-{how}"]["map"] == pytest.approx(rows["embed-one"]["map"])


def test_eval_std_combine_needs_a_term_spoken_twice(search_setup, words_corpus, tmp_path):
    wav = sorted(ln.split()[1] for ln in (words_corpus / "queries" / "wav.scp").read_text().splitlines())  # fmt: skip
    q = _queries_dir(tmp_path / "q", [("q1", wav[0], "one term"), ("q2", wav[1], "another")])
    args = ["eval-std", "--index", search_setup / "idx", "--queries", q, "--no-dtw"]
    args += ["--ref", words_corpus / "archive" / "ctm", "--device", "cpu", "--out", tmp_path / "ev"]
    res = runner.invoke(app, [str(x) for x in [*args, "--combine", "mean"]])
    assert res.exit_code == 1 and "no term is spoken by two queries" in res.output
    assert str(q / "text") in res.output and not (tmp_path / "ev").exists()
    bad = runner.invoke(app, [str(x) for x in [*args, "--combine", "sum"]])
    assert bad.exit_code == 2 and "--combine sum" in bad.output


def test_eval_std_expand_adds_the_expanded_search_beside_the_plain_one(
    search_setup, words_corpus, tmp_path
):
    from speechseq.std.qbe import search_files

    wav = dict(ln.split() for ln in (words_corpus / "queries" / "wav.scp").read_text().splitlines())
    text = dict(ln.split(maxsplit=1) for ln in (words_corpus / "queries" / "text").read_text().splitlines())  # fmt: skip
    u = sorted(wav)[0]
    q = _queries_dir(tmp_path / "q", [("q1", wav[u], text[u])])
    args = ["eval-std", "--index", search_setup / "idx", "--queries", q, "--no-dtw", "--top-k", "5"]
    args += ["--ref", words_corpus / "archive" / "ctm", "--out", tmp_path / "ev", "--device", "cpu"]
    res = run_ok([str(x) for x in [*args, "--expand", "3"]])
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    rows = {r["method"]: r for r in results["rows"]}
    assert list(rows) == ["embed", "embed-qe"] and "embed-qe" in res.stdout
    assert results["expand"] == 3  # the setting is recorded beside the figures
    assert rows["embed-qe"]["same_diff_ap"] == rows["embed"]["same_diff_ap"]
    hits = [h.split("\t") for h in (tmp_path / "ev" / "hits.tsv").read_text().splitlines()[1:]]
    qe = [(h[4], h[5]) for h in hits if h[0] == "embed-qe"]
    plain = [(h[4], h[5]) for h in hits if h[0] == "embed"]
    # the hits of `search --expand 3` on the same file, not the plain search's
    got = search_files(search_setup / "idx", [wav[u]], top_k=5, device="cpu", expand=3)[0][0]
    assert qe == [(h.source, f"{h.start_s:.3f}") for h in got]
    alone = search_files(search_setup / "idx", [wav[u]], top_k=5, device="cpu")[0][0]
    assert plain == [(h.source, f"{h.start_s:.3f}") for h in alone]
    assert [round(h.score, 4) for h in got] != [round(h.score, 4) for h in alone]
    bad = runner.invoke(
        app,
        [
            "search",
            wav[u],
            "--index",
            str(search_setup / "idx"),
            "--expand",
            "2",
            "--method",
            "dtw",
        ],
    )
    assert bad.exit_code == 2 and "--expand works with --method embed" in bad.output
