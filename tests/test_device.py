"""The one device-and-memory module: device names, the model's device, profiling opt-in."""

import pytest
import torch
from torch import nn

from skfisher import _device, _net, _storage, profile_memory
from skfisher._device import auto_device, model_device, resolve_device

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
    assert _net.resolve_device is auto_device
    assert _storage.resolve_device is resolve_device
    assert _storage.free_memory is _device.free_memory


def test_model_device():
    assert model_device(nn.Linear(2, 3)) == CPU


def test_profile_memory_is_scoped_and_restored_on_error():
    assert not _device._PROFILING.get()
    with pytest.raises(RuntimeError), profile_memory():
        assert _device._PROFILING.get()
        raise RuntimeError
    assert not _device._PROFILING.get()
