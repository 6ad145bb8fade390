"""Audio segment-to-vector autoencoders (Audio Word2Vec), segmenters, and embedding audio."""
