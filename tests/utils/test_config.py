"""skfisher's configuration: set_config, config_context and get_config."""

import threading

import pytest
import torch

import skfisher
from skfisher import config_context, get_config, set_config
from skfisher.fisher import EmbeddingRows


def test_the_defaults_are_documented_and_exported():
    config = get_config()
    doc = set_config.__doc__
    assert all(f"{key} :" in doc for key in config)
    assert skfisher.config_context is config_context and skfisher.get_config is get_config


def test_get_config_is_a_copy():
    get_config()["cpu_chunk_bytes"] = 1
    assert get_config()["cpu_chunk_bytes"] == 64 * 2**20


def test_config_context_restores_the_values():
    before = get_config()
    with config_context(cpu_chunk_bytes=1024, dense_ratio=4):
        assert get_config() == {**before, "cpu_chunk_bytes": 1024, "dense_ratio": 4}
        with config_context(dense_ratio=8):
            assert get_config()["dense_ratio"] == 8
            assert get_config()["cpu_chunk_bytes"] == 1024
        assert get_config()["dense_ratio"] == 4
    assert get_config() == before


def test_config_context_restores_the_values_on_an_exception():
    before = get_config()
    with pytest.raises(RuntimeError, match="inside"):
        with config_context(factored_output=False):
            assert get_config()["factored_output"] is False
            raise RuntimeError("inside")
    assert get_config() == before


def test_none_keeps_the_current_value():
    with config_context(pair_factor=3):
        with config_context(pair_factor=None):
            assert get_config()["pair_factor"] == 3


def test_set_config_changes_the_value_until_set_again():
    before = get_config()
    try:
        set_config(gather_elements=99)
        assert get_config() == {**before, "gather_elements": 99}
    finally:
        set_config(gather_elements=before["gather_elements"])
    assert get_config() == before


def test_unknown_keys_are_refused_by_name():
    before = get_config()
    with pytest.raises(
        TypeError, match=r"Unknown configuration key\(s\) \['chunk_bytes', 'dense'\]"
    ):
        with config_context(chunk_bytes=1, dense=2, dense_ratio=3):
            pass
    assert get_config() == before


def test_set_config_refuses_unknown_keys():
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch_size'"):
        set_config(batch_size=3)


def test_new_threads_start_from_the_defaults():
    seen = []
    with config_context(cpu_forward_batch_size=5):
        thread = threading.Thread(target=lambda: seen.append(get_config()))
        thread.start()
        thread.join()
    assert seen[0]["cpu_forward_batch_size"] == 128


def test_cpu_chunk_bytes_sizes_the_chunks_of_embedding_rows():
    data = torch.zeros(1000, 50, dtype=torch.float32)
    default = EmbeddingRows(data, "cpu", group=4)
    assert default.chunk_rows >= 1000  # 64 MiB holds every row
    with config_context(cpu_chunk_bytes=8 * 50 * 10):  # 10 float64 rows
        rows = EmbeddingRows(data, "cpu", group=4)
    assert rows.chunk_rows == 8  # in whole groups
    assert [len(chunk) for _, chunk in rows.chunks(torch.float64)][:2] == [8, 8]
    # read when the rows are made: the chunks keep their size after the block
    assert rows.chunk_rows == 8 and EmbeddingRows(data, "cpu").chunk_rows >= 1000
