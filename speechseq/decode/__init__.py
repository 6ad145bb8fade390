"""Decoding strategies: CTC greedy and prefix beam search (with lexicon and LM)."""
