"""Evaluation metrics: WER/CER, BLEU, retrieval (MAP, P@N)."""
