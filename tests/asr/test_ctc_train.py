"""CTC training, decoding, alignment and transcription end to end on a tiny synthetic corpus."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from speechseq.asr.ctc import CTCConfig, CTCOptions, frames_needed
from speechseq.asr.training import train_ctc
from speechseq.cli.main import app
from speechseq.core.encoder import EncoderConfig
from speechseq.core.trainer import TrainConfig
from speechseq.data.kaldi_dir import read_ctm, read_table
from speechseq.decode.ctc import CTCDecodeOptions
from speechseq.decode.run import decode_data
from speechseq.errors import SpeechseqError
from tests.asr.helpers import TINY

runner = CliRunner()


def test_frames_needed_counts_a_blank_between_repeats():
    assert frames_needed([1, 2, 3]) == 3
    assert frames_needed([1, 1, 2, 2, 2]) == 8


def test_training_writes_a_self_contained_model_dir(tiny_model):
    for name in (
        "config.yaml",
        "cmd.sh",
        "units.txt",
        "final.pt",
        "metrics.csv",
        "curves.png",
        "feats.yaml",
    ):
        assert (tiny_model / name).is_file(), name
    rows = (tiny_model / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "dev_cer" in rows[0]


def test_decode_writes_kaldi_wer_and_results(tiny_model, digits_corpus, tmp_path):
    [r] = decode_data(
        tiny_model,
        digits_corpus / "test",
        CTCDecodeOptions(beam=4),
        out_dir=tmp_path / "dec",
        device="cpu",
        quiet=True,
    )
    wer = (tmp_path / "dec" / "wer").read_text().splitlines()
    assert wer[0].startswith("%WER ") and "ins" in wer[0] and wer[1].startswith("%CER ")
    assert set(read_table(tmp_path / "dec" / "hyp.txt", allow_empty=True)) == set(
        read_table(digits_corpus / "test" / "text")
    )
    assert (
        json.loads((tmp_path / "dec" / "results.json").read_text())["utterances"]
        == r["utterances"]
        == 10
    )
    assert r["rtf"] > 0
    # one raw and one sys row per test speaker, then SUM, whose error count is the %WER line's
    spks = set(read_table(digits_corpus / "test" / "utt2spk").values())
    per_spk = (tmp_path / "dec" / "per_spk").read_text().splitlines()
    assert len(per_spk) == 1 + 2 * (len(spks) + 1)
    assert set(r["speaker_wer"]) == spks
    assert int(per_spk[-2].split()[8]) == int(wer[0].split()[3])


def test_decode_refuses_features_made_with_other_settings(tiny_model, digits_corpus, tmp_path):
    import shutil

    from speechseq.features import FeatureConfig, compute_feats

    other = tmp_path / "mfcc"
    shutil.copytree(digits_corpus / "test", other)
    compute_feats(other, FeatureConfig(type="mfcc", dither=0.0), progress=False)
    with pytest.raises(SpeechseqError, match="type 'mfcc' \\(model: 'fbank'\\)"):
        decode_data(tiny_model, other, CTCDecodeOptions(), device="cpu", quiet=True)
    # Without the data's feats.yaml (e.g. Kaldi-made features) the dimension still decides.
    (other / "conf" / "feats.yaml").unlink()
    with pytest.raises(SpeechseqError, match="dimension 13 but the model .* expects 40"):
        decode_data(tiny_model, other, CTCDecodeOptions(), device="cpu", quiet=True)


def test_cli_decode_align_transcribe(tiny_model, digits_corpus, tmp_path):
    res = runner.invoke(
        app,
        [
            "decode",
            str(tiny_model),
            str(digits_corpus / "test"),
            "--out",
            str(tmp_path / "d"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "%WER" in res.stdout
    res = runner.invoke(
        app,
        [
            "align",
            str(tiny_model),
            str(digits_corpus / "dev"),
            "--out",
            str(tmp_path / "a.ctm"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    words = read_ctm(tmp_path / "a.ctm")
    text = read_table(digits_corpus / "dev" / "text")
    assert len(words) == sum(len(t.split()) for t in text.values())
    assert all(e.dur_s > 0 for e in words)
    assert (tmp_path / "a.units.ctm").is_file()
    wav = next((digits_corpus / "test" / "wav").glob("*.wav"))
    res = runner.invoke(app, ["transcribe", str(tiny_model), str(wav), "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["file"] == str(wav) and "words" in out


def test_cli_train_ctc_rejects_unknown_config_key(digits_corpus, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("encoder:\n  hiden: 32\n")
    res = runner.invoke(
        app,
        [
            "train-ctc",
            str(digits_corpus / "train"),
            "--dev",
            str(digits_corpus / "dev"),
            "--out",
            str(tmp_path / "e"),
            "--config",
            str(cfg),
        ],
    )
    assert res.exit_code == 1
    assert "unknown config key(s) hiden" in res.stderr


def test_train_ctc_refuses_missing_features(digits_corpus, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(digits_corpus / "train", raw)
    (raw / "feats.scp").unlink()
    with pytest.raises(SpeechseqError, match="compute-feats"):
        train_ctc(raw, digits_corpus / "dev", tmp_path / "e", TINY, quiet=True)


def test_train_ctc_refuses_an_empty_dev_set(digits_corpus, tmp_path):
    import shutil

    dev = tmp_path / "dev"
    shutil.copytree(digits_corpus / "dev", dev)
    for name in ("feats.scp", "utt2num_frames", "text", "utt2spk", "spk2utt", "wav.scp", "utt2dur"):
        (dev / name).write_text("")
    with pytest.raises(SpeechseqError):
        train_ctc(digits_corpus / "train", dev, tmp_path / "e", TINY, quiet=True)


def test_train_ctc_reports_utterances_too_short_for_their_targets(digits_corpus, tmp_path):
    cfg = CTCConfig(
        encoder=EncoderConfig(subsample="stack16", hidden=16, layers=1),
        train=TINY.train,
        ctc=TINY.ctc,
    )
    with pytest.raises(SpeechseqError, match="too short for their CTC targets"):
        train_ctc(digits_corpus / "train", digits_corpus / "dev", tmp_path / "e", cfg, quiet=True)


def test_resume_refuses_units_of_another_kind(tiny_model, digits_corpus, tmp_path):
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(tiny_model, exp)
    cfg = CTCConfig(
        encoder=TINY.encoder, train=TINY.train, ctc=CTCOptions(units="bpe", spec_augment=False)
    )
    with pytest.raises(SpeechseqError, match="units"):
        train_ctc(digits_corpus / "train", digits_corpus / "dev", exp, cfg, resume=True, quiet=True)


def test_tiny_model_overfits_ten_utterances(digits_corpus, tmp_path):
    from speechseq.data.ops import subset_data_dir

    sub = tmp_path / "ten"
    subset_data_dir(digits_corpus / "train", sub, num_utts=10)
    from speechseq.features import FeatureConfig, compute_feats

    compute_feats(sub, FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0), progress=False)
    cfg = CTCConfig(
        encoder=EncoderConfig(subsample="stack3", hidden=96, layers=2, dropout=0.0),
        train=TrainConfig(
            max_epochs=65,  # dev CER 0 from epoch 54 on (constant lr)
            max_frames=20000,
            lr=3e-3,
            min_lr_ratio=1.0,
            warmup_steps=10,
            device="cpu",
            checkpoint_every=0,
        ),
        ctc=CTCOptions(units="char", spec_augment=False),
    )
    torch.manual_seed(0)
    state = train_ctc(sub, sub, tmp_path / "exp", cfg, quiet=True)
    assert state.best_metric == 0.0


def test_decode_with_word_lm_and_lexicon(tiny_model, digits_corpus, tmp_path):
    from speechseq.lm.ngram import read_sentences, train_ngram

    sentences, _ = read_sentences(digits_corpus / "train" / "text", kaldi_text=True)
    lm = train_ngram(sentences, order=3)
    lm.write_arpa(tmp_path / "lm.arpa")
    words = sorted(
        {w for t in read_table(digits_corpus / "train" / "text").values() for w in t.split()}
    )
    (tmp_path / "lexicon.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in words))
    res = runner.invoke(
        app,
        [
            "decode",
            str(tiny_model),
            str(digits_corpus / "test"),
            "--lm",
            str(tmp_path / "lm.arpa"),
            "--lexicon",
            str(tmp_path / "lexicon.txt"),
        ]
        + ["--out", str(tmp_path / "d"), "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    hyps = read_table(tmp_path / "d" / "hyp.txt", allow_empty=True)
    assert all(
        w in words for h in hyps.values() for w in h.split()
    )  # the lexicon allows only its words
    assert json.loads((tmp_path / "d" / "results.json").read_text())["options"]["beam"] == 10


def test_transcribe_of_a_file_equals_decode_of_a_data_dir_holding_it(
    tiny_model, digits_corpus, tmp_path
):
    """One front end: the wav on its own and as an utterance of a data dir give the same
    network outputs and the same hypothesis."""
    from speechseq.asr.inference import transcribe_files
    from speechseq.core.loading import load_experiment
    from speechseq.decode.run import network_outputs

    test = digits_corpus / "test"
    utt, wav = next(iter(read_table(test / "wav.scp").items()))
    [r] = decode_data(
        tiny_model, test, CTCDecodeOptions(beam=4), out_dir=tmp_path / "d", device="cpu", quiet=True
    )
    hyp = read_table(tmp_path / "d" / "hyp.txt", allow_empty=True)[utt]
    [t] = transcribe_files(tiny_model, [wav], device="cpu", options=CTCDecodeOptions(beam=4))
    assert t["text"] == hyp
    ex = load_experiment(tiny_model, device="cpu", quiet=True)
    [(_, from_dir)] = network_outputs(ex, ex.frontend.data_reader(test), [utt])
    [(_, from_file)] = network_outputs(ex, ex.frontend.files_reader([wav]), [wav])
    np.testing.assert_allclose(from_file, from_dir, atol=1e-4)


def test_decode_grid_runs_the_network_once_and_names_dirs_after_options(
    tiny_model, digits_corpus, tmp_path, monkeypatch
):
    from speechseq.asr.ctc import CTCTask
    from speechseq.lm.ngram import read_sentences, train_ngram

    sentences, _ = read_sentences(digits_corpus / "train" / "text", kaldi_text=True)
    train_ngram(sentences, order=2).write_arpa(tmp_path / "lm.arpa")
    calls = []
    real = CTCTask.outputs
    monkeypatch.setattr(CTCTask, "outputs", lambda self, m, b: calls.append(1) or real(self, m, b))
    opts = CTCDecodeOptions(beam=4, lm=str(tmp_path / "lm.arpa"))
    results = decode_data(
        tiny_model, digits_corpus / "test", opts, [0.5, 1.5], [0.0, 2.0], device="cpu", quiet=True
    )
    batches = len(calls)
    assert len(results) == 4 and batches >= 1
    names = sorted(Path(r["out_dir"]).name for r in results)
    assert names == [
        f"decode_test_beam4_lm-lm_w{w}_b{b}" for w in ("0.5", "1.5") for b in ("0", "2")
    ]
    # a grid point decoded on its own gives the same hypotheses as from the cached outputs
    calls.clear()
    [alone] = decode_data(
        tiny_model,
        digits_corpus / "test",
        CTCDecodeOptions(beam=4, lm=opts.lm, lm_weight=1.5, word_bonus=2.0),
        out_dir=tmp_path / "alone",
        device="cpu",
        quiet=True,
    )
    assert len(calls) == batches  # one network pass for one point, the same for four
    grid_dir = Path(next(r["out_dir"] for r in results if r["out_dir"].endswith("w1.5_b2")))
    assert (grid_dir / "hyp.txt").read_text() == (tmp_path / "alone" / "hyp.txt").read_text()
    # the same grid with --out: each point's dir under it, the same hypotheses
    under = decode_data(
        tiny_model,
        digits_corpus / "test",
        opts,
        [0.5, 1.5],
        [0.0, 2.0],
        out_dir=tmp_path / "grid",
        device="cpu",
        quiet=True,
    )
    assert sorted(p.name for p in (tmp_path / "grid").iterdir()) == [
        n.removeprefix("decode_test_") for n in names
    ]
    for r, u in zip(results, under, strict=True):
        assert Path(u["out_dir"]).parent == tmp_path / "grid"
        assert (Path(u["out_dir"]) / "hyp.txt").read_text() == (
            Path(r["out_dir"]) / "hyp.txt"
        ).read_text()


def test_decode_dirs_default_to_names_of_their_options(tiny_model, digits_corpus, tmp_path):
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(tiny_model, exp)
    for beam in (1, 4):
        res = runner.invoke(
            app,
            [
                "decode",
                str(exp),
                str(digits_corpus / "test"),
                "--beam",
                str(beam),
                "--device",
                "cpu",
            ],
        )
        assert res.exit_code == 0, res.output
    assert (exp / "decode_test_greedy" / "wer").is_file()
    assert (exp / "decode_test_beam4" / "wer").is_file()
    res = runner.invoke(app, ["decode", str(exp), str(digits_corpus / "test"), "--lm-weight", "x"])
    assert res.exit_code == 2 and "--lm-weight 'x'" in res.output


def test_train_ctc_into_a_directory_holding_a_run_needs_resume_or_overwrite(
    tiny_model, digits_corpus, tmp_path
):
    import shutil

    from speechseq.core import checkpoint as ckpt

    exp = tmp_path / "exp"
    shutil.copytree(tiny_model, exp)
    old = ckpt.load(exp / "final.pt")["model"]
    (tmp_path / "c.yaml").write_text(
        "encoder: {subsample: stack3, hidden: 64, layers: 2, dropout: 0.0}\n"
        "train: {max_epochs: 1, max_frames: 4000, warmup_steps: 5, device: cpu, checkpoint_every: 0, seed: 2}\n"
        "ctc: {cmvn: utterance, spec_augment: false}\n"
    )
    args = [
        "train-ctc",
        str(digits_corpus / "train"),
        "--dev",
        str(digits_corpus / "dev"),
        "--out",
        str(exp),
        "--config",
        str(tmp_path / "c.yaml"),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "holds another run" in res.output and "--overwrite" in res.output
    assert "Traceback" not in res.output
    assert torch.equal(ckpt.load(exp / "final.pt")["model"]["output.weight"], old["output.weight"])
    res = runner.invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    new = ckpt.load(exp / "final.pt")
    assert new["source"] == "best.pt (epoch 1)"  # the new one-epoch run, not the old model
    assert not torch.equal(new["model"]["output.weight"], old["output.weight"])
    assert [p.name for p in ckpt.listing(exp / "checkpoints", "epoch")] == ["epoch-1.pt"]


def test_train_ctc_refuses_a_dev_set_with_other_feature_settings(digits_corpus, tmp_path):
    """Same dimension, other settings (issue 14's 'MFCC-80 against fbank-80'): refused by name."""
    import shutil

    from speechseq.features import FeatureConfig, compute_feats

    dev = tmp_path / "dev"
    shutil.copytree(digits_corpus / "dev", dev)
    compute_feats(
        dev, FeatureConfig(type="fbank", num_mel_bins=40, low_freq=60.0, dither=0.0), progress=False
    )
    with pytest.raises(SpeechseqError, match=r"low_freq 60.0 \(train: 20.0\)"):
        train_ctc(digits_corpus / "train", dev, tmp_path / "exp", TINY, quiet=True)
    assert not (
        tmp_path / "exp"
    ).exists()  # a run failing before its first checkpoint leaves nothing


def test_align_of_a_segmented_recording_writes_recording_time_ctm(
    tiny_model, digits_corpus, tmp_path
):
    """Two dev utterances put into one recording (0.7 s of silence between) with segments:
    the CTM is keyed by the recording, each word shifted by its segment's start, with the
    channel of reco2file_and_channel; the times equal those of the utterances aligned alone."""
    from speechseq.data.audio import read_audio, write_wav
    from speechseq.features import compute_feats, load_feature_config

    dev = digits_corpus / "dev"
    wavs = read_table(dev / "wav.scp")
    text = read_table(dev / "text")
    u1, u2 = sorted(wavs)[:2]
    sr = 16000  # Hz, read_audio's rate
    x1, x2 = read_audio(wavs[u1], sr), read_audio(wavs[u2], sr)
    gap = np.zeros(int(0.7 * sr), dtype=np.float32)
    rec = tmp_path / "rec.wav"
    write_wav(rec, np.concatenate([x1, gap, x2]), sr)
    start2 = (len(x1) + len(gap)) / sr
    seg = tmp_path / "seg"
    seg.mkdir()
    (seg / "wav.scp").write_text(f"recA {rec}\n")
    (seg / "segments").write_text(
        f"{u1} recA 0.000 {len(x1) / sr:.7f}\n{u2} recA {start2:.7f} {start2 + len(x2) / sr:.7f}\n"
    )
    (seg / "reco2file_and_channel").write_text("recA callA A\n")
    (seg / "text").write_text(f"{u1} {text[u1]}\n{u2} {text[u2]}\n")
    (seg / "utt2spk").write_text(f"{u1} {u1}\n{u2} {u2}\n")
    (seg / "spk2utt").write_text(f"{u1} {u1}\n{u2} {u2}\n")
    compute_feats(seg, load_feature_config(dev), progress=False)
    res = runner.invoke(
        app,
        ["align", str(tiny_model), str(seg), "--out", str(tmp_path / "a.ctm"), "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    words = read_ctm(tmp_path / "a.ctm")
    assert {(e.utt, e.channel) for e in words} == {("callA", "A")}
    assert len(words) == len(text[u1].split()) + len(text[u2].split())
    assert {e.utt for e in read_ctm(tmp_path / "a.units.ctm")} == {"callA"}
    # the same utterances aligned alone, in utterance time
    res = runner.invoke(
        app,
        ["align", str(tiny_model), str(dev), "--out", str(tmp_path / "u.ctm"), "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    alone = [e for e in read_ctm(tmp_path / "u.ctm") if e.utt in (u1, u2)]
    expect = sorted((round(e.start_s + (start2 if e.utt == u2 else 0.0), 2), e.word) for e in alone)
    assert sorted((round(e.start_s, 2), e.word) for e in words) == expect
    assert min(e.start_s for e in words[len(text[u1].split()) :]) >= start2 - 1e-3


def _kaldi_made(src: Path, out: Path) -> Path:
    """``src`` as Kaldi leaves a data dir: its own arks, feats.scp and per-speaker cmvn.scp;
    no utt2num_frames, cmvn.ark or conf/feats.yaml."""
    import kaldiio

    from speechseq.features.cmvn import cmvn_stats

    out.mkdir()
    for name in ("text", "utt2spk", "spk2utt", "wav.scp"):
        (out / name).write_bytes((src / name).read_bytes())
    feats = {u: kaldiio.load_mat(s) for u, s in read_table(src / "feats.scp").items()}
    kaldiio.save_ark(str(out / "raw_fbank.1.ark"), feats, scp=str(out / "feats.scp"))
    utt2spk = read_table(src / "utt2spk")
    stats = {}
    for utt, mat in feats.items():
        stats[utt2spk[utt]] = stats.get(utt2spk[utt], 0) + cmvn_stats(mat)
    kaldiio.save_ark(str(out / "cmvn_train.ark"), stats, scp=str(out / "cmvn.scp"))
    return out


def test_train_and_decode_on_kaldi_made_data_dirs(digits_corpus, tmp_path):
    """Kaldi's feats.scp + cmvn.scp are enough to train (speaker CMVN) and decode."""
    import dataclasses

    train = _kaldi_made(digits_corpus / "train", tmp_path / "train")
    dev = _kaldi_made(digits_corpus / "dev", tmp_path / "dev")
    cfg = dataclasses.replace(
        TINY,
        train=dataclasses.replace(TINY.train, max_epochs=1),
        ctc=dataclasses.replace(TINY.ctc, cmvn="speaker"),
    )
    train_ctc(train, dev, tmp_path / "exp", cfg, quiet=True)
    res = runner.invoke(
        app,
        [
            "decode",
            str(tmp_path / "exp"),
            str(dev),
            "--out",
            str(tmp_path / "d"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "wer").read_text().startswith("%WER")


def test_train_ctc_vtlp_warps_the_batches_and_needs_the_feature_settings(digits_corpus, tmp_path):
    """``ctc.vtlp`` changes what the model learns (the same seed without it gives other
    weights, and the same ones twice), and a data dir with no conf/feats.yaml (a Kaldi-made
    one) gets one error naming the file, before any training."""
    import dataclasses

    from speechseq.core import checkpoint as ckpt
    from speechseq.errors import UsageError

    one = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, max_epochs=1))
    warped = dataclasses.replace(one, ctc=dataclasses.replace(one.ctc, vtlp=0.15))

    def weights(cfg, name):
        torch.manual_seed(0)
        train_ctc(digits_corpus / "train", digits_corpus / "dev", tmp_path / name, cfg, quiet=True)
        return ckpt.load(tmp_path / name / "final.pt")["model"]

    plain, again, vtlp = weights(one, "a"), weights(one, "b"), weights(warped, "c")
    assert all(torch.equal(plain[k], again[k]) for k in plain)
    assert not all(torch.equal(plain[k], vtlp[k]) for k in plain)
    assert "vtlp: 0.15" in (tmp_path / "c" / "config.yaml").read_text()

    train = _kaldi_made(digits_corpus / "train", tmp_path / "kaldi")
    with pytest.raises(UsageError, match=r"conf/feats.yaml"):
        train_ctc(train, digits_corpus / "dev", tmp_path / "d", warped, quiet=True)
