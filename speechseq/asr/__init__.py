"""Speech recognition: CTC models, decoding (greedy, prefix beam, lexicon + LM) and alignment."""
