"""Speech translation: attention encoder-decoders (speech or text in), training, translating, the cascade."""
