"""The streaming engine against an explicit softmax, and its memory bound."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from els.engine import OnlineSoftmax, chunk_length, softmax_average


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
    np.testing.assert_allclose(softmax_average(qa, chunked(ka, va, n)).result().T, want, rtol=1e-10, atol=1e-12)


def test_later_chunk_far_closer_than_first():
    """A later chunk whose logits exceed the first chunk's by far more than exp's range (the
    recomputation path) must still be exact, in float32 too."""
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.0, 0.0], [500.0, 0.0], [499.0, 0.0]])
    v = torch.tensor([[1.0], [2.0], [3.0]])
    want = torch.softmax(q.double() @ k.double().T, 1) @ v.double()
    qa, ka, va = augmented(q, k, v)
    np.testing.assert_allclose(softmax_average(qa, chunked(ka, va, 1)).result().T.double(), want, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 7, 200])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_top_entry_and_its_weight(n, scale):
    """With top=True the engine must also return each query's argmax entry (over all chunks)
    and its softmax weight, whatever the chunking and the spread of the logits."""
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(7, 5), (200, 5), (200, 3)])
    q = q * scale
    weights = torch.softmax(q @ k.T, 1)
    qa, ka, va = augmented(q, k, v)
    acc = softmax_average(qa, chunked(ka, va, n), top=True)
    assert acc.top_index.tolist() == weights.argmax(1).tolist()
    np.testing.assert_allclose(acc.top_weight(), weights.max(1).values, rtol=1e-9)


def test_online_softmax_merges_partial_results_with_any_shift():
    """Partial results computed with arbitrary per-query shifts (and explicit logits along any
    axis) must merge into the exact softmax average, with values on any axis."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 30, 5, generator=g, dtype=torch.float64) * 20  # (B, n, P): entries on axis 1
    values = torch.randn(30, 2, 5, generator=g, dtype=torch.float64)          # (n, V, P)
    want = torch.einsum("bnp,nvp->bvp", torch.softmax(logits, 1), values)
    acc = OnlineSoftmax(value_dim=1, top=True)
    for start, stop in [(0, 3), (3, 17), (17, 30)]:
        part, vals = logits[:, start:stop], values[start:stop]
        if start == 3:  # a shift far from the chunk's maximum: exact all the same
            shift = part.amax(1) - 5.0
            w = torch.exp(part - shift[:, None])
            acc.add(w.sum(1), torch.einsum("bnp,nvp->bvp", w, vals), shift, stop - start,
                    top=part.max(1))
        else:
            acc.add_logits(part.clone(), 1, lambda w: torch.einsum("bnp,nvp->bvp", w, vals))
    np.testing.assert_allclose(acc.result(), want, rtol=1e-12)
    np.testing.assert_allclose(acc.lse, torch.logsumexp(logits, 1), rtol=1e-12)
    assert torch.equal(acc.top_index, logits.argmax(1))


def test_empty_dictionary():
    with pytest.raises(ValueError, match="empty"):
        softmax_average(torch.zeros(2, 3), [])
    with pytest.raises(ValueError, match="empty"):
        OnlineSoftmax().result()


def test_chunk_length():
    assert chunk_length(1024, 4 * 2**20, 4) == 1024
    assert chunk_length(1, 4 * 2**20, 4, width=28) == 4 * 2**20 // (4 * 28)  # keys bound it too
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
