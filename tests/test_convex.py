"""lecturelib.convex: patches, the l1 and nuclear-norm projections, random Fourier features."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from lecturelib import convex


# ---------------------------------------------------------------- extract_patches

@pytest.mark.parametrize("size,stride", [(1, 1), (3, 1), (2, 2), (3, 2)])
def test_extract_patches_matches_an_explicit_loop(size, stride):
    images = torch.randn(2, 3, 7, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Z = convex.extract_patches(images, size, stride)
    rows = []
    for i in range(0, 7 - size + 1, stride):
        for j in range(0, 6 - size + 1, stride):
            rows.append(images[:, :, i:i + size, j:j + size].reshape(2, -1))
    expected = torch.stack(rows, dim=1)
    assert Z.shape == expected.shape == (2, len(rows), 3 * size * size)
    assert torch.equal(Z, expected)


def test_extract_patches_refuses_bad_arguments():
    images = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="images"):
        convex.extract_patches(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="images"):
        convex.extract_patches(torch.full((1, 1, 4, 4), float("nan")), 2)
    with pytest.raises(ValueError, match="size"):
        convex.extract_patches(images, 5)
    with pytest.raises(ValueError, match="size"):
        convex.extract_patches(images, 0)
    with pytest.raises(TypeError, match="stride"):
        convex.extract_patches(images, 2, stride=1.5)


# ---------------------------------------------------------------- projections

def _bisection_threshold(s, radius, steps=200):
    """Slow reference: theta with sum max(s - theta, 0) = radius, by bisection."""
    low, high = 0.0, float(s.max())
    for _ in range(steps):
        mid = (low + high) / 2
        if float(torch.clamp(s - mid, min=0).sum()) > radius:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _random_in_ball(shape, radius, generator):
    B = torch.randn(*shape, generator=generator, dtype=torch.float64)
    scale = torch.rand(1, generator=generator, dtype=torch.float64).item()
    return B * (scale * radius / torch.linalg.matrix_norm(B, ord="nuc"))


def test_l1_projection_agrees_with_bisection_and_lies_on_the_sphere():
    v = torch.rand(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    w = convex.project_l1_ball(v, 5.0)
    theta = _bisection_threshold(v, 5.0)
    assert torch.allclose(w, torch.clamp(v - theta, min=0), atol=1e-10, rtol=0)
    assert abs(float(w.sum()) - 5.0) < 1e-10 and bool((w >= 0).all())


def test_l1_projection_edge_cases():
    v = torch.tensor([0.5, 0.25], dtype=torch.float64)
    assert torch.equal(convex.project_l1_ball(v, 1.0), v)
    assert torch.equal(convex.project_l1_ball(v, 0.0), torch.zeros(2, dtype=torch.float64))
    signed = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64)
    assert torch.allclose(convex.project_l1_ball(signed, 2.0), torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="radius"):
        convex.project_l1_ball(v, -1.0)
    with pytest.raises(ValueError, match="radius"):
        convex.project_l1_ball(v, float("nan"))
    with pytest.raises(ValueError, match="v"):
        convex.project_l1_ball(torch.tensor([float("nan")]), 1.0)
    with pytest.raises(TypeError, match="v"):
        convex.project_l1_ball([1.0], 1.0)


def test_nuclear_projection_lies_in_the_ball_and_agrees_with_bisection():
    A = torch.randn(8, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2
    radius = 3.0
    P = convex.project_nuclear_ball(A, radius)
    assert float(torch.linalg.matrix_norm(P, ord="nuc")) <= radius + 1e-10
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)
    reference = (U * torch.clamp(s - _bisection_threshold(s, radius), min=0)) @ Vh
    assert torch.allclose(P, reference, atol=1e-10, rtol=0)


def test_nuclear_projection_leaves_a_point_inside_unchanged():
    A = _random_in_ball((6, 4), 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(convex.project_nuclear_ball(A, 2.0), A)


def test_nuclear_projection_optimality_condition():
    g = torch.Generator().manual_seed(4)
    A = torch.randn(7, 6, generator=g, dtype=torch.float64) * 3
    radius = 2.5
    P = convex.project_nuclear_ball(A, radius)
    for _ in range(50):
        B = _random_in_ball((7, 6), radius, g)
        assert float(((A - P) * (B - P)).sum()) <= 1e-10


def test_nuclear_projection_refuses_bad_arguments():
    with pytest.raises(ValueError, match="A"):
        convex.project_nuclear_ball(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="A"):
        convex.project_nuclear_ball(torch.full((2, 2), float("inf")), 1.0)
    with pytest.raises(TypeError, match="A"):
        convex.project_nuclear_ball(torch.zeros(2, 2, dtype=torch.int64), 1.0)
    with pytest.raises(ValueError, match="radius"):
        convex.project_nuclear_ball(torch.zeros(2, 2), float("nan"))
    with pytest.raises(TypeError, match="radius"):
        convex.project_nuclear_ball(torch.zeros(2, 2), "1")


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), radius=st.floats(0.0, 10.0),
       scale=st.floats(0.01, 10.0), seed=st.integers(0, 2**16))
def test_nuclear_projection_properties(rows, cols, radius, scale, seed):
    A = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    P = convex.project_nuclear_ball(A, radius)
    norm_A = float(torch.linalg.matrix_norm(A, ord="nuc"))
    norm_P = float(torch.linalg.matrix_norm(P, ord="nuc"))
    assert norm_P <= radius + 1e-9
    if norm_A > radius:  # the projection of an outside point lies on the sphere
        assert abs(norm_P - radius) <= 1e-9 * max(1.0, radius)
    else:
        assert torch.equal(P, A)
    # idempotent, and never farther from A than the zero matrix (which is in the ball)
    assert torch.allclose(convex.project_nuclear_ball(P, radius), P, atol=1e-9)
    assert float((A - P).norm()) <= float(A.norm()) + 1e-12


# ---------------------------------------------------------------- random Fourier features

def _mean_kernel_error(n_features, x, bandwidth, seed=0):
    features = convex.RandomFourierFeatures(x.shape[1], n_features, bandwidth, seed=seed, dtype=torch.float64)
    phi = features(x)
    return float((phi @ phi.T - convex.rbf_kernel(x, x, bandwidth)).abs().mean())


def test_random_features_approach_the_kernel():
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    bandwidth = math.sqrt(5.0)
    small = sum(_mean_kernel_error(64, x, bandwidth, seed) for seed in range(3)) / 3
    large = sum(_mean_kernel_error(4096, x, bandwidth, seed) for seed in range(3)) / 3
    # the error of a D-term Monte Carlo average falls like 1/sqrt(D): 8 times from 64 to 4096
    assert large < small / 4, (small, large)
    assert large < 0.03, large


def test_random_features_shape_seed_and_dtype():
    features = convex.RandomFourierFeatures(3, 16, 1.0, seed=7)
    x = torch.randn(2, 4, 3)
    assert features(x).shape == (2, 4, 16)
    again = convex.RandomFourierFeatures(3, 16, 1.0, seed=7)
    assert torch.equal(features(x), again(x))
    assert not torch.equal(features(x), convex.RandomFourierFeatures(3, 16, 1.0, seed=8)(x))
    assert features(x.double()).dtype == torch.float64
    assert list(features.parameters()) == []


def test_random_features_refuse_bad_arguments():
    with pytest.raises(ValueError, match="bandwidth"):
        convex.RandomFourierFeatures(3, 16, float("nan"))
    with pytest.raises(ValueError, match="bandwidth"):
        convex.RandomFourierFeatures(3, 16, 0.0)
    with pytest.raises(ValueError, match="n_features"):
        convex.RandomFourierFeatures(3, 0, 1.0)
    with pytest.raises(TypeError, match="in_features"):
        convex.RandomFourierFeatures(3.0, 16, 1.0)
    with pytest.raises(ValueError, match="seed"):
        convex.RandomFourierFeatures(3, 16, 1.0, seed=-1)
    with pytest.raises(TypeError, match="dtype"):
        convex.RandomFourierFeatures(3, 16, 1.0, dtype=torch.int64)
    features = convex.RandomFourierFeatures(3, 16, 1.0)
    with pytest.raises(ValueError, match="x"):
        features(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="x"):
        features(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="bandwidth"):
        convex.rbf_kernel(torch.zeros(2, 3), torch.zeros(2, 3), -1.0)
