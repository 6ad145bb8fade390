"""End-to-end `speechseq data ...` through the CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.kaldi_dir import read_table
from tests.data.helpers import build_dir, tone, write_audio

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["data", *map(str, args)])


def test_cli_validate_prints_ok(data_dir):
    r = run("validate", data_dir)
    assert r.exit_code == 0, r.output
    assert f"{data_dir}: OK (6 utterances, 3 speakers, 0.000333 hours)" in r.stdout


def test_cli_validate_exits_1_with_one_line_per_problem(data_dir):
    (data_dir / "utt2spk").write_text("a-2 a\na-1 a\nb-1 b\nb-2 b\nb-3 b\nc-1 c\n")
    (data_dir / "wav" / "c-1.wav").unlink()
    r = run("validate", data_dir, "--no-audio")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0] == (
        f"{data_dir}/utt2spk:2: not sorted in C order: 'a-1' comes after 'a-2' — sort it with "
        f"LC_ALL=C sort, or run speechseq data fix {data_dir}"
    )
    assert any("c-1.wav of 'c-1' not found" in line for line in lines)


def test_cli_fix_reports_dropped_ids(data_dir):
    (data_dir / "text").write_text("a-1 hello\na-2\nb-1 x\nb-2 y\nb-3 z\nc-1 w\n")
    r = run("fix", data_dir)
    assert r.exit_code == 0, r.output
    assert "dropped 1 utterance(s) with an empty transcript: a-2" in r.output
    assert run("validate", data_dir).exit_code == 0


def test_cli_fix_bad_dir_exits_1(tmp_path):
    r = run("fix", tmp_path / "nope")
    assert r.exit_code == 1 and "nope: not a directory" in r.output


def test_cli_split(data_dir):
    r = run("split", data_dir, 3)
    assert r.exit_code == 0, r.output
    assert r.stdout.split() == [str(data_dir / "split3" / str(k)) for k in (1, 2, 3)]


def test_cli_split_too_many_parts_is_usage_error(data_dir):
    r = run("split", data_dir, 9)
    assert r.exit_code == 2 and "cannot split 3 speaker(s) into 9 part(s)" in r.output


def test_cli_subset_and_combine(tmp_path, data_dir):
    assert run("subset", data_dir, tmp_path / "ab", "--speakers", "a,b").exit_code == 0
    assert run("subset", data_dir, tmp_path / "c", "--speakers", "c").exit_code == 0
    r = run("combine", tmp_path / "all", tmp_path / "ab", tmp_path / "c")
    assert r.exit_code == 0, r.output
    assert read_table(tmp_path / "all" / "utt2spk") == read_table(data_dir / "utt2spk")
    r = run("combine", tmp_path / "all2", tmp_path / "ab", data_dir)
    assert r.exit_code == 1 and "is also in" in r.output


def test_cli_copy(tmp_path, data_dir):
    r = run("copy", data_dir, tmp_path / "c")
    assert r.exit_code == 0 and "6 utterances" in r.output, r.output
    assert read_table(tmp_path / "c" / "text") == read_table(data_dir / "text")
    r = run("copy", data_dir, data_dir)
    assert r.exit_code == 2 and "the output is the input directory" in r.output
    r = run("copy", tmp_path / "nope", tmp_path / "out")
    assert (
        r.exit_code == 1 and "nope: not a directory" in r.output and not (tmp_path / "out").exists()
    )


def test_cli_subset_needs_one_selection(tmp_path, data_dir):
    r = run("subset", data_dir, tmp_path / "s")
    assert r.exit_code == 2 and "exactly one of --num-utts N or --speakers LIST" in r.output


def test_cli_from_folder(tmp_path):
    write_audio(tmp_path / "a" / "spk1" / "x.wav", tone())
    (tmp_path / "a" / "spk1" / "x.txt").write_text("hi")
    r = run("from-folder", tmp_path / "a", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "1 utterances, 1 speakers" in r.output
    assert read_table(tmp_path / "out" / "text") == {"spk1-x": "hi"}


def test_cli_from_folder_missing_transcript_exits_1(tmp_path):
    write_audio(tmp_path / "a" / "spk1" / "x.wav", tone())
    r = run("from-folder", tmp_path / "a", tmp_path / "out")
    assert r.exit_code == 1 and "x.wav: audio without a transcript" in r.output
    assert not (tmp_path / "out").exists()


def test_cli_librispeech(tmp_path):
    d = tmp_path / "ls" / "19" / "198"
    write_audio(d / "19-198-0000.flac", tone())
    (d / "19-198.trans.txt").write_text("19-198-0000 HELLO THERE\n")
    r = run("librispeech", tmp_path / "ls", tmp_path / "out", "--lowercase")
    assert r.exit_code == 0, r.output
    assert read_table(tmp_path / "out" / "text") == {"19-198-0000": "hello there"}


def test_cli_data_help_lists_commands():
    r = runner.invoke(app, ["data", "--help"])
    for cmd in (
        "validate",
        "fix",
        "split",
        "subset",
        "copy",
        "combine",
        "from-folder",
        "librispeech",
    ):
        assert cmd in r.output


def test_cli_validate_segmented_dir_with_bad_segment(seg_dir):
    (seg_dir / "segments").write_text(
        "s-1 rec1 0.00 0.30\ns-2 rec1 0.30 0.60\ns-3 rec1 0.60 2.00\n"
    )
    r = run("validate", seg_dir)
    assert r.exit_code == 1 and "segments:3: segment 's-3' ends at 2.000 s" in r.stdout


def test_cli_combine_rejects_output_among_inputs(tmp_path):
    build_dir(tmp_path / "x", {"a-1": ("a", "x")})
    r = run("combine", tmp_path / "x", tmp_path / "x")
    assert r.exit_code == 2 and "the output is one of the inputs" in r.output
