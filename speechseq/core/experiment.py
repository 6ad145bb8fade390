"""The experiment directory ``exp/<model>/``: resolved config, the command that made it,
feature settings. Loading a trained one back is :func:`speechseq.core.loading.load_experiment`
(this module stays free of torch, so the CLI can resolve configs without importing it)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, TypeVar

from speechseq.core.config import from_dict, read_yaml, sections_of, to_dict, write_yaml
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

T = TypeVar("T")


def resolve_config(
    cls: type[T], path: str | os.PathLike | None, sections: dict[str, dict[str, Any]] | None = None
) -> T:
    """Defaults of ``cls``, then the YAML file at ``path``, then ``sections`` (command-line options, ``None`` = not given).

    A value outside its field's range is a usage error naming the key, the value and the range."""
    data = read_yaml(path) if path else {}
    for section, values in (sections or {}).items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                raise SpeechseqError(f"{path}: section '{section}' must be a mapping")
            data[section].update(given)
    fix = f"fix it in {path} or on the command line" if path else "fix it on the command line"
    return from_dict(cls, data, str(path) if path else "config", fix=fix)


def write_header(exp: Path, cfg, extra: dict[str, Any], argv: list[str] | None = None) -> None:
    """Write ``config.yaml`` (resolved config plus ``extra``, e.g. data paths) and ``cmd.sh``."""
    exp.mkdir(parents=True, exist_ok=True)
    write_yaml(exp / "config.yaml", {**to_dict(cfg), **extra})
    argv = argv if argv is not None else ["speechseq", *sys.argv[1:]]
    with atomic_write(exp / "cmd.sh") as f:
        f.write("#!/usr/bin/env bash\n# the command that produced this directory\n")
        f.write(f"cd {shlex.quote(os.getcwd())}\n{shlex.join(argv)}\n")


def copy_feature_config(data_dir: Path, exp: Path) -> None:
    """Keep the data's feature settings beside the model so raw audio can be featurised the same way."""
    src = Path(data_dir) / "conf" / "feats.yaml"
    if src.is_file():
        shutil.copyfile(src, exp / "feats.yaml")


def load_exp_config(cls: type[T], exp: Path) -> tuple[T, dict[str, Any]]:
    """(config dataclass, the whole YAML mapping) from ``exp/config.yaml``."""
    path = Path(exp) / "config.yaml"
    if not path.is_file():
        raise SpeechseqError(
            f"{exp}: no config.yaml — not a speechseq model directory (train one with speechseq train-*)"
        )
    data = read_yaml(path)
    return sections_of(cls, data, str(path)), data
