"""decode/run.py in process: the LM-weight x word-bonus grid, one decode dir per point written
whole, Kaldi's scoring files and the translation files, with a decoder whose output is known."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from speechseq.core.batching import ArrayReader
from speechseq.core.task import Task
from speechseq.data.kaldi_dir import DataDir
from speechseq.decode.run import (
    decode_data,
    decode_grid,
    plot_attention_maps,
    search_grid,
    write_scored,
    write_translations,
)
from speechseq.errors import SpeechseqError, UsageError


@dataclasses.dataclass(frozen=True)
class WeightedOptions:
    lm_weight: float = 0.5
    word_bonus: float = 0.0
    lattice: bool = False
    acoustic_scale: float = 0.1

    def tag(self) -> str:
        return f"lm{self.lm_weight:g}_wb{self.word_bonus:g}"


@dataclasses.dataclass(frozen=True)
class PlainOptions:
    beam: int = 4

    def tag(self) -> str:
        return f"beam{self.beam}"


class WeightDecoder:
    """Says "one two" at the options' own weights and "one" at any other point; records the
    weights it was rebuilt with."""

    scoring = "wer"

    def __init__(self, options, built: list):
        self.options, self.built = options, built

    def with_weights(self, lm_weight, word_bonus):
        self.built.append((lm_weight, word_bonus))
        return WeightDecoder(
            dataclasses.replace(self.options, lm_weight=lm_weight, word_bonus=word_bonus),
            self.built,
        )

    def decode(self, output):
        text = (
            "one two" if (self.options.lm_weight, self.options.word_bonus) == (0.5, 0.0) else "one"
        )
        return SimpleNamespace(text=text)


def data_dir(tmp_path, text=True):
    d = tmp_path / "test"
    d.mkdir()
    (d / "utt2spk").write_text("a1 a\na2 a\nb1 b\n")
    if text:
        (d / "text").write_text("a1 one two\na2 one two\nb1 one\n")
    return DataDir(d)


OUTPUTS = {u: np.zeros((3, 2), dtype=np.float32) for u in ("a1", "a2", "b1")}


def test_grid_is_the_options_point_unless_grids_are_given():
    o = WeightedOptions()
    assert decode_grid(o, None, None, "ctc") == [(0.5, 0.0)]
    assert decode_grid(o, [0.1, 0.2], None, "ctc") == [(0.1, 0.0), (0.2, 0.0)]
    assert decode_grid(o, None, [1.0, 2.0], "ctc") == [(0.5, 1.0), (0.5, 2.0)]
    assert decode_grid(o, [0.1, 0.2], [1.0, 2.0], "ctc") == [
        (0.1, 1.0),
        (0.1, 2.0),
        (0.2, 1.0),
        (0.2, 2.0),
    ]
    assert decode_grid(PlainOptions(), None, None, "st") == [None]
    assert decode_grid(o, [0.3], None, "ctc") == [(0.3, 0.0)]


@pytest.mark.parametrize("weights, bonuses", [([0.1], None), (None, [1.0])])
def test_a_grid_for_a_decoder_without_lm_weight_is_a_usage_error(weights, bonuses):
    with pytest.raises(UsageError, match="a st model has no LM weight"):
        decode_grid(PlainOptions(), weights, bonuses, "st")


def test_a_grid_with_an_out_dir_puts_each_point_under_it_and_replaces_it_whole(tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "grid"
    (out / "lm9_wb9").mkdir(parents=True)  # a point of an earlier grid: not this run's
    base = WeightDecoder(WeightedOptions(), [])
    results = search_grid("EXP", data, base, OUTPUTS, [(0.5, 0.0), (1.0, 2.0)], 0.5, 2.0, out)
    assert [r["out_dir"] for r in results] == [str(out / "lm0.5_wb0"), str(out / "lm1_wb2")]
    assert sorted(p.name for p in out.iterdir()) == ["lm0.5_wb0", "lm1_wb2"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert (out / "lm1_wb2" / "hyp.txt").read_text().splitlines() == ["a1 one", "a2 one", "b1 one"]
    on_disk = json.loads((out / "lm1_wb2" / "results.json").read_text())
    assert on_disk == {k: v for k, v in results[1].items() if k != "out_dir"}
    # one point with an out dir: that dir is the decode dir
    [r] = search_grid("EXP", data, base, OUTPUTS, [(1.0, 2.0)], 0.5, 2.0, tmp_path / "one")
    assert r["out_dir"] == str(tmp_path / "one") and (tmp_path / "one" / "wer").is_file()


def test_each_grid_point_gets_its_own_scored_dir_and_the_base_point_is_not_rebuilt(tmp_path):
    data = data_dir(tmp_path)
    built: list = []
    base = WeightDecoder(WeightedOptions(), built)
    exp = tmp_path / "exp"
    exp.mkdir()
    results = search_grid(exp, data, base, OUTPUTS, [(0.5, 0.0), (1.0, 2.0)], 0.5, 2.0)
    assert built == [(1.0, 2.0)]
    first, second = results
    assert first["out_dir"] == str(exp / "decode_test_lm0.5_wb0")
    assert second["out_dir"] == str(exp / "decode_test_lm1_wb2")
    assert first["wer"] == 20.0  # "one two" for b1's "one": 1 insertion in 5 words
    assert second["wer"] == 40.0  # "one" for "one two" twice: 2 deletions in 5 words
    assert second["speaker_wer"] == {"a": 50.0, "b": 0.0}
    assert second["options"] == {
        "lm_weight": 1.0,
        "word_bonus": 2.0,
        "lattice": False,
        "acoustic_scale": 0.1,
    }
    assert first["utterances"] == 3 and first["audio_s"] == 2.0
    assert first["rtf"] == pytest.approx(first["decode_s"] / 2.0, abs=1e-4)
    assert first["decode_s"] >= 0.5 and first["search_rtf"] < first["rtf"]
    on_disk = json.loads((exp / "decode_test_lm1_wb2" / "results.json").read_text())
    assert on_disk == {k: v for k, v in second.items() if k != "out_dir"}
    hyp = (exp / "decode_test_lm1_wb2" / "hyp.txt").read_text().splitlines()
    assert hyp == ["a1 one", "a2 one", "b1 one"]
    assert sorted(p.name for p in exp.iterdir()) == ["decode_test_lm0.5_wb0", "decode_test_lm1_wb2"]


def test_out_dir_names_the_one_decode_dir_and_replaces_it_whole(tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "stale").write_text("from an earlier run\n")
    [r] = search_grid(
        tmp_path, data, WeightDecoder(WeightedOptions(), []), OUTPUTS, [(0.5, 0.0)], 0.0, 1.0, out
    )
    assert r["out_dir"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "hyp.txt",
        "per_spk",
        "per_utt",
        "results.json",
        "wer",
    ]


def test_scoring_files_are_kaldis(tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "dec"
    out.mkdir()
    r = write_scored(out, data, {"a1": "one", "a2": "one two", "b1": "one three"})
    wer = (out / "wer").read_text().splitlines()
    assert wer[0] == "%WER 40.00 [ 2 / 5, 1 ins, 1 del, 0 sub ]"
    assert wer[1].startswith("%CER ") and wer[1] == r["cer_line"]
    assert r["wer"] == 40.0 and r["wer_line"] == wer[0]
    assert r["speaker_wer"] == {"a": 25.0, "b": 100.0}
    per_utt = (out / "per_utt").read_text()
    assert "a1 #csid 1 0 0 1" in per_utt and "b1 #csid 1 0 1 0" in per_utt
    per_spk = (out / "per_spk").read_text()
    assert per_spk.splitlines()[-1].split()[:2] == ["SUM", "sys"]


def test_without_transcripts_only_hyps_are_written(tmp_path):
    data = data_dir(tmp_path, text=False)
    out = tmp_path / "dec"
    out.mkdir()
    assert write_scored(out, data, {"a1": "one"}) == {}
    assert sorted(p.name for p in out.iterdir()) == ["hyp.txt"]


def test_a_missing_reference_is_scored_as_an_empty_transcript(tmp_path):
    data = data_dir(tmp_path)
    out = tmp_path / "dec"
    out.mkdir()
    (data.path / "text").write_text("a1 one\n")
    r = write_scored(out, data, {"a1": "one", "b1": "two"})
    assert r["wer_line"] == "%WER 100.00 [ 1 / 1, 1 ins, 0 del, 0 sub ]"


def test_translations_are_scored_with_sacrebleu_and_written_as_pairs(tmp_path):
    data = data_dir(tmp_path)
    (data.path / "text.fr").write_text("a1 un deux trois quatre\na2 cinq six sept huit\nb1 neuf\n")
    out = tmp_path / "dec"
    out.mkdir()
    decoded = {
        "a1": SimpleNamespace(text="un deux trois quatre"),
        "a2": SimpleNamespace(text="cinq six sept huit", finished=False),
        "b1": SimpleNamespace(text="neuf"),
    }
    r = write_translations(out, data, decoded, "text.fr")
    assert r["bleu"] == 100.0 and r["chrf"] == 100.0
    assert r["reference"] == "text.fr" and r["stopped_by_length_guard"] == ["a2"]
    assert (out / "per_utt").read_text().splitlines()[:2] == [
        "a1 ref un deux trois quatre",
        "a1 hyp un deux trois quatre",
    ]
    assert (out / "ref.txt").read_text().splitlines()[2] == "b1 neuf"
    bleu = (out / "bleu").read_text().splitlines()
    assert bleu[0].startswith("BLEU = 100.00") and "(3 sentences)" in bleu[0]
    assert bleu[0] == r["bleu_line"] and "|tok:13a|smooth:exp|version:" in bleu[0]
    assert bleu[1] == r["chrf_line"] and bleu[1].startswith("chrF2 = 100.00")


def test_a_translation_without_reference_names_the_file_and_utterance(tmp_path):
    data = data_dir(tmp_path)
    (data.path / "text.fr").write_text("a1 un\n")
    out = tmp_path / "dec"
    out.mkdir()
    decoded = {u: SimpleNamespace(text="un") for u in ("a1", "b1", "a2")}
    with pytest.raises(
        SpeechseqError, match=r"text.fr: no reference for 2 utterance\(s\) \(first: b1\)"
    ):
        write_translations(out, data, decoded, "text.fr")


def test_attention_maps_are_one_png_per_utterance_that_has_one(tmp_path):
    att = np.random.default_rng(0).random((3, 7))
    decoded = {
        "a1": SimpleNamespace(text="x y", attention=att, tokens=["x", "y", "</s>"]),
        "a2": SimpleNamespace(text="", attention=np.zeros((0, 7))),
        "b1": SimpleNamespace(text="z"),
    }
    n = plot_attention_maps(tmp_path / "att", decoded, ["a1", "a2", "b1"])
    assert n == 1
    files = list((tmp_path / "att").iterdir())
    assert [f.name for f in files] == ["a1.png"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[0].stat().st_size > 1000


class OutputDecoder:
    """Reads its words off the network output (one word per row whose first value is 1), has
    no ``scoring`` attribute (so the default, WER, applies) and may keep "lattices"."""

    def __init__(self, options):
        self.options = options

    def with_weights(self, lm_weight, word_bonus):
        return OutputDecoder(
            dataclasses.replace(self.options, lm_weight=lm_weight, word_bonus=word_bonus)
        )

    def decode(self, output):
        words = " ".join(["one", "two"][: int((output[:, 0] == 1).sum())])
        lattice = SimpleNamespace(kaldi_text=lambda key, scale: f"{key}\n0 {scale:g}\n\n")
        return SimpleNamespace(text=words, lattice=lattice if self.options.lattice else None)


def outputs(rows_of_ones: dict[str, int]) -> dict[str, np.ndarray]:
    out = {}
    for u, n in rows_of_ones.items():
        o = np.zeros((4, 2), np.float32)
        o[:n, 0] = 1
        out[u] = o
    return out


def test_results_hold_the_searched_figures_rounded_as_written(tmp_path):
    data = data_dir(tmp_path)
    (data.path / "text").write_text("a1 one two\na2 one two\nb1 three\n")
    exp = tmp_path / "exp"
    exp.mkdir()
    outs = outputs({"a1": 2, "a2": 1, "b1": 0})  # hyps: "one two", "one", ""
    [r] = search_grid(exp, data, OutputDecoder(WeightedOptions()), outs, [(0.5, 0.0)], 1.5, 2.345)
    assert r["data"] == str(data.path) and r["utterances"] == 3
    assert r["audio_s"] == 2.35 and r["wer"] == 40.0  # 2 deletions of 5 words
    assert r["cer"] == round(100 * 8 / 17, 2) == 47.06  # "two" and "three": 8 of 17 characters
    assert r["speaker_wer"] == {"a": 25.0, "b": 100.0}
    assert r["wer_line"] == "%WER 40.00 [ 2 / 5, 0 ins, 2 del, 0 sub ]"
    assert r["cer_line"].startswith("%CER 47.06 [ 8 / 17,")
    assert 1.5 <= r["decode_s"] < 1.5 + 5 and r["decode_s"] == round(r["decode_s"], 3)
    assert r["rtf"] == pytest.approx(r["decode_s"] / 2.345, abs=1e-3)
    assert 0 <= r["search_rtf"] < 1
    text = (exp / "decode_test_lm0.5_wb0" / "results.json").read_text()
    assert text.startswith('{\n  "data": ') and text.endswith("}\n")
    wer = (exp / "decode_test_lm0.5_wb0" / "wer").read_text()
    assert wer == f"{r['wer_line']}\n{r['cer_line']}\n"
    per_utt = (exp / "decode_test_lm0.5_wb0" / "per_utt").read_text()
    assert per_utt.endswith("\n") and not per_utt.endswith("\n\n") and "XX" not in per_utt
    assert not (exp / "decode_test_lm0.5_wb0" / "lat.txt.gz").exists()


def test_a_decoder_that_keeps_lattices_writes_lat_txt_gz_and_plots_attention(tmp_path):
    import gzip

    data = data_dir(tmp_path)
    opts = WeightedOptions(lattice=True, acoustic_scale=0.25)
    out = tmp_path / "dec"
    plots = tmp_path / "att"

    class Attending(OutputDecoder):
        def decode(self, output):
            d = super().decode(output)
            d.attention = np.ones((2, 4)) if d.text else None
            return d

    [r] = search_grid(
        tmp_path, data, Attending(opts), outputs({"b1": 1, "a1": 2, "a2": 0}), [(0.5, 0.0)],
        0.0, 1.0, out, plot_attention=plots,
    )  # fmt: skip
    lat = gzip.decompress((out / "lat.txt.gz").read_bytes()).decode()
    assert lat == "a1\n0 0.25\n\na2\n0 0.25\n\nb1\n0 0.25\n\n"
    assert r["attention_plots"] == 2 and sorted(p.name for p in plots.iterdir()) == [
        "a1.png",
        "b1.png",
    ]
    assert "attention_plots" not in json.loads((out / "results.json").read_text())


def test_translation_figures_are_rounded_to_two_decimals(tmp_path):
    data = data_dir(tmp_path)
    (data.path / "text.fr").write_text("a1 un deux trois quatre\na2 cinq six\nb1 neuf\n")
    out = tmp_path / "dec"
    out.mkdir()
    decoded = {
        "a1": SimpleNamespace(text="un deux trois cinq"),
        "a2": SimpleNamespace(text="cinq six"),
        "b1": SimpleNamespace(text="neuf"),
    }
    r = write_translations(out, data, decoded, "text.fr")
    assert r["bleu"] == round(r["bleu"], 2) and 0 < r["bleu"] < 100
    assert r["bleu_line"].startswith(f"BLEU = {r['bleu']:.2f} ")
    assert r["chrf"] == round(r["chrf"], 2) and r["chrf_line"].startswith(
        f"chrF2 = {r['chrf']:.2f}"
    )
    assert r["bleu"] != round(r["bleu"], 3) or r["bleu"] == round(r["bleu"], 2)
    assert (out / "hyp.txt").read_text() == "a1 un deux trois cinq\na2 cinq six\nb1 neuf\n"
    assert r["stopped_by_length_guard"] == []


class FakeTask:
    """A task as decode_data sees it: collate, outputs per utterance, a decoder."""

    name = "fake"

    def __init__(self, has_decoder=True):
        self.built = []
        if not has_decoder:
            self.__class__ = type("NoDecoder", (FakeTask,), {"decoder": Task.decoder})

    @staticmethod
    def collate(items):
        from speechseq.core.batching import pad_collate

        return pad_collate(items)

    def outputs(self, model, batch):
        return [f[:n].numpy() for f, n in zip(batch["feats"], batch["lengths"], strict=True)]

    def decoder(self, options, model):
        self.built.append(options)
        return OutputDecoder(options)


def fake_experiment(monkeypatch, feats, task=None):
    import torch

    from speechseq.core.batching import ArrayReader
    from speechseq.decode import run

    ex = SimpleNamespace(
        task=task or FakeTask(),
        model=None,
        device=torch.device("cpu"),
        frontend=SimpleNamespace(data_reader=lambda path: ArrayReader(feats)),
    )
    monkeypatch.setattr(run, "load_experiment", lambda exp, device, quiet: ex)
    return ex


def test_decode_data_runs_the_network_once_and_scores_each_point(tmp_path, monkeypatch):
    data = data_dir(tmp_path)
    (data.path / "text").write_text("a1 one two\na2 one\nb1 one two\n")
    feats = {u: outputs({u: n})[u] for u, n in (("a1", 2), ("a2", 1), ("b1", 0))}
    feats["b1"] = feats["b1"][:3]  # 3 frames, the others 4: 11 frames = 0.11 s
    ex = fake_experiment(monkeypatch, feats)
    exp = tmp_path / "exp"
    exp.mkdir()
    results = decode_data(
        exp,
        data.path,
        lambda task: WeightedOptions(lm_weight=0.1),
        lm_weights=[0.1, 0.2],
        quiet=True,
    )
    assert [o.lm_weight for o in ex.task.built] == [0.1]  # built once, then reweighted
    assert [r["out_dir"] for r in results] == [
        str(exp / "decode_test_lm0.1_wb0"),
        str(exp / "decode_test_lm0.2_wb0"),
    ]
    assert [r["wer"] for r in results] == [40.0, 40.0]  # b1 said nothing: 2 deletions of 5
    assert results[0]["audio_s"] == 0.11 and results[0]["utterances"] == 3


def test_decode_data_errors_name_the_experiment_and_the_data(tmp_path, monkeypatch):
    from speechseq.decode.seq2seq import Seq2SeqDecodeOptions

    data = data_dir(tmp_path)
    feats = outputs({"a1": 1})
    fake_experiment(monkeypatch, feats, FakeTask(has_decoder=False))
    with pytest.raises(SpeechseqError) as e:
        decode_data("exp", data.path, WeightedOptions())
    assert str(e.value) == (
        "exp: a model of task 'fake' has nothing to decode — use the command made for it "
        "(an embedder: speechseq embed)"
    )
    ex = fake_experiment(monkeypatch, {})
    with pytest.raises(SpeechseqError, match=f"^{data.path}: no utterances to decode$"):
        decode_data("exp", data.path, WeightedOptions())
    ex.task.decoder = lambda o, m: SimpleNamespace(scoring="bleu", reference="text.fr", options=o)
    with pytest.raises(SpeechseqError) as e:
        decode_data("exp", data.path, Seq2SeqDecodeOptions())
    assert str(e.value) == (
        f"{data.path / 'text.fr'}: file not found — this fake model translates into 'fr', so "
        "scoring needs the reference translations in text.fr (synth translate writes them)"
    )
    with pytest.raises(UsageError, match="a fake model has no LM weight"):
        decode_data("exp", data.path, Seq2SeqDecodeOptions(), lm_weights=[1.0])


def test_attention_plots_show_tokens_frames_and_the_text(tmp_path, monkeypatch):
    import struct

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    saved = []
    real_savefig = Figure.savefig

    def spy(fig, f, **kw):
        ax = fig.axes[0]
        image = ax.images[0]
        saved.append(
            {
                "size": tuple(fig.get_size_inches()),
                "labels": (ax.get_xlabel(), ax.get_ylabel()),
                "title": (ax.get_title(), ax.title.get_fontsize()),
                "ticks": [(t.get_text(), t.get_fontsize()) for t in ax.get_yticklabels()],
                "image": (image.get_cmap().name, image.get_interpolation(), ax.get_aspect()),
                "kw": kw,
            }
        )
        return real_savefig(fig, f, **kw)

    monkeypatch.setattr(Figure, "savefig", spy)
    decoded = {
        "a1": SimpleNamespace(
            text="un deux", attention=np.ones((3, 40)), tokens=["un", "deux", "<eos>"]
        ),
        "a2": SimpleNamespace(text="", attention=None),
        "b1": SimpleNamespace(text="x", attention=np.ones((20, 16)), tokens=["x"]),  # 1 of 20 rows
    }
    out = tmp_path / "plots" / "deeper"
    assert plot_attention_maps(out, decoded, ["a1", "a2", "b1"]) == 2
    assert plot_attention_maps(out, decoded, ["a1"]) == 1  # the directory may exist
    a1, b1 = saved[:2]
    assert a1["size"] == (5.0, 3.0) and b1["size"] == (4.0, 5.0)
    assert a1["labels"] == ("encoder frame", "output token (first at the top)")
    assert a1["title"] == ("a1: un deux", 8.0) and b1["title"] == ("b1: x", 8.0)
    assert a1["ticks"] == [("un", 7.0), ("deux", 7.0), ("<eos>", 7.0)]
    assert "x" not in [t for t, _ in b1["ticks"]]  # tokens that do not fit the rows are not shown
    assert a1["image"] == ("Greys", "nearest", "auto")
    assert a1["kw"] == {"format": "png", "dpi": 100}
    width, height = struct.unpack(">II", (out / "a1.png").read_bytes()[16:24])
    assert (width, height) == (500, 300)
    assert plt.get_fignums() == []  # every figure closed


class SlowDecoder(OutputDecoder):
    """Takes 10 ms an utterance, so the search time is measurable."""

    def decode(self, output):
        import time

        time.sleep(0.01)
        return super().decode(output)


def test_timings_and_every_figure_at_its_rounding(tmp_path):
    from speechseq.metrics.wer import error_stats

    data = data_dir(tmp_path)
    refs = {"a1": "one two three", "a2": "one two three four", "b1": "three four"}
    (data.path / "text").write_text("".join(f"{u} {t}\n" for u, t in refs.items()))
    hyps = {"a1": "one two", "a2": "one", "b1": ""}
    outs = outputs({"a1": 2, "a2": 1, "b1": 0})
    [r] = search_grid(
        tmp_path, data, SlowDecoder(WeightedOptions()), outs, [(0.5, 0.0)], 1.5, 3.0, tmp_path / "d"
    )
    assert r["wer"] == 66.67 and r["speaker_wer"] == {"a": 57.14, "b": 100.0}  # 6/9, 4/7, 2/2
    assert r["wer_line"] == "%WER 66.67 [ 6 / 9, 0 ins, 6 del, 0 sub ]"
    assert r["cer"] == round(100 * error_stats(refs, hyps, unit="char").rate, 2)
    assert r["cer"] != round(100 * error_stats(refs, hyps).rate, 2)
    assert 1.53 <= r["decode_s"] < 3 and r["rtf"] == pytest.approx(r["decode_s"] / 3.0, abs=1e-3)
    assert 0.01 <= r["search_rtf"] < 0.5 and r["search_rtf"] == round(r["search_rtf"], 5)
    assert r["rtf"] > r["search_rtf"] + 0.49  # the network's 1.5 s over 3 s of audio
    # less than a millisecond of audio: the ratios stay finite
    [tiny] = search_grid(
        tmp_path,
        data,
        OutputDecoder(WeightedOptions()),
        outs,
        [(0.5, 0.0)],
        0.0,
        0.0,
        tmp_path / "e",
    )
    assert tiny["rtf"] > 1000 and tiny["audio_s"] == 0.0


def test_a_translation_decoder_without_lm_weight_goes_through_the_grid(tmp_path):
    data = data_dir(tmp_path)
    (data.path / "text.fr").write_text(
        "a1 un deux trois quatre\na2 cinq six sept huit\nb1 un deux trois quatre\n"
    )

    class Translator:
        scoring, reference, options = "bleu", "text.fr", PlainOptions()

        def decode(self, output):
            said = ["", "cinq six sept huit", "un deux trois quatre"]
            return SimpleNamespace(text=said[int((output[:, 0] == 1).sum())])

    outs = outputs({"a1": 2, "a2": 1, "b1": 2})
    [r] = search_grid(tmp_path, data, Translator(), outs, [None], 0.0, 1.0)
    out = tmp_path / "decode_test_beam4"
    assert r["out_dir"] == str(out) and r["bleu"] == 100.0 and r["reference"] == "text.fr"
    assert sorted(p.name for p in out.iterdir()) == [
        "bleu",
        "hyp.txt",
        "per_utt",
        "ref.txt",
        "results.json",
    ]
    assert (out / "hyp.txt").read_text().splitlines()[1] == "a2 cinq six sept huit"
    assert "wer" not in r and json.loads((out / "results.json").read_text())["bleu"] == 100.0


def test_decode_data_passes_its_arguments_through(tmp_path, monkeypatch):
    from speechseq.decode import run

    data = data_dir(tmp_path)
    feats = outputs({"a1": 2, "a2": 1, "b1": 0})
    ex = fake_experiment(monkeypatch, feats)
    ex.model = object()
    seen = {}
    monkeypatch.setattr(
        run,
        "load_experiment",
        lambda exp, device, quiet: seen.update(exp=exp, device=device, quiet=quiet) or ex,
    )
    real_decoder = ex.task.decoder
    ex.task.decoder = lambda o, m: seen.update(model=m) or real_decoder(o, m)
    ex.frontend.data_reader = lambda path: seen.update(path=path) or ArrayReader(feats)

    def options(task):
        seen["task"] = task
        return WeightedOptions()

    out = tmp_path / "one"
    [r] = decode_data(
        "EXP", data.path, options, word_bonuses=[2.0], device="cuda:3", quiet=True, out_dir=out
    )
    assert seen == {
        "exp": "EXP",
        "device": "cuda:3",
        "quiet": True,
        "model": ex.model,
        "path": data.path,
        "task": ex.task,
    }
    assert r["out_dir"] == str(out) and r["options"]["word_bonus"] == 2.0
    monkeypatch.chdir(tmp_path)  # the default out dir is relative: EXP/decode_...
    assert (
        decode_data("EXP", data.path, WeightedOptions())[0]["out_dir"]
        == "EXP/decode_test_lm0.5_wb0"
    )
    assert seen["device"] == "auto" and seen["quiet"] is False


def test_decode_data_plots_attention_where_asked(tmp_path, monkeypatch):
    data = data_dir(tmp_path)
    feats = outputs({"a1": 2, "a2": 1, "b1": 0})
    ex = fake_experiment(monkeypatch, feats)

    class Attending(OutputDecoder):
        def decode(self, output):
            d = super().decode(output)
            d.attention = np.ones((2, 4))
            return d

    ex.task.decoder = lambda o, m: Attending(o)
    [r] = decode_data(
        tmp_path / "exp", data.path, WeightedOptions(), plot_attention=tmp_path / "att"
    )
    assert r["attention_plots"] == 3 and len(list((tmp_path / "att").iterdir())) == 3


def test_decode_data_puts_a_grid_under_its_out_dir_and_times_the_network(tmp_path, monkeypatch):
    from speechseq.decode import run

    data = data_dir(tmp_path)
    feats = outputs({"a1": 2, "a2": 1, "b1": 0})
    fake_experiment(monkeypatch, feats)
    results = decode_data(
        "EXP", data.path, WeightedOptions(), lm_weights=[0.5, 1.0], out_dir=tmp_path / "g"
    )
    assert [r["out_dir"] for r in results] == [
        str(tmp_path / "g" / t) for t in ("lm0.5_wb0", "lm1_wb0")
    ]
    # a clock ticked by hand: the network 0.5 s (10.0 -> 10.5), the search 0.25 s
    ticks = iter([10.0, 10.5, 20.0, 20.25])
    monkeypatch.setattr(run.time, "perf_counter", lambda: next(ticks))
    [r] = decode_data("EXP", data.path, WeightedOptions(), out_dir=tmp_path / "one")
    assert r["decode_s"] == 0.75 and r["search_rtf"] == round(0.25 / r["audio_s"], 5)
