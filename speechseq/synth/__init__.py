"""Offline corpus generator on espeak-ng: voices, perturbation, noise, word timings."""
