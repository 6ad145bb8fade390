"""Sentencepiece BPE models, trained in memory on transcripts.

CTC units train without bos/eos (a CTC model never emits them); sequence-to-sequence
targets train with them, so the model's piece ids are the target ids.
"""

from __future__ import annotations

import io

from speechseq.errors import SpeechseqError


def train_bpe(
    texts: list[str],
    bpe_size: int,
    size_option: str = "bpe_size",
    unk_id: int = 0,
    bos_id: int = -1,
    eos_id: int = -1,
    pad_id: int = -1,
    **piece_options: str,
) -> bytes:
    """The serialized model proto of a sentencepiece BPE model of about ``bpe_size`` pieces.

    ``bpe_size`` is an upper bound (``hard_vocab_limit=False``): a small text yields fewer.
    The ids of sentencepiece's special pieces (-1: none) default to those of CTC units: only
    ``<unk>``, id 0. ``piece_options`` are further sentencepiece options (``bos_piece="<sos>"``).
    ``size_option`` names the setting behind ``bpe_size`` for the error message (``ctc.bpe_size``).
    Normalization is off, so ``decode(encode(text)) == text`` for text of known characters
    with single spaces.
    """
    import sentencepiece as spm  # optional dependency, needed only for bpe

    sentences = [" ".join(t.split()) for t in texts if t.split()]
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type="bpe",
            vocab_size=bpe_size,
            hard_vocab_limit=False,
            character_coverage=1.0,
            normalization_rule_name="identity",  # decode(encode(text)) == text
            num_threads=1,
            shuffle_input_sentence=False,
            minloglevel=2,
            unk_id=unk_id,
            bos_id=bos_id,
            eos_id=eos_id,
            pad_id=pad_id,
            **piece_options,
        )
    except RuntimeError as e:
        if "Vocabulary size is smaller than required_chars" in str(e):
            meta = sum(1 for i in (unk_id, bos_id, eos_id, pad_id) if i >= 0)
            chars = len({c for t in sentences for c in t if not c.isspace()})
            names = "<unk>" if meta == 1 else f"{meta} special pieces"
            raise SpeechseqError(
                f"bpe_size {bpe_size} is smaller than the {chars} distinct characters of the training text "
                f"plus {names} and the word marker — set {size_option} to at least {chars + meta + 1}"
            ) from None
        raise SpeechseqError(f"sentencepiece could not train on the training text: {e}") from None
    return model.getvalue()
