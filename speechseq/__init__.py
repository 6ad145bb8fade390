"""speechseq: a command-line toolkit for speech and audio sequence tasks."""

__version__ = "0.1.0"
