"""Bad input gets a clear error that names the problem (issue: core, 'Bad input')."""
import pytest
import torch

import els

IMAGES = torch.rand(4, 1, 6, 6) * 2 - 1
LABELS = torch.tensor([0, 0, 1, 1])
X = torch.randn(2, 1, 6, 6)


@pytest.mark.parametrize("size,error", [(4, ValueError), (0, ValueError), (-3, ValueError),
                                        (3.0, TypeError), (True, TypeError)])
def test_bad_patch_size(size, error):
    with pytest.raises(error, match="patch_size"):
        els.ELS(IMAGES, patch_size=size)
    with pytest.raises(error, match="patch_size"):
        els.LS(IMAGES).denoise(X, 0.5, patch_size=size)


@pytest.mark.parametrize("x", [torch.randn(2, 3, 6, 6), torch.randn(2, 1, 6, 7), torch.randn(1, 6, 6)])
def test_shape_mismatch(x):
    with pytest.raises(ValueError, match="shape"):
        els.IS(IMAGES).denoise(x, 0.5)


def test_dtype_mismatch_is_not_silently_cast():
    with pytest.raises(TypeError, match="dtype"):
        els.IS(IMAGES).denoise(X.double(), 0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs(bad):
    x = X.clone()
    x[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        els.IS(IMAGES).denoise(x, 0.5)
    with pytest.raises(ValueError, match="NaN or inf"):
        els.IS(torch.where(IMAGES > 0, bad, IMAGES))


@pytest.mark.parametrize("t", [-0.1, 1.5, float("nan"), torch.tensor([0.5, 0.5, 0.5])])
def test_bad_time(t):
    with pytest.raises(ValueError, match="t must"):
        els.IS(IMAGES).denoise(X, t)


def test_eps_at_t_zero():
    with pytest.raises(ValueError, match="t = 0"):
        els.IS(IMAGES).eps(X, 0.0)


def test_label_with_no_images():
    with pytest.raises(ValueError, match="no training images with label 7"):
        els.IS(IMAGES, LABELS).denoise(X, 0.5, label=7)


def test_label_without_labels():
    with pytest.raises(ValueError, match="without labels"):
        els.IS(IMAGES).denoise(X, 0.5, label=0)


@pytest.mark.parametrize("label", [torch.tensor([0, 1, 1]), torch.tensor([0.0, 1.0])])
def test_bad_label_tensor(label):
    with pytest.raises(ValueError, match="label"):
        els.IS(IMAGES, LABELS).denoise(X, 0.5, label=label)


def test_empty_training_set():
    with pytest.raises(ValueError, match="empty"):
        els.IS(IMAGES[:0])


def test_integer_images():
    with pytest.raises(TypeError, match="float"):
        els.IS((IMAGES > 0).to(torch.uint8))


def test_labels_wrong_length():
    with pytest.raises(ValueError, match="labels"):
        els.IS(IMAGES, LABELS[:3])


def test_unknown_padding_and_train_patches():
    with pytest.raises(ValueError, match="padding"):
        els.ELS(IMAGES, padding="reflect")
    with pytest.raises(ValueError, match="train_patches"):
        els.ELS(IMAGES, padding="circular", train_patches="all")


def test_valid_patches_larger_than_image():
    with pytest.raises(ValueError, match="train_patches='wrap'"):
        els.ELS(IMAGES, patch_size=7, padding="circular").denoise(X, 0.5)


def test_patch_size_on_a_machine_without_one():
    with pytest.raises(ValueError, match="no patch size"):
        els.IS(IMAGES).denoise(X, 0.5, patch_size=3)


def test_missing_artifact_says_how_to_get_it(tmp_path, monkeypatch):
    from els.studies import artifacts

    monkeypatch.setenv("ELS_ARTIFACTS", str(tmp_path))
    assert artifacts.root() == tmp_path
    assert artifacts.path("results", "x", required=False) == tmp_path / "results" / "x"
    with pytest.raises(FileNotFoundError, match="python -m els reproduce"):
        artifacts.path("results", "mnist_resnet_zeros")
    monkeypatch.delenv("ELS_ARTIFACTS")
    assert artifacts.path("models", "mnist_resnet_zeros", "model.pt").exists()  # committed
