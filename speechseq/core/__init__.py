"""The shared model core: device choice, encoders, batching, the Trainer, checkpoints."""
