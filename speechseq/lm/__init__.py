"""Language models for decoding: word n-grams with modified Kneser-Ney smoothing, ARPA files."""
