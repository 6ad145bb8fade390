"""Kaldi data directories, audio I/O, CTM and segments."""

from speechseq.data.kaldi_dir import DataDir, read_table, write_table

__all__ = ["DataDir", "read_table", "write_table"]
