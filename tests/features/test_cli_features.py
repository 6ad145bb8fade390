from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.features import FeatureReader, load_feature_config
from tests.features.helpers import corrupt_wav

runner = CliRunner()


def test_cli_compute_feats_writes_mfcc_and_prints_the_real_time_factor(data_dir):
    result = runner.invoke(app, ["compute-feats", str(data_dir), "--type", "mfcc", "--dither", "0"])
    assert result.exit_code == 0, result.output
    assert "real-time factor" in result.output
    assert load_feature_config(data_dir).type == "mfcc"
    assert FeatureReader(data_dir).dim == 13


def test_cli_compute_feats_corrupt_wav_exits_1_naming_the_utterance(data_dir):
    corrupt_wav(data_dir)
    result = runner.invoke(app, ["compute-feats", str(data_dir)])
    assert result.exit_code == 1
    assert "error: spkB-utt1: cannot read audio" in result.output
    assert not (data_dir / "feats.scp").exists()


def test_cli_compute_feats_skip_bad_warns_with_the_count(data_dir):
    corrupt_wav(data_dir)
    result = runner.invoke(app, ["compute-feats", str(data_dir), "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 utterance(s) could not be read" in result.output


def test_cli_compute_feats_unknown_type_is_a_usage_error(data_dir):
    result = runner.invoke(app, ["compute-feats", str(data_dir), "--type", "plp"])
    assert result.exit_code == 2
    assert "feature type 'plp' is unknown" in result.output
