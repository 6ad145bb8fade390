"""The ``speechseq`` command line: thin Typer wrappers over library calls."""
