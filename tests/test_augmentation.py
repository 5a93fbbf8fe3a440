"""lecturelib.data.augmentation: shifts against slicing, rotations against torch.rot90 and a
hand-written bilinear rotation, noise against its standard deviation, seeding, and augment's shapes."""

import math

import pytest
import torch

from lecturelib import data
from lecturelib.data import augmentation as aug


@pytest.fixture
def images():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("layout", ["flat", "hw", "chw"])
def test_every_layout_keeps_its_shape_and_dtype(images, layout):
    x = {"flat": images.reshape(6, 64), "hw": images[:, 0], "chw": images}[layout]
    for out in (aug.shift(x, 2, _generator()), aug.rotate(x, 20.0, _generator()), aug.add_noise(x, 0.1, _generator()),
                aug.augment(x, max_shift=1, max_degrees=10.0, noise_std=0.05)):
        assert out.shape == x.shape and out.dtype == x.dtype
    # the flat and image layouts describe the same pictures: the maps agree on them
    flat = aug.rotate(images.reshape(6, 64), 20.0, _generator(3))
    assert torch.equal(flat.reshape(6, 1, 8, 8), aug.rotate(images, 20.0, _generator(3)))


def test_zero_shift_and_zero_rotation_are_the_identity(images):
    assert torch.equal(aug.shift(images, 0, _generator()), images)
    assert torch.equal(aug.shift_by(images, 0, 0), images)
    assert torch.equal(aug.rotate(images, 0.0, _generator()), images)
    assert torch.equal(aug.rotate_by(images, 0.0), images)
    assert torch.equal(aug.add_noise(images, 0.0, _generator()), images)
    assert torch.equal(aug.augment(images), images)
    double = images.double()
    torch.testing.assert_close(aug.rotate_by(double, 0.0), double, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 1), (-2, 0), (0, -3), (2, -1), (-1, 3)])
def test_shift_by_moves_pixels_and_fills_with_zeros(images, dx, dy):
    out = aug.shift_by(images, dx, dy)
    expected = torch.zeros_like(images)
    for i in range(8):
        for j in range(8):
            if 0 <= i - dy < 8 and 0 <= j - dx < 8:
                expected[..., i, j] = images[..., i - dy, j - dx]
    assert torch.equal(out, expected)


def test_a_shift_past_the_frame_leaves_background_and_shifts_are_per_image(images):
    assert torch.equal(aug.shift_by(images, 8, 0), torch.zeros_like(images))
    dx = torch.tensor([0, 1, -1, 0, 2, 0])
    dy = torch.tensor([0, 0, 0, 1, 0, -2])
    out = aug.shift_by(images, dx, dy)
    for i in range(6):
        assert torch.equal(out[i], aug.shift_by(images[i:i + 1], int(dx[i]), int(dy[i]))[0])


def test_random_shifts_stay_within_max_shift_and_cover_it():
    x = torch.zeros(400, 1, 8, 8)
    x[:, 0, 4, 4] = 1.0  # one lit pixel: where it lands is the shift
    out = aug.shift(x, 2, _generator(1))
    rows, cols = torch.nonzero(out[:, 0], as_tuple=True)[1:]
    assert len(rows) == 400  # no pixel lost within +-2 of the centre
    assert set((rows - 4).tolist()) == set(range(-2, 3)) and set((cols - 4).tolist()) == set(range(-2, 3))


@pytest.mark.parametrize("degrees, k", [(90, 1), (-90, -1), (180, 2), (270, 3), (450, 1)])
def test_rotation_by_right_angles_equals_rot90(images, degrees, k):
    assert torch.equal(aug.rotate_by(images, degrees), torch.rot90(images, k, dims=(-2, -1)))
    flat = images.reshape(6, 64)
    assert torch.equal(aug.rotate_by(flat, degrees), torch.rot90(images, k, dims=(-2, -1)).reshape(6, 64))


def _bilinear_rotation(image, degrees):
    """Counter-clockwise rotation as displayed, written out in float64: output pixel (i, j) reads the
    input at c + R(-alpha) (p - c) in (x right, y up) axes, bilinear, 0 outside."""
    h, w = image.shape
    a = math.radians(degrees)
    out = torch.zeros(h, w, dtype=torch.float64)
    ci, cj = (h - 1) / 2, (w - 1) / 2
    for i in range(h):
        for j in range(w):
            x, y = j - cj, ci - i  # y up
            xs, ys = math.cos(a) * x + math.sin(a) * y, -math.sin(a) * x + math.cos(a) * y
            si, sj = ci - ys, cj + xs
            i0, j0 = math.floor(si), math.floor(sj)
            total = 0.0
            for di, dj in ((0, 0), (0, 1), (1, 0), (1, 1)):
                ii, jj = i0 + di, j0 + dj
                weight = (1 - abs(si - ii)) * (1 - abs(sj - jj))
                if 0 <= ii < h and 0 <= jj < w:
                    total += weight * float(image[ii, jj])
            out[i, j] = total
    return out


@pytest.mark.parametrize("degrees", [7.5, -13.0, 30.0, 45.0])
def test_small_rotations_equal_bilinear_interpolation_written_out(images, degrees):
    x = images.double()
    out = aug.rotate_by(x, degrees)
    for n in range(2):
        torch.testing.assert_close(out[n, 0], _bilinear_rotation(x[n, 0], degrees), rtol=0, atol=1e-12)


def test_random_rotations_are_seeded_and_bounded(images):
    a = aug.rotate(images, 15.0, _generator(4))
    assert torch.equal(a, aug.rotate(images, 15.0, _generator(4)))
    assert not torch.equal(a, aug.rotate(images, 15.0, _generator(5)))
    u = torch.rand(6, generator=_generator(4), dtype=torch.float64)  # the angles rotate draws
    assert torch.equal(a, aug.rotate_by(images, (2 * u - 1) * 15.0))


@pytest.mark.parametrize("std", [0.05, 0.3])
def test_noise_has_the_asked_standard_deviation_and_mean_zero(std):
    x = torch.rand(200, 64, generator=_generator(2))
    noise = aug.add_noise(x, std, _generator(3)) - x
    n = noise.numel()
    measured = noise.std().item()
    assert abs(measured - std) < 5 * std / math.sqrt(2 * n)  # the sample std's standard error
    assert abs(noise.mean().item()) < 5 * std / math.sqrt(n)
    assert torch.equal(aug.add_noise(x, std, _generator(3)), aug.add_noise(x, std, _generator(3)))


def test_augment_a_split_touches_only_the_training_inputs():
    split = data.digits().subset(100, 40)
    out = aug.augment(split, max_shift=1, max_degrees=10.0, noise_std=0.05, copies=3, include_original=True, seed=7)
    assert out.X_train.shape == (400, 64) and out.y_train.shape == (400,)
    assert torch.equal(out.X_train[:100], split.X_train)
    assert torch.equal(out.y_train, split.y_train.repeat(4))
    assert torch.equal(out.X_test, split.X_test) and torch.equal(out.y_test, split.y_test)
    again = aug.augment(split, max_shift=1, max_degrees=10.0, noise_std=0.05, copies=3, include_original=True, seed=7)
    assert torch.equal(again.X_train, out.X_train)
    assert not torch.equal(out.X_train[100:200], out.X_train[200:300])  # each copy drawn afresh
    plain = aug.augment(split, max_shift=1, seed=7)
    assert plain.X_train.shape == split.X_train.shape and torch.equal(plain.y_train, split.y_train)


def test_augment_applies_rotation_then_shift_then_noise_from_one_seeded_stream(images):
    out = aug.augment(images, max_shift=1, max_degrees=10.0, noise_std=0.1, seed=5)
    generator = _generator(5)
    expected = aug.add_noise(aug.shift(aug.rotate(images, 10.0, generator), 1, generator), 0.1, generator)
    assert torch.equal(out, expected)


def test_bad_arguments_are_named(images):
    cases = [
        (lambda: aug.shift(images, -1), ValueError, "max_shift"),
        (lambda: aug.shift(images, 1.5), TypeError, "max_shift"),
        (lambda: aug.shift(images, 1, generator=3), TypeError, "generator"),
        (lambda: aug.rotate(images, float("nan")), ValueError, "max_degrees"),
        (lambda: aug.rotate(images, 200.0), ValueError, "max_degrees"),
        (lambda: aug.rotate_by(images, float("inf")), ValueError, "degrees"),
        (lambda: aug.shift_by(images, torch.ones(6), 0), TypeError, "dx"),
        (lambda: aug.shift_by(images, torch.ones(5, dtype=torch.int64), 0), ValueError, "dx"),
        (lambda: aug.add_noise(images, -0.1), ValueError, "std"),
        (lambda: aug.add_noise(images, float("nan")), ValueError, "std"),
        (lambda: aug.shift(torch.rand(4, 60), 1), ValueError, "square"),
        (lambda: aug.shift(torch.rand(4), 1), ValueError, "images"),
        (lambda: aug.rotate(torch.ones(2, 64, dtype=torch.int64), 1.0), TypeError, "floating"),
        (lambda: aug.augment([1, 2]), TypeError, "data"),
        (lambda: aug.augment(images, copies=0), ValueError, "copies"),
        (lambda: aug.augment(images, noise_std=-1.0), ValueError, "noise_std"),
        (lambda: aug.augment(images, seed=-1), ValueError, "seed"),
        (lambda: aug.augment(images, include_original=1), TypeError, "include_original"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()
