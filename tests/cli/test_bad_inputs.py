"""The bad-input catalogue: every case runs through the CLI and must give its exit code
(1 for bad input, 2 for a usage error), exactly one ``error:`` line naming the file, line,
utterance or key, no Python traceback, and — where the command writes — outputs that are
entirely old or absent afterwards, never half-written.

Each case is a function ``(env) -> (args, code, pattern)`` registered with :func:`case`;
``env`` holds the shared tiny corpora, a tiny CTC model, a tiny embedder and index, and a
fresh temporary directory. A case may also return a fourth item, a check of the state
afterwards, and a fifth, environment variables for the run (a fault injected at a write).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from speechseq import fileio
from speechseq.cli.main import app
from tests.cli.helpers import TINY_CTC, TINY_EMB, runner

SHOW = False  # True: print each case's error line (pytest -s), to read them as a user would
CASES: dict[str, object] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _features(data: Path) -> dict[str, bytes]:
    """What a data dir's features are, as a reader sees them (normalised per speaker), so that
    a rerun that only moved the files into a generation of their own counts as unchanged."""
    from speechseq.features.reader import FeatureReader

    reader = FeatureReader(data, cmvn="speaker")
    return {u: reader[u].tobytes() for u in reader.utt_ids}


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# data dirs


# `data validate` reports one FILE:LINE line per problem and a summary line, exit 1.
@case
def validate_unsorted_utt2spk(env):
    d = env.copy(env.digits / "dev", "d")
    lines = (d / "utt2spk").read_text().splitlines()
    (d / "utt2spk").write_text("\n".join(reversed(lines)) + "\n")
    return ["data", "validate", d], 1, r"utt2spk:\d+: not sorted"


@case
def validate_missing_audio_file(env):
    d = env.copy(env.digits / "dev", "d")
    utt = env.point_audio(d, 2, env.tmp / "gone.wav")
    return ["data", "validate", d], 1, rf"{utt}.*gone.wav|gone.wav.*{utt}"


@case
def validate_unreadable_audio(env):
    d = env.copy(env.digits / "dev", "d")
    (env.tmp / "bad.wav").write_bytes(b"RIFF not really a wave file")
    utt = env.point_audio(d, 1, env.tmp / "bad.wav")
    return ["data", "validate", d], 1, rf"{utt}"


@case
def validate_text_of_an_unknown_utterance(env):
    d = env.copy(env.digits / "dev", "d")
    with (d / "text").open("a") as f:
        f.write("zz-unknown one two\n")
    return ["data", "validate", d], 1, r"text:\d+: utterance 'zz-unknown'"


@case
def validate_a_directory_that_does_not_exist(env):
    return ["data", "validate", env.tmp / "nope"], 1, r"nope: not a directory"


@case
def split_into_zero_parts(env):
    return ["data", "split", env.digits / "dev", "0"], 2, r"0|range|N"


@case
def combine_with_a_duplicate_utterance(env):
    return ["data", "combine", env.tmp / "out", env.digits / "dev", env.digits / "dev"], 1, r"dev"


@case
def combine_features_of_other_settings(env):
    from speechseq.features import FeatureConfig, compute_feats

    a = env.copy(env.digits / "dev", "a")
    b = env.copy(env.digits / "test", "b")
    compute_feats(
        b, FeatureConfig(type="fbank", num_mel_bins=40, low_freq=60.0, dither=0.0), progress=False
    )
    out = env.tmp / "out"
    return ["data", "combine", out, a, b], 1, r"low_freq", lambda: not out.exists()


@case
def subset_of_a_directory_without_wav_scp(env):
    (env.tmp / "empty").mkdir()
    return ["data", "subset", env.tmp / "empty", env.tmp / "out", "--num-utts", "2"], 1, r"empty"


@case
def copy_of_an_invalid_directory_leaves_the_old_copy(env):
    d = env.copy(env.digits / "dev", "d")
    out = env.copy(env.digits / "test", "out")  # an earlier copy, kept as it was
    lines = (d / "utt2spk").read_text().splitlines()
    (d / "utt2spk").write_text("\n".join(reversed(lines)) + "\n")
    return ["data", "copy", d, out], 1, r"utt2spk:\d+: not sorted"


@case
def copy_onto_itself(env):
    d = env.copy(env.digits / "dev", "d")
    return ["data", "copy", d, d], 2, r"the output is the input directory"


@case
def copy_on_a_full_disk_leaves_no_half_copy(env):
    out = env.tmp / "out"

    def absent():
        return not out.exists() and not [p for p in env.tmp.iterdir() if p.name.startswith(".out")]

    environ = {"SPEECHSEQ_FAULT_AT_RENAME": "1:enospc:out"}
    return (
        ["data", "copy", env.digits / "dev", out],
        1,
        r"out.*No space left on device",
        absent,
        environ,
    )


@case
def from_folder_with_no_audio(env):
    (env.tmp / "audio").mkdir()
    return ["data", "from-folder", env.tmp / "audio", env.tmp / "out"], 1, r"audio"


@case
def librispeech_root_that_does_not_exist(env):
    return ["data", "librispeech", env.tmp / "LibriSpeech", env.tmp / "out"], 1, r"LibriSpeech"


@case
def from_lhotse_of_a_folder_without_manifests(env):
    (env.tmp / "m").mkdir()
    out = env.tmp / "out"
    pattern = r"m: expected one recordings manifest, found none|lhotse is not installed"
    return ["data", "from-lhotse", env.tmp / "m", out], 1, pattern


@case
def to_lhotse_of_a_directory_without_wav_scp(env):
    (env.tmp / "d").mkdir()
    (env.tmp / "d" / "utt2spk").write_text("u1 s\n")
    pattern = r"d/wav.scp|lhotse is not installed"
    return (
        ["data", "to-lhotse", env.tmp / "d", env.tmp / "m"],
        1,
        pattern,
        lambda: not (env.tmp / "m").exists(),
    )


@case
def augment_with_an_unreadable_snr_range(env):
    return ["data", "augment", env.digits / "dev", env.tmp / "aug", "--snr", "loud"], 2, r"--snr"


@case
def augment_with_a_vtlp_range_that_is_no_range(env):
    return ["data", "augment", env.digits / "dev", env.tmp / "aug", "--vtlp", "short"], 2, r"--vtlp"


@case
def augment_with_an_unknown_codec(env):
    args = [
        "data",
        "augment",
        env.digits / "dev",
        env.tmp / "aug",
        "--codec-prob",
        "1",
        "--codecs",
        "mp3",
    ]
    return args, 2, r"mp3"


@case
def augment_with_a_channel_probability_above_one(env):
    return (
        ["data", "augment", env.digits / "dev", env.tmp / "aug", "--channel-prob", "2"],
        2,
        r"channel",
    )


@case
def synth_of_an_unknown_task(env):
    return ["synth", "poems", env.tmp / "out"], 2, r"poems"


@case
def synth_with_an_unknown_engine(env):
    return ["synth", "digits", env.tmp / "out", "--engine", "festival"], 2, r"--engine festival"


@case
def synth_with_its_dry_copy_into_out_itself(env):
    args = ["synth", "digits", env.tmp / "out", "--num-utts", "30", "--dry-out", env.tmp / "out"]
    return args, 2, r"--dry-out .*another folder", lambda: not (env.tmp / "out").exists()


@case
def synth_with_its_dry_copy_into_a_file(env):
    (env.tmp / "afile").write_text("x\n")
    args = ["synth", "digits", env.tmp / "out", "--num-utts", "30", "--dry-out", env.tmp / "afile"]
    return args, 1, r"afile: a file, not a folder", lambda: not (env.tmp / "out").exists()


# ---------------------------------------------------------------------------------------------
# features


@case
def compute_feats_of_an_unknown_type(env):
    d = env.copy(env.digits / "dev", "d")
    return ["compute-feats", d, "--type", "plp"], 2, r"plp"


@case
def compute_feats_with_a_corrupt_wav(env):
    d = env.copy(env.digits / "dev", "d")
    (env.tmp / "bad.wav").write_bytes(b"RIFF not really a wave file")
    utt = env.point_audio(d, 1, env.tmp / "bad.wav")
    before = _features(d)
    return ["compute-feats", d], 1, re.escape(utt), lambda: _features(d) == before


@case
def compute_feats_of_a_missing_directory(env):
    return ["compute-feats", env.tmp / "none"], 1, r"none"


@case
def compute_feats_with_zero_mel_bins(env):
    d = env.copy(env.digits / "dev", "d")
    return ["compute-feats", d, "--num-mel-bins", "0"], 2, r"mel"


# ---------------------------------------------------------------------------------------------
# training


def _train_args(env, train=None, dev=None, out=None, config=True):
    (env.tmp / "c.yaml").write_text(TINY_CTC)
    args = [
        "train-ctc",
        train or env.digits / "train",
        "--dev",
        dev or env.digits / "dev",
        "--out",
        out or env.tmp / "exp",
    ]
    return args + (["--config", env.tmp / "c.yaml"] if config else [])


def _no_exp(env):
    return lambda: not (env.tmp / "exp").exists()


@case
def train_with_vtlp_on_features_of_unknown_settings(env):
    # a Kaldi-made training dir (no conf/feats.yaml): the mel layout VTLP warps is unknown
    t = env.copy(env.digits / "train", "t")
    (t / "conf" / "feats.yaml").unlink()
    args = _train_args(env, train=t)
    (env.tmp / "c.yaml").write_text(
        TINY_CTC.replace("spec_augment: false", "spec_augment: false, vtlp: 0.1")
    )
    return args, 2, r"t/conf/feats.yaml: not found .*vtlp", _no_exp(env)


@case
def train_without_transcripts(env):
    t = env.copy(env.digits / "train", "t")
    (t / "text").unlink()
    return _train_args(env, train=t), 1, r"text: file not found", _no_exp(env)


@case
def train_with_an_empty_dev_set(env):
    d = env.copy(env.digits / "dev", "d")
    for name in ("feats.scp", "utt2num_frames"):
        (d / name).write_text("")
    return _train_args(env, dev=d), 1, r"dev", _no_exp(env)


@case
def train_with_an_unknown_config_key(env):
    (env.tmp / "bad.yaml").write_text("train: {max_epoch: 3}\n")
    args = _train_args(env, config=False) + ["--config", env.tmp / "bad.yaml"]
    return args, 1, r"max_epoch", _no_exp(env)


@case
def train_with_a_config_that_is_not_yaml(env):
    (env.tmp / "bad.yaml").write_text("train: [unclosed\n")
    return _train_args(env, config=False) + ["--config", env.tmp / "bad.yaml"], 1, r"bad.yaml"


@case
def train_with_a_missing_config_file(env):
    return _train_args(env, config=False) + ["--config", env.tmp / "none.yaml"], 1, r"none.yaml"


@case
def train_into_a_directory_holding_another_run(env):
    exp = env.copy(env.ctc, "exp")
    before = _tree(exp)
    return _train_args(env, out=exp), 1, r"holds another run", lambda: _tree(exp) == before


@case
def train_with_resume_and_overwrite(env):
    return _train_args(env) + ["--resume", "--overwrite"], 2, r"--resume and --overwrite"


@case
def train_with_a_dev_set_of_other_feature_settings(env):
    from speechseq.features import FeatureConfig, compute_feats

    d = env.copy(env.digits / "dev", "d")
    compute_feats(
        d,
        FeatureConfig(type="fbank", num_mel_bins=40, high_freq=-400.0, dither=0.0),
        progress=False,
    )
    return _train_args(env, dev=d), 1, r"high_freq -400.0 \(train: 0.0\)", _no_exp(env)


@case
def train_with_features_missing(env):
    t = env.copy(env.digits / "train", "t")
    (t / "feats.scp").unlink()
    return _train_args(env, train=t), 1, r"feats.scp: not found", _no_exp(env)


@case
def train_with_a_missing_ark(env):
    t = env.copy(env.digits / "train", "t")
    scp = (t / "feats.scp").read_text().splitlines()
    utt, ark = scp[0].split(maxsplit=1)
    (t / "feats.scp").write_text("\n".join([f"{utt} {env.tmp}/gone.ark:13", *scp[1:]]) + "\n")
    return _train_args(env, train=t), 1, re.escape(utt)


@case
def train_on_kaldi_cmvn_scp_of_other_features(env):
    import kaldiio

    t = env.copy(env.digits / "train", "t")
    for name in ("cmvn.ark", "utt2num_frames"):
        (t / name).unlink()
    speakers = (t / "spk2utt").read_text().split()[0:1]
    kaldiio.save_ark(
        str(env.tmp / "cmvn.ark"), {speakers[0]: np.ones((2, 14))}, scp=str(t / "cmvn.scp")
    )
    (env.tmp / "spk.yaml").write_text(
        TINY_CTC.replace("{spec_augment: false}", "{spec_augment: false, cmvn: speaker}")
    )
    args = _train_args(env, train=t, config=False) + ["--config", env.tmp / "spk.yaml"]
    return (
        args,
        1,
        r"cmvn\.scp:1: the statistics of speaker .* have shape \[2, 14\], expected \[2, 41\]",
        _no_exp(env),
    )


@case
def train_with_unknown_units(env):
    return _train_args(env) + ["--units", "syllable"], 2, r"ctc.units 'syllable': must be one of"


@case
def train_phone_units_with_words_missing_from_the_lexicon(env):
    (env.tmp / "lex.txt").write_text("one W AH N\n")
    args = _train_args(env) + ["--units", "phone", "--lexicon", env.tmp / "lex.txt"]
    return args, 1, r"lexicon|lex.txt", _no_exp(env)


@case
def train_init_from_a_directory_without_a_model(env):
    (env.tmp / "nothing").mkdir()
    return _train_args(env) + ["--init-from", env.tmp / "nothing"], 1, r"final.pt", _no_exp(env)


@case
def train_init_part_the_source_lacks(env):
    return _train_args(env) + ["--init-from", env.ctc, "--init-part", "decoder"], 1, r"'decoder'"


@case
def train_freezing_an_unknown_part(env):
    return _train_args(env) + ["--freeze", "decoder"], 1, r"freeze 'decoder'"


@case
def train_with_max_frames_below_the_longest_utterance(env):
    return _train_args(env) + ["--max-frames", "50"], 1, r"--max-frames 50", _no_exp(env)


# ---------------------------------------------------------------------------------------------
# decoding, alignment, transcription


@case
def decode_a_directory_that_is_no_model(env):
    (env.tmp / "m").mkdir()
    return ["decode", env.tmp / "m", env.digits / "test"], 1, r"no config.yaml"


@case
def decode_features_of_other_settings(env):
    from speechseq.features import FeatureConfig, compute_feats

    d = env.copy(env.digits / "test", "d")
    compute_feats(d, FeatureConfig(type="mfcc", dither=0.0), progress=False)
    return ["decode", env.ctc, d, "--device", "cpu"], 1, r"type 'mfcc' \(model: 'fbank'\)"


@case
def decode_with_a_malformed_arpa(env):
    (env.tmp / "lm.arpa").write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0 a\n")
    args = ["decode", env.ctc, env.digits / "test", "--lm", env.tmp / "lm.arpa", "--device", "cpu"]
    return args, 1, r"lm.arpa"


@case
def decode_with_a_missing_lexicon(env):
    args = [
        "decode",
        env.ctc,
        env.digits / "test",
        "--beam",
        "2",
        "--lexicon",
        env.tmp / "no.txt",
        "--device",
        "cpu",
    ]
    return args, 1, r"no.txt"


@case
def decode_with_an_lm_weight_that_is_no_number(env):
    return ["decode", env.ctc, env.digits / "test", "--lm-weight", "high"], 2, r"--lm-weight 'high'"


@case
def decode_with_lattice_but_no_graph(env):
    return ["decode", env.ctc, env.digits / "test", "--lattice"], 2, r"--lattice .*add --graph"


@case
def decode_from_parts_of_a_dir_that_is_no_split(env):
    (env.tmp / "parts").mkdir()
    args = ["decode", env.ctc, env.digits / "test", "--from-parts", env.tmp / "parts"]
    args += ["--out", env.tmp / "merged"]
    return args, 1, r"parts: not a split dir", lambda: not (env.tmp / "merged").exists()


@case
def decode_from_parts_without_out(env):
    (env.tmp / "split2").mkdir()
    args = ["decode", env.ctc, env.digits / "test", "--from-parts", env.tmp / "split2"]
    return args, 2, r"--from-parts .*--out"


@case
def decode_from_parts_of_a_cascade(env):
    import json
    import shutil

    from speechseq.data.ops import split_data_dir

    data = env.tmp / "test"
    shutil.copytree(env.digits / "test", data)
    for k, part in enumerate(split_data_dir(data, 2), start=1):
        d = env.tmp / "merged" / f"part-{k}"
        d.mkdir(parents=True)
        (d / "hyp.txt").write_text((part / "text").read_text())
        r = {"mt": "exp/mt_de", "options": {"asr": None}, "bleu": 1.0, "reference": "text.de"}
        (d / "results.json").write_text(json.dumps(r))
    args = ["decode", env.ctc, data, "--from-parts", data / "split2", "--out", env.tmp / "merged"]
    return (
        args,
        1,
        r"part-1: a cascade decode .* decode .*test whole",
        lambda: not (env.tmp / "merged" / "hyp.txt").exists(),
    )


@case
def decode_from_parts_decoded_over_other_grids(env):
    import json
    import shutil

    from speechseq.data.ops import split_data_dir

    data = env.tmp / "test"
    shutil.copytree(env.digits / "test", data)
    out = env.tmp / "merged"
    for k, part in enumerate(split_data_dir(data, 2), start=1):
        for point in ["w1", "w2"][:k]:  # part 1 holds point w1 only, part 2 w1 and w2
            d = out / f"part-{k}" / point
            d.mkdir(parents=True)
            (d / "hyp.txt").write_text((part / "text").read_text())
            r = {"options": {"beam": 4}, "audio_s": 1.0, "decode_s": 0.1, "search_rtf": 0.01}
            (d / "results.json").write_text(json.dumps(r))
    args = ["decode", env.ctc, data, "--from-parts", data / "split2", "--out", out]
    return (
        args,
        1,
        r"part-2: part 2 holds other grid points than .*part-1 \(differing: w2\)",
        lambda: sorted(p.name for p in out.iterdir()) == ["part-1", "part-2"],
    )


@case
def align_from_parts_with_a_part_missing(env):
    (env.tmp / "split2" / "1").mkdir(parents=True)
    out = env.tmp / "ali" / "words.ctm"
    args = ["align", env.ctc, env.digits / "test", "--from-parts", env.tmp / "split2", "--out", out]
    return args, 1, r"split2/2: no such part", lambda: not out.exists()


@case
def decode_an_embedder(env):
    return (
        ["decode", env.emb, env.digits / "test", "--device", "cpu"],
        1,
        r"emb: .*'embed' has nothing to decode",
    )


@case
def decode_with_a_corrupt_final_pt(env):
    m = env.copy(env.ctc, "m")
    (m / "final.pt").write_bytes(b"\x00" * 64)
    return (
        ["decode", m, env.digits / "test", "--device", "cpu"],
        1,
        r"final.pt: not a readable checkpoint",
    )


@case
def decode_with_units_of_another_model(env):
    m = env.copy(env.ctc, "m")
    lines = (m / "units.txt").read_text().splitlines()
    (m / "units.txt").write_text("\n".join(lines[:-1]) + "\n")
    return ["decode", m, env.digits / "test", "--device", "cpu"], 1, r"units"


@case
def decode_a_model_whose_weights_do_not_fit_its_config(env):
    m = env.copy(env.ctc, "m")
    cfg = (m / "config.yaml").read_text().replace("hidden: 16", "hidden: 24")
    (m / "config.yaml").write_text(cfg)
    return ["decode", m, env.digits / "test", "--device", "cpu"], 1, r"do not fit .*size mismatch"


@case
def decode_on_a_device_this_machine_lacks(env):
    return ["decode", env.ctc, env.digits / "test", "--device", "cuda:7"], 2, r"cuda:7"


@case
def align_a_data_dir_without_transcripts(env):
    d = env.copy(env.digits / "test", "d")
    (d / "text").unlink()
    return ["align", env.ctc, d, "--out", env.tmp / "a.ctm", "--device", "cpu"], 1, r"text"


@case
def transcribe_a_file_that_is_not_audio(env):
    (env.tmp / "notes.wav").write_text("hello")
    return ["transcribe", env.ctc, env.tmp / "notes.wav", "--device", "cpu"], 1, r"notes.wav"


@case
def transcribe_a_missing_file(env):
    return ["transcribe", env.ctc, env.tmp / "gone.wav", "--device", "cpu"], 1, r"gone.wav"


@case
def transcribe_with_an_embedder(env):
    wav = next((env.digits / "test" / "wav").glob("*.wav"))
    return ["transcribe", env.emb, wav, "--device", "cpu"], 1, r"task 'embed', not 'ctc'"


@case
def decode_features_of_the_same_dimension_made_otherwise(env):
    """Issue 14's second reproduction: same dimension, other features — refused by setting."""
    from speechseq.features import FeatureConfig, compute_feats

    d = env.copy(env.digits / "test", "d")
    compute_feats(
        d,
        FeatureConfig(type="fbank", num_mel_bins=40, frame_length_ms=20.0, dither=0.0),
        progress=False,
    )
    return ["decode", env.ctc, d, "--device", "cpu"], 1, r"frame_length_ms 20.0 \(model: 25.0\)"


@case
def train_resume_with_a_marker_naming_a_missing_checkpoint(env):
    exp = env.copy(env.ctc, "exp")
    for p in (exp / "checkpoints").glob("epoch-*.pt"):
        p.unlink()
    return (
        _train_args(env, out=exp) + ["--resume"],
        1,
        r"latest: names epoch-\d+.pt, which is missing",
    )


@case
def train_with_the_disk_full_while_saving_a_checkpoint(env):
    """Disk full at the second epoch's checkpoint: one line naming it, the first kept, the run
    marked unfinished with the command that resumes it."""
    (env.tmp / "c2.yaml").write_text(TINY_CTC.replace("max_epochs: 1", "max_epochs: 2"))
    args = _train_args(env, config=False) + ["--config", env.tmp / "c2.yaml"]
    exp = env.tmp / "exp"

    def kept():
        return (
            (exp / "checkpoints" / "epoch-1.pt").is_file()
            and not (exp / "final.pt").exists()
            and "--resume" in (exp / "UNFINISHED").read_text()
        )

    environ = {"SPEECHSEQ_FAULT_AT_RENAME": "1:enospc:epoch-2.pt"}
    return args, 1, r"epoch-2.pt: No space left on device", kept, environ


@case
def train_with_a_negative_hidden_size(env):
    (env.tmp / "h.yaml").write_text(TINY_CTC.replace("hidden: 16", "hidden: -5"))
    args = _train_args(env, config=False) + ["--config", env.tmp / "h.yaml"]
    return args, 2, r"encoder.hidden -5: must be", _no_exp(env)


@case
def train_with_dropout_above_one(env):
    (env.tmp / "h.yaml").write_text(TINY_CTC.replace("dropout: 0.0", "dropout: 1.5"))
    args = _train_args(env, config=False) + ["--config", env.tmp / "h.yaml"]
    return args, 2, r"encoder.dropout 1.5", _no_exp(env)


@case
def train_for_zero_epochs(env):
    return _train_args(env) + ["--max-epochs", "0"], 2, r"train.max_epochs 0", _no_exp(env)


@case
def train_with_a_missing_ark_read_in_a_worker(env):
    t = env.copy(env.digits / "train", "t")
    scp = (t / "feats.scp").read_text().splitlines()
    utt = scp[5].split()[0]
    scp[5] = f"{utt} {env.tmp}/gone.ark:13"
    (t / "feats.scp").write_text("\n".join(scp) + "\n")
    args = _train_args(env, train=t) + ["-j", "1"]
    return args, 1, rf"cannot load '{utt}'", _no_exp(env)


@case
def compute_feats_of_a_channel_the_audio_lacks(env):
    d = env.copy(env.digits / "dev", "d")
    before = _features(d)
    return ["compute-feats", d, "--channel", "3"], 1, r"channel 3", lambda: _features(d) == before


@case
def compute_feats_of_a_pipe_entry_with_no_pipes(env):
    d = env.copy(env.digits / "dev", "d")
    lines = (d / "wav.scp").read_text().splitlines()
    utt, path = lines[0].split(maxsplit=1)
    lines[0] = f"{utt} cat {path} |"
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    return ["--no-pipes", "compute-feats", d], 1, rf"wav.scp:1: .*'{utt}' is a pipe"


@case
def transcribe_with_a_channel_that_is_no_channel(env):
    wav = next((env.digits / "test" / "wav").glob("*.wav"))
    return ["transcribe", env.ctc, wav, "--channel", "left"], 2, r"--channel|channel 'left'"


# ---------------------------------------------------------------------------------------------
# embedding, indexing, search


@case
def train_embedder_ctm_segments_without_a_ctm(env):
    t = env.copy(env.words / "train", "t")
    (t / "ctm").unlink()
    (env.tmp / "e.yaml").write_text(TINY_EMB)
    args = ["train-embedder", t, "--out", env.tmp / "emb", "--config", env.tmp / "e.yaml"]
    return args, 1, r"ctm: file not found", lambda: not (env.tmp / "emb").exists()


@case
def train_embedder_of_an_unknown_variant(env):
    (env.tmp / "e.yaml").write_text(TINY_EMB)
    args = [
        "train-embedder",
        env.words / "train",
        "--out",
        env.tmp / "emb",
        "--config",
        env.tmp / "e.yaml",
        "--variant",
        "vae",
    ]
    return (
        args,
        2,
        r"embed.variant 'vae': must be one of sa, dsa",
        lambda: not (env.tmp / "emb").exists(),
    )


@case
def train_segmenter_without_word_timings(env):
    t = env.copy(env.words / "train", "t")
    (t / "ctm").unlink()
    args = ["train-segmenter", t, "--out", env.tmp / "seg", "--max-epochs", "1"]
    return args, 1, r"t: no ctm .*speechseq align", lambda: not (env.tmp / "seg").exists()


@case
def segment_with_an_embedder(env):
    args = ["segment", env.emb, env.words / "archive", "--out", env.tmp / "s", "--device", "cpu"]
    return args, 1, r"not 'segmenter'", lambda: not (env.tmp / "s").exists()


@case
def segment_with_a_threshold_above_one(env):
    args = ["segment", env.emb, env.words / "archive", "--out", env.tmp / "s", "--threshold", "2"]
    return args, 2, r"--threshold 2\.0: give a probability", lambda: not (env.tmp / "s").exists()


@case
def eval_std_with_an_embedder_as_the_query_segmenter(env):
    args = ["eval-std", "--index", env.idx, "--queries", env.words / "queries", "--ref",
            env.words / "archive" / "ctm", "--no-dtw", "--query-segmenter", env.emb,
            "--device", "cpu", "--out", env.tmp / "ev"]  # fmt: skip
    return args, 1, r"not 'segmenter'", lambda: not (env.tmp / "ev").exists()


@case
def embed_a_folder_without_audio(env):
    (env.tmp / "a").mkdir()
    return (
        ["embed", env.emb, env.tmp / "a", "--out", env.tmp / "v", "--device", "cpu"],
        1,
        r"no audio files",
    )


@case
def embed_with_a_ctc_model(env):
    args = ["embed", env.ctc, env.words / "archive", "--out", env.tmp / "v", "--device", "cpu"]
    return args, 1, r"task 'ctc', not 'embed'", lambda: not (env.tmp / "v").exists()


@case
def index_build_from_a_directory_without_vectors(env):
    (env.tmp / "v").mkdir()
    return ["index", "build", env.tmp / "v", "--out", env.tmp / "i"], 1, r"vectors.npy: not found"


@case
def index_build_with_a_bad_segments_line(env):
    v = env.copy(env.vecs, "v")
    lines = (v / "segments.tsv").read_text().splitlines()
    lines[3] = "broken line"
    (v / "segments.tsv").write_text("\n".join(lines) + "\n")
    out = env.tmp / "i"
    return ["index", "build", v, "--out", out], 1, r"segments.tsv:4", lambda: not out.exists()


@case
def index_build_with_vectors_and_segments_of_other_counts(env):
    v = env.copy(env.vecs, "v")
    np.save(v / "vectors.npy", np.load(v / "vectors.npy")[:-1])
    return ["index", "build", v, "--out", env.tmp / "i"], 1, r"vectors but"


@case
def index_add_vectors_of_another_embedder(env):
    idx = env.copy(env.idx, "i")
    emb = env.copy(env.emb, "emb2")  # same files, another directory: another embedder id
    import json

    settings = json.loads((idx / "embed.json").read_text())
    settings["model"] = str(emb)
    (idx / "embed.json").write_text(json.dumps(settings))
    before = _tree(idx)
    return (
        ["index", "add", idx, env.words / "queries", "--device", "cpu"],
        1,
        r"another embedder",
        lambda: _tree(idx) == before,
    )


@case
def search_an_index_that_does_not_exist(env):
    wav = next((env.words / "queries" / "wav").glob("*.wav"))
    return ["search", wav, "--index", env.tmp / "none", "--device", "cpu"], 1, r"none"


@case
def search_with_a_missing_query_file(env):
    return ["search", env.tmp / "q.wav", "--index", env.idx, "--device", "cpu"], 1, r"q.wav"


@case
def eval_std_with_queries_without_text(env):
    q = env.copy(env.words / "queries", "q")
    (q / "text").unlink()
    args = ["eval-std", "--index", env.idx, "--queries", q, "--ref", env.words / "archive" / "ctm"]
    return args, 1, r"text: not found"


@case
def eval_std_with_a_query_without_words(env):
    q = env.copy(env.words / "queries", "q")
    lines = (q / "text").read_text().splitlines()
    first = lines[0].split()[0]
    (q / "text").write_text("\n".join([first, *lines[1:]]) + "\n")
    args = ["eval-std", "--index", env.idx, "--queries", q, "--ref", env.words / "archive" / "ctm"]
    return args, 1, rf"{first}"


def _eval_std_args(env, *extra):
    """eval-std of the shared index with the words queries and reference, plus ``extra``."""
    return [
        "eval-std",
        "--index",
        env.idx,
        "--queries",
        env.words / "queries",
        "--ref",
        env.words / "archive" / "ctm",
        *extra,
        "--device",
        "cpu",
    ]


@case
def eval_std_combine_with_no_term_spoken_twice(env):
    q = env.copy(env.words / "queries", "q")
    lines = (q / "text").read_text().splitlines()
    (q / "text").write_text("".join(f"{ln.split()[0]} term{k}\n" for k, ln in enumerate(lines)))
    args = _eval_std_args(env, "--combine", "mean", "--no-dtw", "--queries", q)
    return args, 1, r"text: no term is spoken by two queries"


@case
def eval_std_combine_of_another_kind(env):
    return _eval_std_args(env, "--combine", "sum", "--no-dtw"), 2, r"--combine sum: use mean or max"


@case
def eval_std_with_thresholds_from_a_missing_dev_run(env):
    args = _eval_std_args(env, "--thresholds-from", env.tmp / "dev.json", "--no-dtw")
    return args, 1, r"dev.json: file not found"


@case
def eval_std_with_thresholds_from_a_file_of_another_kind(env):
    (env.tmp / "dev.json").write_text('{"rows": [{"method": "embed"}]}')
    args = _eval_std_args(env, "--thresholds-from", env.tmp / "dev.json", "--no-dtw")
    return args, 1, r"dev.json: not the results.json of an eval-std run"


@case
def plot_embeddings_with_a_missing_label_file(env):
    args = [
        "plot-embeddings",
        env.vecs,
        "--labels",
        env.tmp / "none.ctm",
        "--out",
        env.tmp / "m.png",
    ]
    return args, 1, r"none.ctm", lambda: not (env.tmp / "m.png").exists()


# ---------------------------------------------------------------------------------------------
# language models


@case
def lm_train_on_a_missing_file(env):
    return ["lm", "train", env.tmp / "none.txt", "--out", env.tmp / "lm.arpa"], 1, r"none.txt"


@case
def lm_train_on_an_empty_text(env):
    (env.tmp / "t.txt").write_text("")
    out = env.tmp / "lm.arpa"
    return ["lm", "train", env.tmp / "t.txt", "--out", out], 1, r"t.txt", lambda: not out.exists()


@case
def lm_train_of_order_zero(env):
    (env.tmp / "t.txt").write_text("a b c\n")
    return (
        ["lm", "train", env.tmp / "t.txt", "--order", "0", "--out", env.tmp / "lm.arpa"],
        2,
        r"order",
    )


@case
def decode_with_an_lm_that_is_not_arpa(env):
    (env.tmp / "lm.arpa").write_text("this is not an ARPA file\n")
    args = ["decode", env.ctc, env.digits / "test", "--lm", env.tmp / "lm.arpa", "--device", "cpu"]
    return args, 1, r"lm.arpa"


# ---------------------------------------------------------------------------------------------


def test_the_catalogue_has_at_least_sixty_cases():
    assert len(CASES) >= 60, len(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, env, monkeypatch):
    got = CASES[name](env)
    args, code, pattern = got[:3]
    check = got[3] if len(got) > 3 else None
    environ = got[4] if len(got) > 4 else None
    if environ:  # a fault injected through speechseq.fileio's hook, counted from zero
        monkeypatch.setattr(fileio, "_steps_done", 0)
    before = _tree(env.tmp)  # the case's inputs, as the command finds them
    res = runner.invoke(app, [str(a) for a in args], env=environ)
    out = res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in out, out
    assert res.exit_code == code, f"exit {res.exit_code}, wanted {code}:\n{out}"
    if "validate" in args[:3]:  # its report: problem lines, then a summary line
        errors = [line for line in out.splitlines() if re.search(pattern, line)][:1]
    else:
        errors = [line for line in out.splitlines() if line.startswith(("error:", "Error"))]
    if code == 1:
        assert len(errors) == 1, f"wanted one error line:\n{out}"
        assert re.search(pattern, errors[0]), f"{pattern!r} not in {errors[0]!r}"
    else:  # usage errors: ours ("error: ...") or click's ("Error: Invalid value ...")
        assert len(errors) == 1 and re.search(pattern, out), f"{pattern!r} not in:\n{out}"
    if check is not None:
        assert check(), "the outputs are not as they were (or absent) after the failure"
    else:  # nothing written, nothing changed: no output left half-made, no input touched
        after = _tree(env.tmp)
        assert after == before, sorted(set(after) ^ set(before)) or "a file changed"
    if SHOW:
        print(f"\n[{name}] exit {res.exit_code}: {(errors or [out.strip()])[0][:300]}")
