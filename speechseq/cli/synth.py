"""Placeholder: filled in by the synth work."""


def register(app) -> None:
    pass
