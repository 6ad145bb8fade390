"""The experiment directory ``exp/<model>/``: resolved config, the command that made it,
feature settings. Loading a trained one back is :func:`speechseq.core.loading.load_experiment`
(this module stays free of torch, so the CLI can resolve configs without importing it)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from speechseq.core.config import from_dict, read_yaml, sections_of, to_dict, write_yaml
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write

if TYPE_CHECKING:
    from speechseq.features.config import FeatureConfig

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


def copy_feature_config(data_dir: Path, exp: Path, computed: FeatureConfig | None = None) -> None:
    """Keep the data's feature settings beside the model so raw audio can be featurised the
    same way: ``computed`` (features computed on the fly with them), else the data dir's
    conf/feats.yaml."""
    if computed is not None:
        # deferred: speechseq.features imports torch, and this module stays free of it
        from speechseq.features.config import save_feature_config

        save_feature_config(exp / "feats.yaml", computed)
        return
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


UNFINISHED = "UNFINISHED"  # in an exp dir whose run stopped after a checkpoint and before final.pt


def _holds_a_run(exp: Path) -> bool:
    ckpts = exp / "checkpoints"
    return (exp / "final.pt").is_file() or (ckpts.is_dir() and any(ckpts.iterdir()))


@contextlib.contextmanager
def experiment_run(
    exp: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    argv: list[str] | None = None,
) -> Iterator[Path]:
    """An experiment directory belongs to one run.

    - A directory that already holds a run (checkpoints or final.pt) is continued only with
      ``resume``, replaced only with ``overwrite`` (its old contents are removed first), and
      otherwise refused with one line saying which.
    - A run that fails before its first checkpoint leaves nothing behind (a directory it
      created is removed; in one that existed, what it wrote is removed, and a resumed run's
      directory stays as it was).
    - A run that fails later leaves the directory marked ``UNFINISHED``, with the command that
      resumes it.
    """
    exp = Path(exp)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other — give one of them")
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 owns the directory
        yield exp
        return
    if _holds_a_run(exp) and not resume:
        if not overwrite:
            what = (
                "final.pt" if (exp / "final.pt").is_file() else "checkpoints of an unfinished run"
            )
            raise SpeechseqError(
                f"{exp}: holds another run ({what}) — add --resume to continue it, --overwrite to "
                f"replace it, or give another --out"
            )
        for name in os.listdir(exp):
            path = exp / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    existed = exp.exists()
    before = set(os.listdir(exp)) if existed else set()
    marker = exp / "checkpoints" / "latest"
    marked = marker.stat().st_mtime_ns if marker.is_file() else None
    exp.mkdir(parents=True, exist_ok=True)
    (exp / UNFINISHED).unlink(missing_ok=True)
    try:
        yield exp
    except BaseException as e:
        if marker.is_file() and marker.stat().st_mtime_ns != marked:  # this run checkpointed
            argv = argv if argv is not None else ["speechseq", *sys.argv[1:]]
            again = shlex.join(
                [a for a in argv if a not in ("--resume", "--overwrite")] + ["--resume"]
            )
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            with atomic_write(exp / UNFINISHED) as f:
                f.write(
                    f"this run stopped before final.pt ({reason})\ncontinue it with:\n{again}\n"
                )
        elif not existed:
            shutil.rmtree(exp, ignore_errors=True)
        else:
            for name in set(os.listdir(exp)) - before:
                path = exp / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(
                    missing_ok=True
                )
        raise
