"""Out-of-range config values and options: one line naming the key, the value and the range; exit 2.

The commands check their config before they read any data, so the paths here need not exist.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app

runner = CliRunner()

CTC = ["train-ctc", "train", "--dev", "dev", "--out", "exp"]
EMBED = ["train-embedder", "train", "--out", "exp"]
FEATS = ["compute-feats", "data"]
HYBRID = ["train-hybrid", "train", "--dev", "dev", "--lang", "lang", "--out", "exp"]

# (command line, YAML config or "", what the one error line holds: key and value, range)
CASES = [
    (CTC, "encoder:\n  hidden: -5\n", "encoder.hidden -5", "an integer >= 1"),
    (CTC, "encoder:\n  layers: 0\n", "encoder.layers 0", "an integer >= 1"),
    (CTC, "encoder:\n  dropout: 1.5\n", "encoder.dropout 1.5", "a number >= 0 and < 1"),
    (CTC, "encoder:\n  rnn: transformer\n", "encoder.rnn 'transformer'", "one of lstm, gru, rnn"),
    (CTC, "encoder:\n  subsample: stack0\n", "encoder.subsample 'stack0'", "stackN (N >= 1)"),
    (CTC, "encoder:\n  forget_bias: .nan\n", "encoder.forget_bias nan", "a finite number"),
    (CTC, "train:\n  lr: -1\n", "train.lr -1", "a number > 0"),
    (CTC, "train:\n  weight_decay: -0.1\n", "train.weight_decay -0.1", "a number >= 0"),
    (CTC, "train:\n  min_lr_ratio: 2\n", "train.min_lr_ratio 2", "a number >= 0 and <= 1"),
    (CTC, "train:\n  clip_norm: 0\n", "train.clip_norm 0", "a number > 0"),
    (CTC, "train:\n  precision: fp8\n", "train.precision 'fp8'", "one of auto, fp32, bf16, fp16"),
    (CTC, "train:\n  average_last: 0\n", "train.average_last 0", "an integer >= 1"),
    (CTC, "ctc:\n  cmvn: mean\n", "ctc.cmvn 'mean'", "one of utterance, speaker, global, none"),
    (CTC, "ctc:\n  bpe_size: 1\n", "ctc.bpe_size 1", "an integer >= 2"),
    (CTC, "ctc:\n  freq_masks: -1\n", "ctc.freq_masks -1", "an integer >= 0"),
    (CTC, "ctc:\n  vtlp: 0.5\n", "ctc.vtlp 0.5", "a number >= 0 and < 0.5"),
    ([*CTC, "--max-epochs", "0"], "", "train.max_epochs 0", "an integer >= 1"),
    ([*CTC, "--max-frames", "0"], "", "train.max_frames 0", "an integer >= 1"),
    ([*CTC, "-j", "-1"], "", "train.num_workers -1", "an integer >= 0"),
    ([*CTC, "--seed", "-3"], "", "train.seed -3", "an integer >= 0"),
    ([*CTC, "--device", "gpu"], "", "train.device 'gpu'", "auto, cpu, cuda, cuda:N or mps"),
    ([*CTC, "--units", "word"], "", "ctc.units 'word'", "one of char, phone, bpe"),
    (HYBRID, "hybrid:\n  time_width: -2\n", "hybrid.time_width -2", "an integer >= 0"),
    (HYBRID, "hybrid:\n  vtlp: -0.1\n", "hybrid.vtlp -0.1", "a number >= 0 and < 0.5"),
    ([*HYBRID, "--tri-leaves", "-1"], "", "hybrid.tri_leaves -1", "an integer >= 0"),
    (HYBRID, "hybrid:\n  tri_min_frames: 0\n", "hybrid.tri_min_frames 0", "an integer >= 1"),
    ([*EMBED, "--dim", "0"], "", "embed.dim 0", "an integer >= 1"),
    ([*EMBED, "--variant", "vae"], "", "embed.variant 'vae'", "one of sa, dsa"),
    ([*EMBED, "--same-word", "-1"], "", "embed.same_word_weight -1.0", "a number >= 0"),
    (EMBED, "embed:\n  temperature: 0\n", "embed.temperature 0", "a number > 0"),
    (EMBED, "embed:\n  window_s: 0.3,-1\n", "embed.window_s '0.3,-1'", "seconds > 0"),
    (EMBED, "embed:\n  window_negatives: -1\n", "embed.window_negatives -1", "a number >= 0"),
    (EMBED, "embed:\n  text_weight: -0.5\n", "embed.text_weight -0.5", "a number >= 0"),
    ([*FEATS, "--num-mel-bins", "2"], "", "num_mel_bins 2", "an integer >= 3"),
    ([*FEATS, "--sample-rate", "0"], "", "sample_rate 0", "an integer >= 1"),
    ([*FEATS, "--dither", "-1"], "", "dither -1.0", "a number >= 0"),
]


@pytest.mark.parametrize(
    "argv,config,key_value,rule", CASES, ids=[c[2].split(" ")[0] for c in CASES]
)
def test_out_of_range_value_is_one_usage_error_line_naming_key_value_and_range(
    tmp_path, argv, config, key_value, rule
):
    if config:
        (tmp_path / "conf.yaml").write_text(config)
        argv = [*argv, "--config", str(tmp_path / "conf.yaml")]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {key_value}: must be ")
    assert rule in lines[0]
    fix = "conf.yaml or on the command line" if config else "on the command line"
    if argv[0] != "compute-feats":
        assert lines[0].endswith(fix)


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "exp", "data", "--beam", "0"],
        ["transcribe", "exp", "a.wav", "--beam", "0"],
        ["search", "q.wav", "--index", "idx", "--top-k", "0"],
        ["eval-std", "--index", "idx", "--queries", "q", "--ref", "r", "--max-queries", "-1"],
        ["search", "q.wav", "--index", "idx", "--expand", "-1"],
        ["eval-std", "--index", "idx", "--queries", "q", "--ref", "r", "--expand", "-1"],
        ["embed", "exp", "audio", "--out", "o", "--hop", "0"],
        ["synth", "digits", "out", "--num-utts", "0"],
    ],
    ids=lambda a: f"{a[0]} {a[-2]}",
)
def test_out_of_range_option_that_is_no_config_key_exits_2(argv):
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    assert f"Invalid value for '{argv[-2]}'" in res.output
    assert "Traceback" not in res.output
