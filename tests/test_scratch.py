"""Per-thread scratch buffers: right values, one buffer reused per thread, none shared between threads."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from agile.scratch import float32_rows, read_float16_rows


def test_float32_rows_converts_into_one_reused_buffer_per_thread():
    rng = np.random.default_rng(0)
    big, small = rng.standard_normal((300, 16)).astype(np.float16), rng.standard_normal((7, 16)).astype(np.float16)
    first = float32_rows(big)
    np.testing.assert_array_equal(first.numpy(), big.astype(np.float32))
    pointer = first.data_ptr()
    with torch.inference_mode():  # the buffer is usable in and out of inference mode
        second = float32_rows(small)
    assert second.shape == (7, 16) and second.data_ptr() == pointer
    np.testing.assert_array_equal(second.numpy(), small.astype(np.float32))
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: float32_rows(big).data_ptr()).result() != pointer


def test_read_float16_rows_reads_the_rows_asked_for_and_names_a_short_file(tmp_path):
    rows = np.arange(40 * 8, dtype=np.float16).reshape(40, 8)
    path = tmp_path / "part.f16"
    rows.tofile(path)
    np.testing.assert_array_equal(read_float16_rows(path, 5, 10, 8), rows[5:15])
    with pytest.raises(OSError, match="part.f16"):
        read_float16_rows(path, 35, 10, 8)
