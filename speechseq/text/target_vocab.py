"""Output tokens of sequence-to-sequence (attention) decoders: characters or sentencepiece BPE pieces.

Unlike CTC units there is no blank; the specials are fixed ids::

    <pad> 0   fills a batch of targets to one length (never a target to learn)
    <unk> 1   stands for every character the training text lacked
    <sos> 2   the decoder's first input
    <eos> 3   the decoder's last target; decoding stops there

Character targets write a space as ``<space>`` (4). BPE targets use the sentencepiece model's
own ids, trained with these four specials (bos/eos on, unlike CTC units), so piece id =
token id. Text is kept as written (no case folding); runs of white space become one space.

A target vocabulary is saved in a directory as ``tokens.txt`` (Kaldi token list, like
icefall's), ``tokens.json`` (kind and specials) and, for bpe, ``bpe.model``.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechseq.errors import SpeechseqError
from speechseq.text.bpe import train_bpe
from speechseq.text.vocab import BuiltOnVocabulary, Specials, Vocabulary, read_json

PAD, UNK, SOS, EOS = "<pad>", "<unk>", "<sos>", "<eos>"
SPACE = "<space>"  # the word separator of char targets
TARGET_SPECIALS = Specials(pad=0, unk=1, sos=2, eos=3)
TARGET_KINDS = ("char", "bpe")


class TargetVocab(BuiltOnVocabulary):
    """Text <-> token ids for a sequence-to-sequence decoder; ``vocab`` holds symbols and specials."""

    def __init__(self, kind: str, vocab: Vocabulary, sp_model: bytes | None = None):
        if kind not in TARGET_KINDS:
            raise SpeechseqError(
                f"target kind '{kind}' is not known — use one of {', '.join(TARGET_KINDS)}"
            )
        vocab.require("pad", "unk", "sos", "eos", source=f"the {kind} target vocabulary")
        self.kind = kind
        self.vocab = vocab
        self._sp_model = sp_model
        self._sp = None
        self._space = vocab.id_of(SPACE)
        if kind == "char" and self._space is None:
            raise SpeechseqError(
                f"char targets need the word separator '{SPACE}' in the vocabulary — rebuild it"
            )
        if kind == "bpe":
            import sentencepiece as spm  # optional dependency, needed only for bpe

            self._sp = spm.SentencePieceProcessor(model_proto=sp_model)
            pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
            sp_ids = (self._sp.pad_id(), self._sp.unk_id(), self._sp.bos_id(), self._sp.eos_id())
            s = vocab.specials
            if pieces != vocab.symbols or sp_ids != (s.pad, s.unk, s.sos, s.eos):
                raise SpeechseqError(
                    "the token list or its specials do not match the sentencepiece model — "
                    "restore tokens.txt, tokens.json and bpe.model from the same run"
                )

    @property
    def pad(self) -> int:
        return self.vocab.specials.pad

    @property
    def unk(self) -> int:
        return self.vocab.specials.unk

    @property
    def sos(self) -> int:
        return self.vocab.specials.sos

    @property
    def eos(self) -> int:
        return self.vocab.specials.eos

    def encode(self, text: str, add_sos_eos: bool = True) -> list[int]:
        """Token ids of ``text``, ``[sos, ..., eos]`` if ``add_sos_eos``; unknown characters become unk."""
        text = " ".join(text.split())
        if self.kind == "bpe":
            ids = self._sp.encode(text, out_type=int)
        else:
            ids = self.vocab.encode([SPACE if c == " " else c for c in text])
        return [self.sos, *ids, self.eos] if add_sos_eos else ids

    def decode(self, ids: list[int]) -> str:
        """Text of token ids; pad, sos and eos are dropped, unk is written ``<unk>``."""
        if self.kind == "bpe":
            skip = {self.pad, self.sos, self.eos}
            return self._sp.decode([int(i) for i in ids if int(i) not in skip])
        symbols = self.vocab.decode(ids, skip_specials=True)
        return " ".join("".join(" " if s == SPACE else s for s in symbols).split())

    # ---- files --------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``tokens.txt``, ``tokens.json`` and (bpe) ``bpe.model`` into ``directory``."""
        self._save_files(directory, "tokens", {"kind": self.kind})

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TargetVocab:
        """Read what :meth:`save` wrote into ``directory``."""
        d = Path(directory)
        meta_path = d / "tokens.json"
        if not meta_path.is_file():
            raise SpeechseqError(
                f"{meta_path}: missing — a target vocabulary directory holds tokens.txt and tokens.json "
                f"(and bpe.model for bpe); restore it from training"
            )
        kind = read_json(meta_path).get("kind")
        if kind not in TARGET_KINDS:
            raise SpeechseqError(
                f"{meta_path}: target kind {kind!r} is not known — use one of {', '.join(TARGET_KINDS)}"
            )
        vocab = Vocabulary.load(d, "tokens")
        if kind == "char":
            return cls("char", vocab)
        model = d / "bpe.model"
        if not model.is_file():
            raise SpeechseqError(
                f"{model}: missing — bpe targets need the sentencepiece model saved beside tokens.txt"
            )
        return cls("bpe", vocab, sp_model=model.read_bytes())


def build_target_vocab(texts: list[str], kind: str = "char", bpe_size: int = 200) -> TargetVocab:
    """A target vocabulary from the training texts: ``<pad> <unk> <sos> <eos>`` (ids 0-3), then
    ``<space>`` and the sorted characters (char) or sentencepiece's pieces (bpe).

    ``bpe_size``: sentencepiece vocabulary size, specials included (an upper bound:
    ``hard_vocab_limit=False``). Sentencepiece trains in memory; :meth:`TargetVocab.save`
    writes its model.
    """
    if kind not in TARGET_KINDS:
        raise SpeechseqError(
            f"target kind '{kind}' is not known — use one of {', '.join(TARGET_KINDS)}"
        )
    if not any(t.split() for t in texts):
        raise SpeechseqError(
            "no training text to build a target vocabulary from — the texts are empty"
        )
    if kind == "char":
        chars = sorted({c for t in texts for c in t if not c.isspace()})
        return TargetVocab("char", Vocabulary([PAD, UNK, SOS, EOS, SPACE, *chars], TARGET_SPECIALS))
    import sentencepiece as spm  # optional dependency, needed only for bpe

    proto = train_bpe(
        texts,
        bpe_size,
        pad_id=TARGET_SPECIALS.pad,
        unk_id=TARGET_SPECIALS.unk,
        bos_id=TARGET_SPECIALS.sos,
        eos_id=TARGET_SPECIALS.eos,
        pad_piece=PAD,
        unk_piece=UNK,
        bos_piece=SOS,
        eos_piece=EOS,
        unk_surface=UNK,  # decode writes <unk>, as char targets do (sentencepiece's default: ⁇)
    )
    sp = spm.SentencePieceProcessor(model_proto=proto)
    symbols = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    return TargetVocab("bpe", Vocabulary(symbols, TARGET_SPECIALS), sp_model=proto)
