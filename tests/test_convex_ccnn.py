"""lecturelib.convex: patch preprocessing, pooled kernel features and the CCNN solver, against
explicit loops, autograd, closed forms and the optimality condition of the convex program."""

import math

import pytest
import torch
from torch.nn import functional as F

from lecturelib import convex


def _images(n=12, channels=1, size=8, seed=0, dtype=torch.float64):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _plain_features(size=8, patch=3, pool=1, channels=1, **kwargs):
    return convex.PatchKernelFeatures(channels, size, patch_size=patch, pool=pool, kernel="linear",
                                      normalize=False, whiten=False, standardize=False, **kwargs)


# ---------------------------------------------------------------- preprocessing

def test_normalize_patches_centres_and_scales_each_row():
    patches = torch.randn(5, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    patches[0] = 3.0                                         # a flat patch
    out = convex.normalize_patches(patches, offset=0.1)
    centred = patches - patches.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.norm(dim=1), norms / (norms + 0.1), atol=1e-12, rtol=0)
    assert torch.equal(out[0], torch.zeros(9, dtype=torch.float64))


def test_zca_whitening_makes_the_covariance_s_over_s_plus_epsilon():
    g = torch.Generator().manual_seed(2)
    patches = torch.randn(4000, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g, dtype=torch.float64)
    M = convex.zca_whitening_matrix(patches, epsilon=1e-3)
    torch.testing.assert_close(M, M.T)
    centred = patches - patches.mean(dim=0)
    covariance = centred.T @ centred / len(patches)
    s = torch.linalg.eigvalsh(covariance)
    whitened = torch.linalg.eigvalsh(M @ covariance @ M)
    torch.testing.assert_close(whitened, torch.sort(s / (s + 1e-3)).values, atol=1e-10, rtol=0)


# ---------------------------------------------------------------- features

def test_linear_features_without_pooling_are_the_patch_matrix():
    images = _images()
    features = _plain_features()
    assert torch.equal(features(images), convex.extract_patches(images, 3))


def test_pooling_averages_the_features_of_each_window():
    images = _images(n=3, size=9)
    features = _plain_features(size=9, patch=3, pool=2)      # 7 x 7 patch grid -> 3 x 3 pooled
    Z = convex.extract_patches(images, 3).reshape(3, 7, 7, 9)
    expected = torch.stack([Z[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(dim=(1, 2))
                            for i in range(3) for j in range(3)], dim=1)
    torch.testing.assert_close(features(images), expected, atol=1e-14, rtol=0)
    assert features.n_positions == 9 and features.pooled_grid == (3, 3)


def test_standardized_features_have_zero_mean_and_unit_mean_square_norm_on_the_fitted_images():
    images = _images(n=20)
    features = convex.PatchKernelFeatures(1, 8, patch_size=3, pool=2, n_features=40, seed=3).fit(images, sample=20)
    rows = features(images).reshape(-1, 40)
    torch.testing.assert_close(rows.mean(dim=0), torch.zeros(40, dtype=rows.dtype), atol=1e-5, rtol=0)
    assert abs(float(rows.pow(2).sum(dim=1).mean()) - 1.0) < 1e-4


def test_features_refuse_unfitted_use_and_wrong_images():
    features = convex.PatchKernelFeatures(1, 8, patch_size=3)
    with pytest.raises(RuntimeError, match="fit"):
        features(_images())
    fitted = _plain_features()
    with pytest.raises(ValueError, match="images"):
        fitted(_images(size=9))
    with pytest.raises(ValueError, match="patch_size"):
        convex.PatchKernelFeatures(1, 4, patch_size=5)
    with pytest.raises(ValueError, match="pool"):
        convex.PatchKernelFeatures(1, 8, patch_size=5, pool=5)
    with pytest.raises(ValueError, match="kernel"):
        convex.PatchKernelFeatures(1, 8, kernel="poly")


def test_streamed_chunks_equal_one_pass_and_the_memory_estimate_counts_every_entry():
    images = _images(n=10)
    features = _plain_features(pool=2)
    streamed = torch.cat([Z for _, Z in features.stream(images, chunk_size=3)])
    torch.testing.assert_close(streamed, features(images), atol=1e-14, rtol=0)
    assert features.feature_bytes(1000) == 1000 * 9 * 9 * 4


# ---------------------------------------------------------------- the trace form

def test_a_linear_two_layer_cnn_is_the_trace_form_with_a_rank_r_matrix():
    """H(x)_k = sum_j sum_p alpha_{k,j,p} w_j^T z_p(x) = tr(Z(x)^T A_k), A_k = sum_j alpha_{k,j} w_j^T."""
    g = torch.Generator().manual_seed(4)
    images, r, K = _images(n=6), 2, 3
    filters = torch.randn(r, 1, 3, 3, generator=g, dtype=torch.float64)            # w_j
    alpha = torch.randn(K, r, 36, generator=g, dtype=torch.float64)                # alpha_{k,j,p}
    responses = F.conv2d(images, filters).flatten(2)                               # (N, r, P)
    cnn = torch.einsum("kjp,njp->nk", alpha, responses)
    A = convex.linear_cnn_weight(filters, alpha)                                   # (K, P, m)
    Z = _plain_features()(images)
    torch.testing.assert_close(convex.ccnn_scores(A, Z), cnn, atol=1e-12, rtol=0)
    assert int(torch.linalg.matrix_rank(A.reshape(K * 36, 9))) <= r


def test_linear_cnn_weight_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="readout"):
        convex.linear_cnn_weight(torch.zeros(2, 1, 3, 3), torch.zeros(3, 4, 36))


def test_loss_and_gradient_match_autograd():
    g = torch.Generator().manual_seed(5)
    Z = torch.randn(7, 4, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    loss, gradient = convex.ccnn_loss_and_gradient(weight.detach(), Z, labels)
    reference = F.cross_entropy(torch.einsum("nqm,kqm->nk", Z, weight), labels, reduction="sum")
    reference.backward()
    torch.testing.assert_close(loss, reference.detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(gradient, weight.grad, atol=1e-12, rtol=0)


# ---------------------------------------------------------------- the solver

def _problem(n=40, seed=6):
    images = _images(n=n, seed=seed)
    labels = (images[:, 0, :4].mean(dim=(1, 2)) > images[:, 0, 4:].mean(dim=(1, 2))).long()
    labels = labels + (images[:, 0, :, :4].mean(dim=(1, 2)) > 0.5).long()          # 3 classes
    return _plain_features(pool=2), images, labels


def _whitened_problem():
    """The same data through whitened, standardised patches: a well-conditioned program
    (gradient Lipschitz constant ~0.7), on which projected gradient with lr = 1 converges fast."""
    _, images, labels = _problem()
    features = convex.PatchKernelFeatures(1, 8, patch_size=3, pool=2, kernel="linear").fit(images)
    return features, images, labels


def test_full_batch_projected_gradient_decreases_the_objective_and_reaches_a_fixed_point():
    features, images, labels = _whitened_problem()
    fit = convex.fit_ccnn(features, images, labels, n_classes=3, radius=2.0, lr=1.0, epochs=500,
                          batch_size=None, chunk_size=16, in_memory=True, dtype=torch.float64)
    objective = fit.objective
    assert len(objective) == 501 and abs(objective[0] - math.log(3.0)) < 1e-12
    assert all(b <= a + 1e-12 for a, b in zip(objective, objective[1:]))
    assert float(fit.singular_values().sum()) <= 2.0 + 1e-9
    # optimality of the constrained minimiser: A = Pi_R(A - lr grad L(A))
    _, gradient = convex.ccnn_loss_and_gradient(fit.weight, features(images), labels)
    step = convex.project_weight(fit.weight - 1.0 * gradient / len(labels), 2.0)
    assert float((step - fit.weight).norm()) < 1e-6


def test_random_starts_reach_the_same_objective():
    features, images, labels = _whitened_problem()
    ends = []
    for seed in range(3):
        init = torch.randn(3, 9, 9, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        fit = convex.fit_ccnn(features, images, labels, n_classes=3, radius=2.0, lr=1.0, epochs=500,
                              batch_size=None, init=init, in_memory=True, dtype=torch.float64)
        ends.append(fit.objective[-1])
    assert max(ends) - min(ends) < 1e-9


def test_streamed_and_in_memory_sgd_give_the_same_iterates_and_the_average_stays_in_the_ball():
    features, images, labels = _problem()
    runs = [convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.5, lr=0.3, epochs=3, batch_size=5,
                            chunk_size=16, seed=7, in_memory=kept, dtype=torch.float64) for kept in (False, True)]
    assert torch.equal(runs[0].weight, runs[1].weight)
    assert runs[0].steps == 3 * (4 + 4 + 2)                  # chunks of 16, 16, 8 in batches of 5
    assert float(runs[0].singular_values().sum()) <= 1.5 + 1e-9
    other_seed = convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.5, lr=0.3, epochs=3,
                                 batch_size=5, chunk_size=16, seed=8, dtype=torch.float64)
    assert not torch.equal(other_seed.weight, runs[0].weight)


def test_chunk_passes_train_longer_on_the_same_features_streamed_or_kept():
    features, images, labels = _problem()
    runs = [convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.5, lr=0.3, epochs=2, batch_size=5,
                            chunk_size=16, chunk_passes=3, seed=7, in_memory=kept, dtype=torch.float64)
            for kept in (False, True)]
    assert torch.equal(runs[0].weight, runs[1].weight)
    assert runs[0].steps == 2 * 3 * (4 + 4 + 2)
    single = convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.5, lr=0.3, epochs=2, batch_size=5,
                             chunk_size=16, seed=7, dtype=torch.float64)
    assert single.steps == 2 * 10 and not torch.equal(single.weight, runs[0].weight)
    with pytest.raises(ValueError, match="chunk_passes"):
        convex.fit_ccnn(features, images, labels, n_classes=3, chunk_passes=0)


def test_sgd_average_is_the_mean_of_the_projected_tail_iterates():
    """With one chunk, one batch per epoch and projection every step, the iterates are those of
    projected gradient descent, and the returned weight is the mean of the last half of them."""
    features, images, labels = _problem(n=10)
    sgd = convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.0, lr=0.4, epochs=6, batch_size=10,
                          chunk_size=10, average_from=0.5, dtype=torch.float64)
    Z, weight, iterates = features(images), torch.zeros(3, 9, 9, dtype=torch.float64), []
    for _ in range(6):
        _, gradient = convex.ccnn_loss_and_gradient(weight, Z, labels)
        weight = convex.project_weight(weight - 0.4 * gradient / 10, 1.0)
        iterates.append(weight)
    torch.testing.assert_close(sgd.weight, torch.stack(iterates[3:]).mean(dim=0), atol=1e-12, rtol=0)


def test_filters_span_the_row_space_and_next_layer_input_applies_them():
    features, images, labels = _problem(n=8)
    g = torch.Generator().manual_seed(9)
    low_rank = torch.randn(27, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 9, generator=g, dtype=torch.float64)
    fit = convex.CCNNFit(features=features, weight=low_rank.reshape(3, 9, 9), radius=100.0)
    V = convex.ccnn_filters(fit, rank=2)
    torch.testing.assert_close(V @ V.T, torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(low_rank @ V.T @ V, low_rank, atol=1e-10, rtol=0)   # rows lie in span(V)
    H = convex.next_layer_input(features, V, images, chunk_size=3)
    Z = features(images)
    assert H.shape == (8, 2, 3, 3)
    for j in range(2):
        torch.testing.assert_close(H[:, j].reshape(8, 9), Z @ V[j], atol=1e-12, rtol=0)


def test_fit_refuses_bad_arguments():
    features, images, labels = _problem(n=8)
    with pytest.raises(ValueError, match="labels"):
        convex.fit_ccnn(features, images, labels + 5, n_classes=3)
    with pytest.raises(ValueError, match="radius"):
        convex.fit_ccnn(features, images, labels, n_classes=3, radius=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        convex.fit_ccnn(features, images, labels, n_classes=3, batch_size=64, chunk_size=32)
    with pytest.raises(ValueError, match="init"):
        convex.fit_ccnn(features, images, labels, n_classes=3, init=torch.zeros(2, 9, 9))
    with pytest.raises(TypeError, match="features"):
        convex.fit_ccnn("features", images, labels)
    with pytest.raises(ValueError, match="rank"):
        convex.ccnn_filters(convex.CCNNFit(features, torch.zeros(3, 9, 9), 1.0), rank=10)


@pytest.mark.parametrize("normalize,whiten", [(True, True), (False, True), (False, False), (True, False)])
def test_random_features_by_convolution_equal_the_patch_matrix_route(normalize, whiten):
    """The convolution route (no patch matrix) against unfold -> normalise -> whiten -> RFF -> pool."""
    images = _images(n=6, channels=2, size=9, seed=11)
    images[0, :, :5, :5] = 0.25                                   # a flat patch: norm 0
    features = convex.PatchKernelFeatures(2, 9, patch_size=3, pool=2, n_features=16, bandwidth=0.7,
                                          normalize=normalize, whiten=whiten, standardize=False, seed=5)
    features = features.fit(images).double()
    patches = features._patch_features(images)                                 # (N, P, d)
    phi = features.random_features(patches)                                    # (N, P, m)
    grid = phi.transpose(1, 2).reshape(6, 16, 7, 7)
    expected = F.avg_pool2d(grid, 2).flatten(2).transpose(1, 2)
    torch.testing.assert_close(features(images), expected, atol=1e-10, rtol=0)


def test_fitting_by_chunks_gives_the_whitening_of_all_sampled_patches():
    images = _images(n=300, seed=12)                        # more than one chunk of 250 images
    features = convex.PatchKernelFeatures(1, 8, patch_size=3, kernel="linear", standardize=False).fit(images, sample=300)
    patches = convex.normalize_patches(convex.extract_patches(images, 3).reshape(-1, 9))
    torch.testing.assert_close(features.whitening.double(), convex.zca_whitening_matrix(patches), atol=1e-5, rtol=0)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_a_progress_bar_changes_nothing(batch_size):
    features, images, labels = _problem(n=20)
    runs = [convex.fit_ccnn(features, images, labels, n_classes=3, radius=1.0, lr=0.2, epochs=3, batch_size=batch_size,
                            chunk_size=10, progress=shown, dtype=torch.float64) for shown in (False, True)]
    assert torch.equal(runs[0].weight, runs[1].weight) and runs[0].objective == runs[1].objective
    assert runs[0].steps == (3 if batch_size is None else 3 * 4)
