"""Text for models: vocabularies with declared specials (vocab), CTC output units (characters,
phones through a lexicon, sentencepiece BPE) and sequence-to-sequence targets (target_vocab)."""
