"""decode / align --from-parts: a data dir decoded or aligned part by part and merged is scored or
written as one decode or alignment, and a part or an utterance that is missing is one error naming it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.kaldi_dir import read_table, write_table
from speechseq.data.ops import split_data_dir
from speechseq.decode.merge import merge_part_alignments, merge_part_decodes
from speechseq.errors import SpeechseqError
from speechseq.hybrid.align import read_alignments, write_alignments

runner = CliRunner()
SCORED = ("hyp.txt", "wer", "per_utt", "per_spk")


def _decode(*args) -> str:
    res = runner.invoke(app, ["decode", *map(str, args), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return res.stdout


def _test_set(digits_corpus, tmp_path):
    """A copy of the digits test set (features included) and its two parts."""
    data = tmp_path / "test"
    shutil.copytree(digits_corpus / "test", data)
    return data, split_data_dir(data, 2)


def test_two_parts_merged_are_the_whole_decode(tiny_model, digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    whole = _decode(tiny_model, data, "--beam", 4, "--out", tmp_path / "whole")
    out = tmp_path / "merged"
    for k, part in enumerate(parts, start=1):
        _decode(tiny_model, part, "--beam", 4, "--out", out / f"part-{k}")
    merged = _decode(tiny_model, data, "--from-parts", data / "split2", "--out", out)
    assert merged == whole  # the %WER and %CER lines
    for name in SCORED:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    hyps = read_table(out / "hyp.txt", allow_empty=True)
    assert len(hyps) == len(read_table(data / "utt2spk")) and any(hyps.values())
    assert sorted(p.name for p in out.iterdir()) == sorted([*SCORED, "results.json"])  # parts gone
    r = json.loads((out / "results.json").read_text())
    w = json.loads((tmp_path / "whole" / "results.json").read_text())
    for key in ("data", "utterances", "options", "wer", "cer", "wer_line", "speaker_wer"):
        assert r[key] == w[key], key
    assert r["audio_s"] == pytest.approx(w["audio_s"], abs=0.02) and r["parts"] == 2


def test_a_grid_decoded_in_parts_merges_point_by_point(tiny_model, digits_corpus, tmp_path):
    from speechseq.lm.ngram import read_sentences, train_ngram

    data, parts = _test_set(digits_corpus, tmp_path)
    sentences, _ = read_sentences(digits_corpus / "train" / "text", kaldi_text=True)
    train_ngram(sentences, order=2).write_arpa(tmp_path / "lm.arpa")
    grid = ["--beam", 4, "--lm", tmp_path / "lm.arpa", "--lm-weight", "0.5,1.5"]
    grid += ["--word-bonus", "0,2"]
    whole = _decode(tiny_model, data, *grid, "--out", tmp_path / "whole")
    out = tmp_path / "merged"
    (out / "beam4_lm-lm_w9_b9").mkdir(parents=True)  # an earlier grid's point: replaced with OUT
    for k, part in enumerate(parts, start=1):
        _decode(tiny_model, part, *grid, "--out", out / f"part-{k}")
    merged = _decode(tiny_model, data, "--from-parts", data / "split2", "--out", out)
    points = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert points == [f"beam4_lm-lm_w{w}_b{b}" for w in ("0.5", "1.5") for b in ("0", "2")]
    assert sorted(p.name for p in out.iterdir()) == points  # the parts and the old point gone
    # a %WER and %CER line per point, in the grid's order, each naming its dir
    assert merged == whole.replace(str(tmp_path / "whole"), str(out))
    for point in points:
        for name in SCORED:
            got, want = out / point / name, tmp_path / "whole" / point / name
            assert got.read_bytes() == want.read_bytes(), (point, name)
        assert json.loads((out / point / "results.json").read_text())["parts"] == 2


def test_parts_decoded_over_other_grids_are_refused(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(tmp_path / "w1", parts)  # point w1 in both parts, point w2 in part 2 only
    _fake_parts(tmp_path / "w2", parts[1:])
    for k in (1, 2):
        (out / f"part-{k}").mkdir(parents=True)
        (tmp_path / "w1" / f"part-{k}").rename(out / f"part-{k}" / "w1")
    (tmp_path / "w2" / "part-1").rename(out / "part-2" / "w2")
    with pytest.raises(SpeechseqError) as e:
        merge_part_decodes(data, data / "split2", out)
    assert str(e.value) == (
        f"{out}/part-2: part 2 holds other grid points than {out}/part-1 (differing: w2) — "
        "decode every part with the same --lm-weight / --word-bonus grid"
    )
    assert sorted(p.name for p in out.iterdir()) == ["part-1", "part-2"]


def test_a_grid_part_not_decoded_or_with_no_point_is_named(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(tmp_path / "w1", parts)
    (out / "part-1").mkdir(parents=True)
    (tmp_path / "w1" / "part-1").rename(out / "part-1" / "w1")  # part 2: no dir at all
    with pytest.raises(SpeechseqError) as e:
        merge_part_decodes(data, data / "split2", out)
    assert str(e.value).startswith(
        f"{out}/part-2: part 2 holds other grid points than {out}/part-1 (differing: w1)"
    )
    shutil.rmtree(out / "part-1" / "w1")  # part 1 a dir without a decoded point: not decoded
    with pytest.raises(SpeechseqError) as e:
        merge_part_decodes(data, data / "split2", out)
    assert str(e.value).startswith(f"{out}/part-1: part 1 was not decoded (no hyp.txt")
    assert sorted(p.name for p in out.iterdir()) == ["part-1"]


def _fake_parts(out, parts, drop=(), options=None):
    """Decode dirs as ``decode PART --out OUT/part-K`` writes them, without a model: each part's
    hyp is its reference (less the utterances in ``drop``), 1 s of decoding per 10 s of audio."""
    for k, part in enumerate(parts, start=1):
        d = out / f"part-{k}"
        d.mkdir(parents=True)
        write_table(
            d / "hyp.txt", {u: t for u, t in read_table(part / "text").items() if u not in drop}
        )
        r = {"options": options or {"beam": 4}, "audio_s": 10.0 * k, "decode_s": 1.0 * k}
        r["search_rtf"] = 0.01
        (d / "results.json").write_text(json.dumps(r))


def test_the_merged_results_add_up_the_parts_in_the_data_dirs_order(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    # part 1 holds the later speaker: the parts one after the other are not feats.scp's order
    parts[0].rename(data / "split2" / "x")
    parts[1].rename(parts[0])
    (data / "split2" / "x").rename(parts[1])
    _fake_parts(tmp_path / "out", parts)
    assert min(read_table(parts[0] / "utt2spk")) > max(read_table(parts[1] / "utt2spk"))
    [r] = merge_part_decodes(data, data / "split2", tmp_path / "out")
    assert (r["audio_s"], r["decode_s"], r["rtf"], r["search_rtf"]) == (30.0, 3.0, 0.1, 0.01)
    assert r["wer"] == 0.0 and r["utterances"] == len(read_table(data / "utt2spk"))
    assert json.loads((tmp_path / "out" / "results.json").read_text())["rtf"] == 0.1
    assert (tmp_path / "out" / "hyp.txt").read_text() == (data / "text").read_text()
    per_utt = (tmp_path / "out" / "per_utt").read_text().splitlines()
    assert [line.split()[0] for line in per_utt[::4]] == list(read_table(data / "feats.scp"))


def test_a_part_not_decoded_is_named_and_nothing_is_written(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    shutil.rmtree(out / "part-2")
    res = runner.invoke(
        app,
        ["decode", "exp", str(data), "--from-parts", str(data / "split2")] + ["--out", str(out)],
    )
    assert res.exit_code == 1
    assert f"{out}/part-2: part 2 was not decoded" in res.output
    assert f"decode {data}/split2/2 with --out {out}/part-2" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["part-1"]


def test_an_utterance_in_no_part_is_named(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    lost = sorted(read_table(parts[1] / "utt2spk"))[0]
    _fake_parts(tmp_path / "out", parts, drop={lost})
    with pytest.raises(
        SpeechseqError, match=rf"{data}: utterance {lost} \(1 in all\) is in no part's hyp.txt"
    ):
        merge_part_decodes(data, data / "split2", tmp_path / "out")
    assert not (tmp_path / "out" / "hyp.txt").exists()


def test_an_utterance_in_two_parts_or_from_another_data_dir_is_named(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    hyp2 = read_table(out / "part-2" / "hyp.txt")
    utt = sorted(read_table(parts[0] / "utt2spk"))[0]
    write_table(out / "part-2" / "hyp.txt", {**hyp2, utt: "one"})
    with pytest.raises(
        SpeechseqError, match=rf"part-2/hyp.txt: utterance {utt} is also in .*part-1/hyp.txt"
    ):
        merge_part_decodes(data, data / "split2", out)
    write_table(out / "part-2" / "hyp.txt", {**hyp2, "zzz-stranger": "one"})
    with pytest.raises(
        SpeechseqError, match=r"part-2/hyp.txt: utterance zzz-stranger \(1 in all\) is not in"
    ):
        merge_part_decodes(data, data / "split2", out)


def test_parts_decoded_with_other_options_are_refused(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    _fake_parts(tmp_path / "out", parts)
    (tmp_path / "out" / "part-2" / "results.json").write_text(
        json.dumps({"options": {"beam": 1}, "audio_s": 1.0, "decode_s": 1.0, "search_rtf": 0.0})
    )
    with pytest.raises(SpeechseqError, match="part-2/results.json: other decode options than"):
        merge_part_decodes(data, data / "split2", tmp_path / "out")


def _refused(data, out) -> str:
    """The merge's error message; nothing was written into ``out``."""
    with pytest.raises(SpeechseqError) as e:
        merge_part_decodes(data, data / "split2", out)
    assert not (out / "hyp.txt").exists()
    return str(e.value)


def _as_translation(out, k, reference="text", stopped=()):
    """Make fake part ``k`` a translation decode (bleu in its results) scored against ``reference``."""
    r = json.loads((out / f"part-{k}" / "results.json").read_text())
    r.update(bleu=0.0, reference=reference, stopped_by_length_guard=list(stopped))
    (out / f"part-{k}" / "results.json").write_text(json.dumps(r))


def test_translation_parts_are_scored_with_bleu_over_all_parts(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    utts = sorted(read_table(data / "utt2spk"))
    _as_translation(out, 1, stopped=[utts[0]])
    _as_translation(out, 2, stopped=[utts[-1]])
    # one wrong hypothesis in part 2: the corpus BLEU of all hypotheses, not the parts' average
    hyp2 = read_table(out / "part-2" / "hyp.txt")
    wrong = sorted(hyp2)[0]
    write_table(out / "part-2" / "hyp.txt", {**hyp2, wrong: "nine nine nine nine"})
    [r] = merge_part_decodes(data, data / "split2", out)
    from speechseq.metrics.bleu import translation_scores

    refs = read_table(data / "text")
    want = translation_scores(refs, {**refs, wrong: "nine nine nine nine"})
    assert r["bleu"] == round(want.bleu, 2) < 100 and r["chrf"] == round(want.chrf, 2)
    assert (out / "bleu").read_text() == "\n".join(want.lines()) + "\n"
    assert r["stopped_by_length_guard"] == [utts[0], utts[-1]] and r["reference"] == "text"
    assert sorted(p.name for p in out.iterdir()) == [
        "bleu", "hyp.txt", "per_utt", "ref.txt", "results.json"
    ]  # fmt: skip
    assert "wer" not in r and r["parts"] == 2


def test_a_cascade_or_a_translation_beside_a_wer_decode_is_refused(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    _as_translation(out, 2)
    with pytest.raises(SpeechseqError) as e:
        merge_part_decodes(data, data / "split2", out)
    assert str(e.value).startswith(
        f"{out}/part-2/results.json: other decode options than {out}/part-1 (translation: "
    )
    assert str(e.value).endswith("— decode every part with the same model and options")
    r = json.loads((out / "part-1" / "results.json").read_text())
    (out / "part-1" / "results.json").write_text(json.dumps({**r, "mt": "exp/mt_de"}))
    assert _refused(data, out) == (
        f"{out}/part-1: a cascade decode (--cascade: asr_hyp.txt, oov.txt) — its parts are not "
        f"merged; decode {data} whole"
    )


def test_a_lattice_missing_from_a_part_is_named(digits_corpus, tmp_path):
    import gzip

    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    for k, part in enumerate(parts, start=1):
        utts = sorted(read_table(part / "utt2spk"))
        if k == 2:
            utts = utts[1:]  # its first utterance has a hypothesis, no lattice
        text = "".join(f"{u}\n0 1 3 3 1.5,2.25,1_1\n1\n\n" for u in utts)
        (out / f"part-{k}" / "lat.txt.gz").write_bytes(gzip.compress(text.encode()))
    lost = sorted(read_table(parts[1] / "utt2spk"))[0]
    assert _refused(data, out) == (
        f"{out}/part-2/lat.txt.gz: no lattice for utterance {lost} (1 in all), which has a "
        f"hypothesis in {out}/part-2/hyp.txt — decode that part again with --lattice, then merge"
    )
    # with it, every utterance's block in one lat.txt.gz, sorted by utterance
    with gzip.open(out / "part-2" / "lat.txt.gz", "at") as f:
        f.write(f"{lost}\n\n")
    merge_part_decodes(data, data / "split2", out)
    blocks = gzip.decompress((out / "lat.txt.gz").read_bytes()).decode().split("\n\n")[:-1]
    assert [b.split("\n")[0] for b in blocks] == sorted(read_table(data / "utt2spk"))
    assert blocks[0].endswith("0 1 3 3 1.5,2.25,1_1\n1") and f"{lost}" in blocks


def test_from_parts_needs_out_and_a_split_dir(digits_corpus, tmp_path):
    data, _ = _test_set(digits_corpus, tmp_path)
    res = runner.invoke(app, ["decode", "exp", str(data), "--from-parts", str(data / "split2")])
    assert res.exit_code == 2 and "--from-parts needs --out OUT" in res.output
    with pytest.raises(SpeechseqError, match="split3/3: no such part"):
        (data / "split3" / "1").mkdir(parents=True)
        (data / "split3" / "2").mkdir()
        merge_part_decodes(data, data / "split3", tmp_path / "out")
    with pytest.raises(SpeechseqError, match="not a split dir"):
        merge_part_decodes(data, data, tmp_path / "out")


def _align(*args) -> None:
    res = runner.invoke(app, ["align", *map(str, args), "--device", "cpu"])
    assert res.exit_code == 0, res.output


def test_two_parts_aligned_and_merged_are_the_whole_alignment(tiny_model, digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    _align(tiny_model, data, "--out", tmp_path / "whole" / "words.ctm")
    out = tmp_path / "merged" / "words.ctm"
    for k, part in enumerate(parts, start=1):
        _align(tiny_model, part, "--out", tmp_path / "merged" / f"part-{k}" / "words.ctm")
    res = runner.invoke(
        app,
        ["align", str(tiny_model), str(data), "--from-parts"]
        + [str(data / "split2"), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert f"aligned {len(read_table(data / 'text'))} utterances in 2 parts" in res.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["words.ctm", "words.units.ctm"]
    for name in ("words.ctm", "words.units.ctm"):
        assert (out.parent / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert len({line.split()[0] for line in out.read_text().splitlines()}) == len(
        read_table(data / "text")
    )


def _fake_alignments(root, parts, ark=False):
    """``root/part-K/words.ctm`` (and with ``ark`` a hybrid's phones CTM and ark) for each part:
    one word per utterance of the part, at 0.1 s."""
    for k, part in enumerate(parts, start=1):
        d = root / f"part-{k}"
        d.mkdir(parents=True)
        utts = sorted(read_table(part / "utt2spk"))
        (d / "words.ctm").write_text("".join(f"{u} 1 0.100 0.200 one\n" for u in utts))
        if ark:
            (d / "words.phones.ctm").write_text("".join(f"{u} 1 0.100 0.200 W\n" for u in utts))
            write_alignments(d / "words.ali.ark", {u: np.full(3, k) for u in utts})


def test_a_hybrids_ark_and_phone_ctm_are_merged_too(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    _fake_alignments(tmp_path / "ali", parts, ark=True)
    r = merge_part_alignments(data, data / "split2", tmp_path / "ali" / "words.ctm")
    utts = sorted(read_table(data / "utt2spk"))
    assert r["parts"] == 2 and r["utterances"] == len(utts)
    names = sorted(p.name for p in (tmp_path / "ali").iterdir())
    assert names == ["words.ali.ark", "words.ctm", "words.phones.ctm"]
    ali = read_alignments(tmp_path / "ali" / "words.ali.ark")
    assert list(ali) == utts
    write_alignments(tmp_path / "whole.ark", ali)  # the ark a whole hybrid alignment writes
    assert (tmp_path / "ali" / "words.ali.ark").read_bytes() == (
        tmp_path / "whole.ark"
    ).read_bytes()
    in_part2 = set(read_table(parts[1] / "utt2spk"))
    assert all((ali[u] == (2 if u in in_part2 else 1)).all() for u in utts)
    lines = (tmp_path / "ali" / "words.phones.ctm").read_text().splitlines()
    assert [line.split()[0] for line in lines] == utts


def test_an_alignment_part_missing_or_an_utterance_in_none_is_named(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    root = tmp_path / "ali"
    _fake_alignments(root, parts)
    shutil.rmtree(root / "part-2")
    with pytest.raises(
        SpeechseqError, match=r"part-2: part 2 was not aligned as part 1 was \(has nothing"
    ):
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    shutil.rmtree(root)
    _fake_alignments(root, parts)
    lines = (root / "part-2" / "words.ctm").read_text().splitlines()
    (root / "part-2" / "words.ctm").write_text("\n".join(lines[1:]) + "\n")
    lost = lines[0].split()[0]
    with pytest.raises(
        SpeechseqError, match=rf"{data}: utterance {lost} \(1 in all\) is in no part's words.ctm"
    ):
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    (root / "part-2" / "words.ctm").write_text(
        "\n".join([*lines, lines[0].replace("te", "xx")]) + "\n"
    )
    with pytest.raises(SpeechseqError, match=r"part-2/words.ctm: xx.* is not in .*split2/2"):
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert not (root / "words.ctm").exists() and (root / "part-1").is_dir()


def test_the_merged_results_are_rounded_written_and_returned_as_a_whole_decodes(
    digits_corpus, tmp_path
):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    figures = {1: (10.123, 1.23456, 0.0111), 2: (20.456, 2.34567, 0.0222)}
    for k, (audio_s, decode_s, search_rtf) in figures.items():
        r = json.loads((out / f"part-{k}" / "results.json").read_text())
        r.update(audio_s=audio_s, decode_s=decode_s, search_rtf=search_rtf)
        (out / f"part-{k}" / "results.json").write_text(json.dumps(r))
    # an utterance decoded to nothing: its hyp.txt line holds the id alone
    first = sorted(read_table(parts[0] / "utt2spk"))[0]
    hyp = (out / "part-1" / "hyp.txt").read_text().splitlines()
    (out / "part-1" / "hyp.txt").write_text("\n".join([first, *hyp[1:]]) + "\n")
    [r] = merge_part_decodes(data, data / "split2", out)
    audio_s, decode_s = 10.123 + 20.456, 1.23456 + 2.34567
    search_s = 0.0111 * 10.123 + 0.0222 * 20.456
    assert (r["audio_s"], r["decode_s"]) == (round(audio_s, 2), round(decode_s, 3)) == (30.58, 3.58)
    assert r["rtf"] == round(decode_s / audio_s, 5) == 0.11708
    assert r["search_rtf"] == round(search_s / audio_s, 5) == 0.01853
    assert r["out_dir"] == str(out) and r["options"] == {"beam": 4}
    text = (out / "results.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert read_table(out / "hyp.txt", allow_empty=True)[first] == ""


def test_each_refusal_of_a_decode_merge_says_what_to_do(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    (out / "part-2" / "results.json").unlink()  # hyp.txt alone: not a finished decode
    assert _refused(data, out) == (
        f"{out}/part-2: part 2 was not decoded (no hyp.txt / results.json) — decode "
        f"{parts[1]} with --out {out}/part-2 (see that part's job log) before merging"
    )
    shutil.rmtree(out)
    lost = sorted(read_table(parts[1] / "utt2spk"))[0]
    _fake_parts(out, parts, drop={lost})
    assert _refused(data, out) == (
        f"{data}: utterance {lost} (1 in all) is in no part's hyp.txt (looked in {out}/part-1 .. "
        f"{out}/part-2) — decode the part that holds it again (or split {data} again), then merge"
    )
    shutil.rmtree(out)
    _fake_parts(out, parts)
    hyp = read_table(out / "part-2" / "hyp.txt")
    write_table(out / "part-2" / "hyp.txt", {**hyp, "zzz-stranger": "one"})
    assert _refused(data, out) == (
        f"{out}/part-2/hyp.txt: utterance zzz-stranger (1 in all) is not in {data}/feats.scp — "
        f"the parts come from another data dir; split {data} again and decode its parts"
    )
    write_table(out / "part-2" / "hyp.txt", hyp)
    (out / "part-1" / "lat.txt.gz").write_bytes(b"")  # part 1 with lattices, part 2 without
    assert _refused(data, out).startswith(
        f"{out}/part-2/results.json: other decode options than {out}/part-1 (wer: "
        "{'beam': 4} against lattices: {'beam': 4})"
    )
    (out / "part-1" / "lat.txt.gz").unlink()
    _as_translation(out, 1, reference="text.de")
    _as_translation(out, 2, reference="text.fr")
    assert _refused(data, out) == (
        f"{out}/part-2/results.json: scored against text.fr, {out}/part-1 against text.de — "
        "decode every part with the same model"
    )
    (data / "feats.scp").unlink()
    assert _refused(data, out) == (
        f"{data}/feats.scp: not found — give the data dir that was split and decoded (a decode "
        "reads its features)"
    )


def test_translation_parts_without_length_guard_lists_merge_to_none(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    out = tmp_path / "out"
    _fake_parts(out, parts)
    for k in (1, 2):
        _as_translation(out, k)
        r = json.loads((out / f"part-{k}" / "results.json").read_text())
        del r["stopped_by_length_guard"]  # as an older speechseq wrote it
        (out / f"part-{k}" / "results.json").write_text(json.dumps(r))
    assert merge_part_decodes(data, data / "split2", out)[0]["stopped_by_length_guard"] == []


def test_each_refusal_of_an_alignment_merge_says_what_to_do(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    root = tmp_path / "ali"
    _fake_alignments(root, parts, ark=True)
    shutil.rmtree(root / "part-1")
    with pytest.raises(SpeechseqError) as e:
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert str(e.value) == (
        f"{root}/part-1/words.ctm: part 1 was not aligned — align {parts[0]} with --out "
        f"{root}/part-1/words.ctm (see that part's job log) before merging"
    )
    shutil.rmtree(root)
    _fake_alignments(root, parts, ark=True)
    (root / "part-2" / "words.phones.ctm").unlink()
    with pytest.raises(SpeechseqError) as e:
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert str(e.value).endswith(
        f"— align {parts[1]} with --out {root}/part-2/words.ctm (see that part's job log) "
        "before merging"
    )
    shutil.rmtree(root)
    _fake_alignments(root, parts, ark=True)
    stranger = sorted(read_table(parts[0] / "utt2spk"))[0]
    ali = read_alignments(root / "part-2" / "words.ali.ark")
    write_alignments(root / "part-2" / "words.ali.ark", {**ali, stranger: np.full(3, 2)})
    with pytest.raises(SpeechseqError) as e:
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert str(e.value) == (
        f"{root}/part-2/words.ali.ark: utterance {stranger} is not in {parts[1]} — the part was "
        f"aligned from another split; split {data} again and align its parts"
    )
    shutil.rmtree(root)
    _fake_alignments(root, parts)
    lines = (root / "part-2" / "words.ctm").read_text().splitlines()
    (root / "part-2" / "words.ctm").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(SpeechseqError) as e:
        merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert str(e.value).endswith(
        f"is in no part's words.ctm (looked in {root}/part-1 .. {root}/part-2) — align the part "
        f"that holds it again (or split {data} again), then merge"
    )


def test_an_alignment_merge_reports_its_files_and_counts(digits_corpus, tmp_path):
    data, parts = _test_set(digits_corpus, tmp_path)
    root = tmp_path / "ali"
    _fake_alignments(root, parts, ark=True)
    left_out = sorted(read_table(parts[1] / "utt2spk"))[0]  # a hybrid could not align it
    ali = read_alignments(root / "part-2" / "words.ali.ark")
    write_alignments(
        root / "part-2" / "words.ali.ark", {u: a for u, a in ali.items() if u != left_out}
    )
    n = len(read_table(data / "utt2spk"))
    r = merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert r == {
        "parts": 2,
        "utterances": n - 1,  # the ark's utterances
        "files": {
            str(root / "words.ctm"): n,
            str(root / "words.phones.ctm"): n,
            str(root / "words.ali.ark"): n - 1,
        },
    }
    # a CTC alignment of features computed on the fly (no feats.scp): every utterance with text
    shutil.rmtree(root)
    _fake_alignments(root, parts)
    (data / "feats.scp").unlink()
    r = merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert r["utterances"] == n and r["files"] == {str(root / "words.ctm"): n}


def _segmented_test_set(digits_corpus, path, file_map: bool):
    """A copy of the digits test set as segments of one recording each (``rec-<utt>``), with a
    reco2file_and_channel naming ``file-<utt>`` when ``file_map``; its two parts."""
    shutil.copytree(digits_corpus / "test", path)
    utts = sorted(read_table(path / "utt2spk"))
    write_table(path / "segments", {u: f"rec-{u} 0.00 1.00" for u in utts})
    if file_map:
        write_table(path / "reco2file_and_channel", {f"rec-{u}": f"file-{u} A" for u in utts})
    wav = read_table(path / "wav.scp")
    write_table(path / "wav.scp", {f"rec-{u}": wav[u] for u in utts})
    return utts, split_data_dir(path, 2)


def _part_ctms(root, parts, key: str) -> None:
    """``root/part-K/words.ctm``: one word per utterance of part K, its line keyed ``key``
    (a format with ``{u}`` for the utterance)."""
    for k, part in enumerate(parts, start=1):
        d = root / f"part-{k}"
        d.mkdir(parents=True)
        mine = sorted(read_table(part / "utt2spk"))
        (d / "words.ctm").write_text("".join(f"{key.format(u=u)} 0.100 0.200 one\n" for u in mine))


def test_a_segmented_data_dirs_ctm_lines_are_keyed_by_file(digits_corpus, tmp_path):
    """With segments, CTM lines name the recording's file (reco2file_and_channel), as a whole
    alignment writes them; a line naming the recording id instead is not of the part."""
    data = tmp_path / "test"
    utts, parts = _segmented_test_set(digits_corpus, data, file_map=True)
    root = tmp_path / "ali"
    _part_ctms(root, parts, "file-{u} A")
    r = merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert r["utterances"] == len(utts)
    keys = [line.split()[0] for line in (root / "words.ctm").read_text().splitlines()]
    assert keys == [f"file-{u}" for u in utts]
    shutil.rmtree(root)
    _part_ctms(root, parts, "rec-{u} A")
    with pytest.raises(SpeechseqError, match=rf"part-1/words.ctm: rec-{utts[0]} is not in"):
        merge_part_alignments(data, data / "split2", root / "words.ctm")


def test_an_alignment_merge_wants_what_has_features_and_keys_by_recording_without_a_map(
    digits_corpus, tmp_path
):
    data, parts = _test_set(digits_corpus, tmp_path)
    # an utterance whose features failed is not in feats.scp: no part need have aligned it
    feats = (data / "feats.scp").read_text().splitlines()
    (data / "feats.scp").write_text("\n".join(feats[1:]) + "\n")
    gone = feats[0].split()[0]
    root = tmp_path / "ali"
    _fake_alignments(root, parts)
    for k in (1, 2):
        lines = (root / f"part-{k}" / "words.ctm").read_text().splitlines()
        (root / f"part-{k}" / "words.ctm").write_text(
            "".join(ln + "\n" for ln in lines if not ln.startswith(gone + " "))
        )
    r = merge_part_alignments(data, data / "split2", root / "words.ctm")
    assert r["utterances"] == len(feats) - 1
    # segments without reco2file_and_channel: the CTM names the recording
    seg = tmp_path / "seg"
    utts, seg_parts = _segmented_test_set(digits_corpus, seg, file_map=False)
    root = tmp_path / "seg_ali"
    _part_ctms(root, seg_parts, "rec-{u} 1")
    assert merge_part_alignments(seg, seg / "split2", root / "words.ctm")["utterances"] == len(utts)
