"""Speech translation through the CLI on a tiny synthetic translate corpus: train-st (no transcript
read), decode with BLEU, translate, attention plots, init-from CTC, the cascade, and bad inputs."""

from __future__ import annotations

import json
import shutil

import torch

from speechseq.data.ops import split_data_dir
from tests.st.helpers import DEC, ENC, ST, TRAIN, run, without


def test_train_st_reads_no_transcript_and_decode_scores_bleu(st_setup, translate_corpus):
    root, res = st_setup
    assert "best dev BLEU" in res.output
    assert (root / "st" / "tokens.txt").is_file() and not (root / "st" / "ctc_units").exists()
    out = run(["decode", root / "st", translate_corpus / "test", "--beam", "2"]).output
    assert "BLEU = " in out and "chrF2 = " in out and "tok:13a" in out
    d = root / "st" / "decode_test_beam2"
    r = json.loads((d / "results.json").read_text())
    assert r["reference"] == "text.de" and 0 <= r["bleu"] <= 100 and r["options"]["beam"] == 2
    refs = dict(line.split(" ", 1) for line in (d / "ref.txt").read_text().splitlines())
    gold = dict(
        line.split(" ", 1)
        for line in (translate_corpus / "test" / "text.de").read_text().splitlines()
    )
    assert refs == gold  # scored against the German references, every utterance
    assert (d / "bleu").read_text().startswith("BLEU = ")
    assert len((d / "hyp.txt").read_text().splitlines()) == len(gold)


def test_translate_files_json_nbest_and_attention_plots(st_setup, translate_corpus, tmp_path):
    root, _ = st_setup
    wavs = [
        line.split()[1]
        for line in (translate_corpus / "test" / "wav.scp").read_text().splitlines()[:2]
    ]
    res = run(["translate", root / "st", *wavs, "--beam", "3", "--nbest", "3", "--json"])
    items = json.loads(res.stdout[res.stdout.index("[") :])
    assert [i["file"] for i in items] == wavs
    for i in items:
        assert 1 <= len(i["nbest"]) <= 3 and i["nbest"][0]["text"] == i["text"]
        assert [n["score"] for n in i["nbest"]] == sorted(
            (n["score"] for n in i["nbest"]), reverse=True
        )
    plots = tmp_path / "att"
    run(
        [
            "decode",
            root / "st",
            translate_corpus / "test",
            "--beam",
            "1",
            "--plot-attention",
            plots,
            "--out",
            tmp_path / "dec",
        ]
    )
    pngs = sorted(plots.glob("*.png"))
    assert len(pngs) == len((translate_corpus / "test" / "wav.scp").read_text().splitlines())
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multitask_ctc_needs_the_transcript_and_uses_it(st_setup, translate_corpus, tmp_path):
    root, _ = st_setup
    args = [
        "train-st",
        root / "train_notext",
        "--dev",
        root / "dev_notext",
        "--config",
        root / "st.yaml",
        "--target",
        "de",
    ]
    bad = run([*args, "--out", tmp_path / "x", "--ctc-weight", "0.3"], code=1)
    assert "train_notext/text: file not found" in bad.output and "ctc_weight" in bad.output
    # bpe targets and bpe CTC units: two sentencepiece models in one experiment
    bpe = tmp_path / "bpe.yaml"
    bpe.write_text(
        ENC
        + DEC
        + TRAIN
        + "st: {units: bpe, bpe_size: 40, ctc_bpe_size: 30, spec_augment: false}\n"
    )
    ok = run(
        [
            *args[:1],
            translate_corpus / "train",
            "--dev",
            translate_corpus / "train",  # the tiny dev set has characters train lacks
            "--config",
            bpe,
            "--target",
            "de",
            "--out",
            tmp_path / "mtl",
            "--ctc-weight",
            "0.3",
        ]
    )
    assert "best dev BLEU" in ok.output
    metrics = (tmp_path / "mtl" / "metrics.csv").read_text().splitlines()
    assert (
        "train_ctc" in metrics[0]
        and float(metrics[1].split(",")[metrics[0].split(",").index("train_ctc")]) > 0
    )
    assert (tmp_path / "mtl" / "ctc_units" / "units.txt").is_file()
    # the targets' bpe model is not overwritten by the CTC units': the model loads and decodes
    run(["decode", tmp_path / "mtl", translate_corpus / "test", "--beam", "1"])


def test_encoder_starts_from_a_ctc_model(st_setup, translate_corpus, tmp_path):
    from speechseq.core import checkpoint as ckpt

    root, _ = st_setup
    d = translate_corpus
    (tmp_path / "ctc.yaml").write_text(
        ENC + TRAIN + "ctc: {units: char, spec_augment: false, drop_unfit: true}\n"
    )
    run(
        [
            "train-ctc",
            d / "train",
            "--dev",
            d / "train",  # the tiny dev set has characters train lacks
            "--out",
            tmp_path / "ctc",
            "--config",
            tmp_path / "ctc.yaml",
        ]
    )
    yaml = ENC + DEC + TRAIN.replace("max_epochs: 1", "max_epochs: 1, lr: 1.0e-9") + ST
    (tmp_path / "st.yaml").write_text(yaml)
    res = run(
        [
            "train-st",
            d / "train",
            "--dev",
            d / "dev",
            "--out",
            tmp_path / "st",
            "--config",
            tmp_path / "st.yaml",
            "--init-from",
            tmp_path / "ctc",
            "--init-part",
            "encoder",
        ]
    )
    assert "init-from" in res.output and "under 'encoder'" in res.output
    ctc = ckpt.load(tmp_path / "ctc" / "final.pt")["model"]
    st = ckpt.load(tmp_path / "st" / "final.pt")["model"]
    keys = [k for k in ctc if k.startswith("encoder.")]
    assert keys and all(torch.allclose(ctc[k], st[k], atol=1e-6) for k in keys)


def test_cascade_reports_words_the_mt_model_never_saw(st_setup, translate_corpus, tmp_path):
    d = translate_corpus
    (tmp_path / "ctc.yaml").write_text(
        "encoder: {subsample: stack3, hidden: 16, layers: 1, dropout: 0.0}\n"
        + TRAIN
        + "ctc: {spec_augment: false}\n"
    )
    run(
        [
            "train-ctc",
            d / "train",
            "--dev",
            d / "train",
            "--out",
            tmp_path / "asr",
            "--config",
            tmp_path / "ctc.yaml",
        ]
    )
    (tmp_path / "mt.yaml").write_text(
        "encoder: {subsample: none, hidden: 16, layers: 1, dropout: 0.0}\n" + DEC + TRAIN + ST
    )
    run(
        [
            "train-mt",
            d / "train",
            "--dev",
            d / "dev",
            "--out",
            tmp_path / "mt",
            "--config",
            tmp_path / "mt.yaml",
            "--target",
            "fr",
        ]
    )
    res = run(
        [
            "decode",
            tmp_path / "asr",
            d / "test",
            "--cascade",
            tmp_path / "mt",
            "--out",
            tmp_path / "casc",
        ]
    )
    assert "BLEU = " in res.output
    r = json.loads((tmp_path / "casc" / "results.json").read_text())
    n = len((d / "test" / "text").read_text().splitlines())
    assert (
        r["utterances"] == n and len((tmp_path / "casc" / "hyp.txt").read_text().splitlines()) == n
    )
    source = set((tmp_path / "mt" / "source.txt").read_text().split()[::2])
    asr_words = [
        w
        for line in (tmp_path / "casc" / "asr_hyp.txt").read_text().splitlines()
        for w in line.split()[1:]
    ]
    unseen = [w for w in asr_words if w not in source]
    assert r["unseen_words"] == len(unseen)  # counted, one by one, not dropped
    listed = dict(line.split() for line in (tmp_path / "casc" / "oov.txt").read_text().splitlines())
    assert sum(int(v) for v in listed.values()) == len(unseen)
    if unseen:
        assert "not in the MT model's vocabulary" in res.output


def test_bad_inputs_each_get_one_clear_error(st_setup, translate_corpus, tmp_path):
    root, _ = st_setup
    d = translate_corpus
    # a data dir without the requested text.<lang>
    res = run(
        [
            "train-st",
            root / "train_notext",
            "--dev",
            root / "dev_notext",
            "--out",
            tmp_path / "x",
            "--config",
            root / "st.yaml",
            "--target",
            "it",
        ],
        code=1,
    )
    assert "text.it: file not found" in res.output and "--target de" in res.output
    assert not (tmp_path / "x" / "final.pt").exists()
    # a target language the experiment was not trained for
    res = run(["decode", root / "st", d / "test", "--target", "fr"], code=2)
    assert "translates into 'de', not 'fr'" in res.output
    res = run(["translate", root / "st", d / "test" / "wav.scp", "--target", "es"], code=2)
    assert "not 'es'" in res.output
    # a test set without reference translations
    bare = without(d / "test", tmp_path / "bare", "text.de")
    res = run(["decode", root / "st", bare], code=1)
    assert "text.de: file not found" in res.output
    assert not list(root.glob("st/decode_bare*"))
    # CTC-only options on a translation model
    res = run(["decode", root / "st", d / "test", "--lm-weight", "0.5"], code=2)
    assert "for CTC models" in res.output


def test_export_refuses_a_translation_model(st_setup, tmp_path):
    root, _ = st_setup
    res = run(["export", root / "st", "--out", tmp_path / "st.pt"], code=1)
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "cannot be exported" in errors[0] and "train-ctc" in errors[0]
    assert "st" in errors[0] and not (tmp_path / "st.pt").exists()


def test_a_translation_decoded_in_parts_and_merged_is_the_whole_decode(
    st_setup, translate_corpus, tmp_path
):
    """decode --from-parts of a translation: BLEU and chrF over all parts' hypotheses at once,
    the same files as one whole decode."""
    root, _ = st_setup
    data = tmp_path / "test"
    shutil.copytree(translate_corpus / "test", data)
    parts = split_data_dir(data, 2)
    whole = run(["decode", root / "st", data, "--beam", "2", "--out", tmp_path / "whole"]).output
    out = tmp_path / "merged"
    for k, part in enumerate(parts, start=1):
        run(["decode", root / "st", part, "--beam", "2", "--out", out / f"part-{k}"])
    merged = run(["decode", root / "st", data, "--from-parts", data / "split2", "--out", out])
    assert [ln for ln in merged.output.splitlines() if ln.startswith(("BLEU", "chrF"))] == [
        ln for ln in whole.splitlines() if ln.startswith(("BLEU", "chrF"))
    ]
    names = ["bleu", "hyp.txt", "per_utt", "ref.txt", "results.json"]
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names[:-1]:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    r, w = (json.loads((d / "results.json").read_text()) for d in (out, tmp_path / "whole"))
    for key in ("bleu", "chrf", "bleu_line", "reference", "options", "stopped_by_length_guard"):
        assert r[key] == w[key], key
    assert r["parts"] == 2
