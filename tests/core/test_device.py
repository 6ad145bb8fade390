"""--device auto (cuda, then mps, then cpu, and it says which) and the autocast dtype rules."""

import pytest
import torch

from speechseq.core import device as device_mod
from speechseq.core.device import autocast_dtype, resolve_device
from speechseq.errors import UsageError


def _fake(monkeypatch, cuda: bool, mps: bool, bf16: bool = True) -> None:
    monkeypatch.setattr(device_mod.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(device_mod.torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(device_mod.torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    "cuda, mps, chosen",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_picks_cuda_then_mps_then_cpu_and_says_which(monkeypatch, capsys, cuda, mps, chosen):
    _fake(monkeypatch, cuda, mps)
    assert resolve_device("auto").type == chosen
    assert capsys.readouterr().err == f"device: auto chose {chosen}\n"
    assert resolve_device("auto", quiet=True).type == chosen
    assert capsys.readouterr().err == ""


def test_asking_for_a_missing_accelerator_is_a_usage_error(monkeypatch):
    _fake(monkeypatch, cuda=False, mps=False)
    with pytest.raises(UsageError, match="--device cuda:1: CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(UsageError, match="--device mps: MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16", "fp16"])
def test_cpu_always_runs_in_fp32(monkeypatch, precision):
    _fake(monkeypatch, cuda=True, mps=False)
    assert autocast_dtype(torch.device("cpu"), precision) is None


@pytest.mark.parametrize(
    "bf16, precision, dtype",
    [
        (True, "auto", torch.bfloat16),  # a GPU with bf16: bf16
        (False, "auto", torch.float16),  # an older GPU: fp16 (with the grad scaler)
        (False, "bf16", torch.bfloat16),  # asked for: given
        (True, "fp16", torch.float16),
        (True, "fp32", None),
    ],
)
def test_autocast_dtype_on_a_faked_cuda_device(monkeypatch, bf16, precision, dtype):
    _fake(monkeypatch, cuda=True, mps=False, bf16=bf16)
    assert autocast_dtype(torch.device("cuda"), precision) == dtype


def test_mps_auto_is_fp16_and_an_unknown_precision_is_refused(monkeypatch):
    _fake(monkeypatch, cuda=False, mps=True, bf16=True)
    assert autocast_dtype(torch.device("mps"), "auto") == torch.float16
    with pytest.raises(UsageError, match="precision fp8: use auto, fp32, bf16 or fp16"):
        autocast_dtype(torch.device("cuda"), "fp8")


def test_defaults_named_devices_and_a_bad_spec(monkeypatch, capsys):
    _fake(monkeypatch, cuda=False, mps=False, bf16=True)
    assert resolve_device().type == "cpu"  # the default is auto, which says so
    assert capsys.readouterr().err == "device: auto chose cpu\n"
    assert resolve_device("cpu") == torch.device("cpu")
    _fake(monkeypatch, cuda=True, mps=True, bf16=True)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("mps") == torch.device("mps")
    with pytest.raises(UsageError) as e:
        resolve_device("tpu7")
    assert str(e.value) == "--device tpu7: not a device — use auto, cpu, cuda, cuda:N or mps"
    assert autocast_dtype(torch.device("cuda")) == torch.bfloat16  # the default is auto
