"""The CUDA path against the CPU (skipped, visibly, without a GPU)."""
import pytest
import torch

import els

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA path not checked")

KINDS = [("IS", {}), ("ES", {}), ("LS", {"patch_size": 5}), ("ELS", {"patch_size": 5, "padding": "zeros"}),
         ("ELS", {"patch_size": 5, "padding": "circular"}), ("ELS", {"patch_size": 31, "padding": "zeros"})]


@pytest.mark.parametrize("kind,kw", KINDS)
def test_cuda_matches_cpu_float64(kind, kw):
    """Same machine on CUDA (float32, large chunks) and on the CPU (float64): within 1e-4."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(200, 1, 32, 32, generator=g) * 2 - 1
    x = torch.randn(3, 1, 32, 32, generator=g)
    for t in (0.1, 0.5, 0.9):
        want = getattr(els, kind)(images.double(), **kw, device="cpu", dtype=torch.float64).denoise(x.double(), t)
        got = getattr(els, kind)(images, **kw, device="cuda").denoise(x.cuda(), t)
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu().double(), want, atol=1e-4, rtol=0)
