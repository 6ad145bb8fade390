"""Placeholder: filled in by the data work."""


def register(app) -> None:
    pass
