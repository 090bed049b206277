"""The streaming engine against an explicit softmax, and its memory bound."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from els.engine import chunk_length, softmax_average


def chunked(keys, values, n):
    return [(keys[i:i + n], values[i:i + n]) for i in range(0, len(keys), n)]


def augmented(q, k, v):
    """Append the engine's columns: a reserved query column, ones for keys and values."""
    return (torch.cat([q, torch.zeros(len(q), 1, dtype=q.dtype)], 1),
            torch.cat([k, torch.ones(len(k), 1, dtype=k.dtype)], 1),
            torch.cat([v, torch.ones(len(v), 1, dtype=v.dtype)], 1))


@pytest.mark.parametrize("n", [1, 3, 64, 1000])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_equals_explicit_softmax(n, scale):
    """Any chunking, and logits spread over hundreds of units (overflow recomputation), must
    give softmax(q k^T) v exactly."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(7, 5), (200, 5), (200, 3)])
    q = q * scale
    want = torch.softmax(q @ k.T, 1) @ v
    qa, ka, va = augmented(q, k, v)
    np.testing.assert_allclose(softmax_average(qa, chunked(ka, va, n)), want, rtol=1e-10, atol=1e-12)


def test_later_chunk_far_closer_than_first():
    """A later chunk whose logits exceed the first chunk's by far more than exp's range (the
    recomputation path) must still be exact, in float32 too."""
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.0, 0.0], [500.0, 0.0], [499.0, 0.0]])
    v = torch.tensor([[1.0], [2.0], [3.0]])
    want = torch.softmax(q.double() @ k.double().T, 1) @ v.double()
    qa, ka, va = augmented(q, k, v)
    np.testing.assert_allclose(softmax_average(qa, chunked(ka, va, 1)).double(), want, rtol=1e-6)


def test_empty_dictionary():
    with pytest.raises(ValueError, match="empty"):
        softmax_average(torch.zeros(2, 3), [])


def test_chunk_length():
    assert chunk_length(1024, 4 * 2**20, 4) == 1024
    with pytest.raises(ValueError, match="chunk_bytes"):
        chunk_length(1, 0, 4)


_PEAK = """
import resource, sys, torch, els
torch.set_num_threads(1)
n = int(sys.argv[1])
images = torch.rand(n, 1, 32, 32) * 2 - 1
m = els.ELS(images, patch_size=9, padding="circular", dedup=False, cache_bytes=0, chunk_bytes=2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m.denoise(torch.randn(1, 1, 32, 32), 0.5)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_peak_memory_does_not_grow_with_the_training_set():
    """With dictionaries gathered per chunk, the extra memory of a denoise call must not grow
    with N: 20x more images (a 9x9 patch dictionary of 165 MB vs 8 MB) may not add more than
    30 MB."""
    peaks = [int(subprocess.run([sys.executable, "-c", _PEAK, str(n)], capture_output=True, text=True,
                                check=True).stdout) for n in (30, 600)]
    assert peaks[1] - peaks[0] < 30 * 2**20, peaks
