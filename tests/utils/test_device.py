"""The one device-and-memory module: device names, the model's device, profiling opt-in."""

import pytest
import torch
from torch import nn

from skfisher import profile_memory
from skfisher.fisher import _storage
from skfisher.nets import _classifier as _net
from skfisher.utils import _device
from skfisher.utils._device import auto_device, check_torch_device, model_device, resolve_device

CPU = torch.device("cpu")


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == resolve_device("auto").type == expected
    if torch.cuda.is_available():
        assert resolve_device("cuda").index == torch.cuda.current_device()


def test_auto_device_resolves_only_auto_for_skorch():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto_device("auto") == expected
    assert auto_device(None) is None  # skorch: leave the module where it is
    assert auto_device("cpu") == "cpu" and auto_device(CPU) is CPU


def test_one_definition_behind_the_old_names():
    assert _net.auto_device is auto_device
    assert _storage.resolve_device is resolve_device
    assert _storage.free_memory is _device.free_memory


@pytest.mark.parametrize("device", [None, "auto", "cpu", CPU])
def test_check_torch_device_passes_devices_that_exist(device):
    assert check_torch_device(device) is None


@pytest.mark.parametrize(
    "device, n_gpus, message",
    [
        ("gpu", 0, "device='gpu' is not a torch device; use 'auto', 'cpu' or 'cuda'."),
        (
            "cuda",
            0,
            "device='cuda' but CUDA is not available here (no GPU or no driver); "
            "use device='auto' or 'cpu'.",
        ),
        ("cuda:1", 1, "device='cuda:1' but only 1 CUDA device(s) are available."),
    ],
)
def test_check_torch_device_names_the_device(monkeypatch, device, n_gpus, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n_gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus)
    with pytest.raises(ValueError) as info:
        check_torch_device(device)
    assert str(info.value) == message


def test_the_net_checks_its_device_with_the_device_module():
    assert _net.check_torch_device is check_torch_device


def test_model_device():
    assert model_device(nn.Linear(2, 3)) == CPU


def test_profile_memory_is_scoped_and_restored_on_error():
    assert not _device._PROFILING.get()
    with pytest.raises(RuntimeError), profile_memory():
        assert _device._PROFILING.get()
        raise RuntimeError
    assert not _device._PROFILING.get()
