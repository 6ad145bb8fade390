"""Placeholder: filled in by the features work."""


def register(app) -> None:
    pass
