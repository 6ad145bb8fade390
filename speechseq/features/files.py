"""The files ``compute-feats`` writes into a data dir, committed together.

The visible layout stays Kaldi's: ``DATA/feats.scp``, ``DATA/utt2num_frames``,
``DATA/cmvn.ark``, ``DATA/conf/feats.yaml`` (and ``DATA/bad_utts`` after ``--skip-bad``)
are read by kaldiio and Kaldi's scripts as before. Each is a relative link into
``DATA/feats/current/``, and ``DATA/feats/current`` links to the generation
``DATA/feats/gen-NNNN/`` that holds the files and the arks they point to. A run writes a
new generation and switches ``current`` with one rename (:class:`speechseq.fileio.FileSet`),
so a killed or failed run leaves the previous features whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from speechseq.features.config import CONFIG_NAME
from speechseq.fileio import FileSet

FEATS_DIR = "feats"  # in the data dir: the generations and the current link
FEATS_NAMES = ("feats.scp", "utt2num_frames", "cmvn.ark", CONFIG_NAME, "bad_utts")
# arks and temporaries of the layout before generations (DATA/feats/raw_fbank.1.ark)
OLD_LAYOUT = ("raw_*.ark", ".raw_*.tmp")


def feature_files(data_dir: str | os.PathLike) -> FileSet:
    """The feature files of ``data_dir`` as one :class:`FileSet`."""
    return FileSet(Path(data_dir), FEATS_NAMES, FEATS_DIR, "features", OLD_LAYOUT)


def referenced_arks(paths: dict[str, Path]) -> Iterator[str]:
    """The ark files a committed feats.scp points into (``utt path:offset[range]`` lines)."""
    scp = paths.get("feats.scp")
    if scp is None:
        return
    seen = set()
    with open(scp, encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or parts[1].rstrip().endswith("|"):
                continue
            ark = parts[1].strip().split("[", 1)[0].rsplit(":", 1)[0]
            if ark not in seen:
                seen.add(ark)
                yield ark
