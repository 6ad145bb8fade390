"""Text for models: CTC output units (characters, phones through a lexicon, sentencepiece BPE)."""
