"""lecturelib.data.variations: the MNIST variations of Larochelle et al. (2007), generated offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from lecturelib import data
from lecturelib.data import variations


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def splits():
    return {v: data.mnist_variation(v, 120, 80, size=28, seed=3) for v in data.VARIANTS}


def _resized_reference(size: int = 28) -> torch.Tensor:
    """The 1,797 digits upsampled pixel by pixel with an explicit bilinear formula (half-pixel
    centres, edge clamp), in float64, placed in the central 20/28 box."""
    digits = torch.as_tensor(load_digits().data, dtype=torch.float64).reshape(-1, 8, 8) / 16.0
    inner = round(20 * size / 28)
    coords = ((torch.arange(inner, dtype=torch.float64) + 0.5) * 8 / inner - 0.5).clamp(0, 7)
    low = coords.floor().long()
    high = (low + 1).clamp(max=7)
    frac = coords - low
    rows = digits[:, low] * (1 - frac)[None, :, None] + digits[:, high] * frac[None, :, None]  # (N, inner, 8)
    both = rows[:, :, low] * (1 - frac) + rows[:, :, high] * frac  # (N, inner, inner)
    out = torch.zeros(len(digits), 1, size, size, dtype=torch.float64)
    start = (size - inner) // 2
    out[:, 0, start:start + inner, start:start + inner] = both
    return out


def test_shapes_ranges_dtypes(splits):
    for variant, split in splits.items():
        assert split.X_train.shape == (120, 1, 28, 28) and split.X_test.shape == (80, 1, 28, 28), variant
        assert split.X_train.dtype == torch.float32 and split.y_train.dtype == torch.int64, variant
        for X in (split.X_train, split.X_test):
            assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0, variant
        assert set(split.y_train.tolist()) <= set(range(10)), variant
        assert variant in split.description


def test_other_size():
    split = data.mnist_variation("img+rot", 10, 5, size=16, seed=0)
    assert split.X_train.shape == (10, 1, 16, 16) and split.X_test.shape == (5, 1, 16, 16)


def test_deterministic_per_seed():
    for variant in ("rand", "img+rot"):
        first = data.mnist_variation(variant, 50, 30, seed=7)
        again = data.mnist_variation(variant, 50, 30, seed=7)
        other = data.mnist_variation(variant, 50, 30, seed=8)
        assert torch.equal(first.X_train, again.X_train) and torch.equal(first.X_test, again.X_test)
        assert torch.equal(first.y_train, again.y_train)
        assert not torch.equal(first.X_train, other.X_train)


def test_basic_is_the_resized_digits(splits):
    reference = _resized_reference().to(torch.float32)
    pool, labels = variations.digit_pool("digits", 28)
    torch.testing.assert_close(pool, reference, atol=1e-6, rtol=0)
    assert torch.equal(labels, torch.as_tensor(load_digits().target))
    train_rows, test_rows = variations.disjoint_indices(len(pool), 120, 80, seed=3)
    torch.testing.assert_close(splits["basic"].X_train, reference[train_rows], atol=1e-6, rtol=0)
    torch.testing.assert_close(splits["basic"].X_test, reference[test_rows], atol=1e-6, rtol=0)
    assert torch.equal(splits["basic"].y_train, labels[train_rows])


def test_the_digit_fills_the_central_box_only():
    pool, _ = variations.digit_pool("digits", 28)
    assert float(pool[..., :4, :].abs().max()) == 0 and float(pool[..., 24:, :].abs().max()) == 0
    assert float(pool[..., :, :4].abs().max()) == 0 and float(pool[..., :, 24:].abs().max()) == 0


def test_every_variant_shows_the_same_digits(splits):
    for variant in data.VARIANTS:
        assert torch.equal(splits[variant].y_train, splits["basic"].y_train)
        assert torch.equal(splits[variant].y_test, splits["basic"].y_test)


def test_rotation_by_zero_is_basic_and_by_a_quarter_turn_is_rot90(splits):
    basic = splits["basic"].X_train
    zeros = torch.zeros(len(basic), dtype=torch.float64)
    torch.testing.assert_close(data.variations.vary(basic, "rot", angles=zeros), basic, atol=1e-6, rtol=0)
    quarter = data.variations.vary(basic, "rot", angles=zeros + math.pi / 2)
    torch.testing.assert_close(quarter, torch.rot90(basic, 1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_rot_draws_angles_uniform_in_a_full_turn(splits):
    rotated, basic = splits["rot"].X_train, splits["basic"].X_train
    assert not torch.allclose(rotated, basic, atol=1e-3)
    torch.testing.assert_close(rotated.sum(dim=(1, 2, 3)), basic.sum(dim=(1, 2, 3)), rtol=0.1, atol=0.5)
    images = basic[:30]
    angles = np.random.default_rng([5, variations._ANGLE_STREAM]).uniform(0, 2 * math.pi, 30)
    assert angles.min() < 1.0 and angles.max() > 2 * math.pi - 1.0  # the whole circle, not +-15 degrees
    expected = variations.vary(images, "rot", angles=torch.from_numpy(angles))
    torch.testing.assert_close(variations.vary(images, "rot", seed=5), expected, atol=0, rtol=0)


def test_rand_only_changes_the_background(splits):
    clean, noisy = splits["basic"].X_train, splits["rand"].X_train
    background = clean == 0
    assert torch.equal(torch.maximum(noisy, clean), noisy)  # no digit pixel is darkened
    strokes = clean == 1
    assert bool(strokes.any()) and torch.equal(noisy[strokes], clean[strokes])
    values = noisy[background]
    assert abs(float(values.mean()) - 0.5) < 0.02 and abs(float(values.var()) - 1 / 12) < 0.01  # U[0, 1]
    assert not torch.equal(noisy[background], clean[background])


def test_composite_is_the_pixelwise_maximum():
    digit = torch.tensor([[[[0.0, 0.3, 1.0, 0.6]]]])
    back = torch.tensor([[[[0.5, 0.2, 0.7, 0.9]]]])
    assert torch.equal(variations.composite(digit, back), torch.tensor([[[[0.5, 0.3, 1.0, 0.9]]]]))


def test_img_backgrounds_are_textured_photograph_patches(splits):
    clean, over = splits["basic"].X_train, splits["img"].X_train
    assert torch.equal(torch.maximum(over, clean), over)
    backgrounds = variations.photo_backgrounds(200, 28, np.random.default_rng(0))
    assert float(backgrounds.flatten(1).std(dim=1).min()) >= variations._MIN_PATCH_STD
    photos = variations._grey_photographs(28)
    assert [p.shape for p in photos] == [(214, 320), (214, 320)]
    patch = backgrounds[0, 0].numpy()
    found = any(np.array_equal(photo[i:i + 28, j:j + 28], patch) for photo in photos
                for i in range(photo.shape[0] - 27) for j in range(photo.shape[1] - 27))
    assert found, "a background is a patch cut from one of the photographs"


def test_img_rot_is_rot_over_the_img_backgrounds():
    images, _ = variations.digit_pool("digits", 28)
    images = images[:40]
    rotated = variations.vary(images, "rot", seed=5)
    over_photo = variations.vary(images, "img", seed=5)
    both = variations.vary(images, "img+rot", seed=5)
    backgrounds = variations.photo_backgrounds(40, 28, np.random.default_rng([5, variations._BACKGROUND_STREAM]))
    torch.testing.assert_close(both, torch.maximum(rotated, backgrounds), atol=0, rtol=0)
    torch.testing.assert_close(over_photo, torch.maximum(images, backgrounds), atol=0, rtol=0)


def test_train_and_test_digits_are_disjoint():
    for n_train, n_test in ((100, 50), (1000, 797), (3000, 2000), (10_000, 50_000)):
        train, test = variations.disjoint_indices(1797, n_train, n_test, seed=1)
        assert len(train) == n_train and len(test) == n_test
        assert not set(train.tolist()) & set(test.tolist()), (n_train, n_test)
    train, test = variations.disjoint_indices(1797, 3000, 2000, seed=1)
    counts = np.bincount(train, minlength=1797)[np.unique(train)]
    assert counts.max() - counts.min() <= 1  # used floor or ceil times
    assert 0.2 * 1797 - 1 <= len(np.unique(test)) <= 0.5 * 1797 + 1
    train, test = variations.disjoint_indices(1797, 1000, 797, seed=1)
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))  # a permutation, no repeats


def test_disjoint_through_mnist_variation():
    split = data.mnist_variation("basic", 1500, 1500, seed=0)
    train = {tuple(x.flatten().tolist()) for x in split.X_train}
    test = {tuple(x.flatten().tolist()) for x in split.X_test}
    assert not train & test


def test_default_source_follows_the_scale(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURELIB_SCALE", "small")
    assert "8x8 digits" in data.mnist_variation("basic", 5, 5).description
    monkeypatch.setenv("LECTURELIB_SCALE", "full")
    monkeypatch.setenv("LECTURELIB_DATA", str(tmp_path))  # empty: real MNIST is read, so it is missing
    with pytest.raises(FileNotFoundError, match="MNIST"):
        data.mnist_variation("basic", 5, 5)
    assert "8x8 digits" in data.mnist_variation("basic", 5, 5, source="digits").description


def test_mnist_source_pools_and_resizes(monkeypatch):
    fake = data.DataSplit(torch.rand(30, 1, 28, 28), torch.arange(30) % 10, torch.rand(10, 1, 28, 28),
                          torch.arange(10) % 10, "MNIST")
    monkeypatch.setattr(variations, "load_mnist", lambda flatten: fake)
    images, labels = variations.digit_pool("mnist", 28)
    assert torch.equal(images, torch.cat([fake.X_train, fake.X_test])) and len(labels) == 40
    small, _ = variations.digit_pool("mnist", 14)
    torch.testing.assert_close(small, F.avg_pool2d(images, 2), atol=1e-6, rtol=0)
    split = data.mnist_variation("rot", 25, 15, source="mnist")
    assert split.X_train.shape == (25, 1, 28, 28) and "MNIST at 28x28" in split.description


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(variant="noise"), ValueError, "variant"),
    (dict(n_train=0), ValueError, "n_train"),
    (dict(n_test=2.5), TypeError, "n_test"),
    (dict(size=4), ValueError, "size"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(source="cifar"), ValueError, "source"),
    (dict(source=3), TypeError, "source"),
])
def test_validation(kwargs, error, match):
    arguments = dict(variant="basic", n_train=5, n_test=5) | kwargs
    with pytest.raises(error, match=match):
        data.mnist_variation(arguments.pop("variant"), arguments.pop("n_train"), arguments.pop("n_test"),
                             **arguments)


def test_vary_validation():
    images = torch.zeros(3, 1, 8, 8)
    with pytest.raises(ValueError, match="images"):
        variations.vary(torch.zeros(3, 2, 8, 8), "rot")
    with pytest.raises(ValueError, match="angles"):
        variations.vary(images, "rand", angles=torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="angles"):
        variations.vary(images, "rot", angles=torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="variant"):
        variations.vary(images, "flip")
