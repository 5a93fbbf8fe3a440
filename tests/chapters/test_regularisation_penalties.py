"""The regularisation chapter, penalties part: its exercise checkers (right answers pass, each planted
mistake fails with its hint, misuse raises TypeError) and its runs (lecturelib.experiments.regularisation
.penalties) against closed forms, torch.optim and plain lecturelib.train.fit."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib.exercises import regularisation as checkers  # noqa: E402


# ------------------------------------------------------------------ check_inverted_dropout

def dropout_right(x, keep, generator):
    mask = torch.rand(x.shape, generator=generator) < keep
    return x * mask / keep


def dropout_right_numpy(x, keep, generator):
    mask = (torch.rand(x.shape, generator=generator) < keep).numpy()
    return x.numpy() * mask.astype(np.float64) * (1.0 / keep)


def dropout_unscaled(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < keep)


def dropout_swapped(x, keep, generator):
    drop = 1 - keep
    return x * (torch.rand(x.shape, generator=generator) < drop) / drop


def dropout_swapped_mask(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) >= keep) / keep


def dropout_scales_dropped(x, keep, generator):
    mask = torch.rand(x.shape, generator=generator) < keep
    return torch.where(mask, x, x / keep)


def dropout_vanilla_scaling(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < keep) * keep


def dropout_feature_mask(x, keep, generator):
    return x * (torch.rand(x.shape[-1], generator=generator) < keep) / keep


def dropout_row_mask(x, keep, generator):
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return x * (torch.rand(shape, generator=generator) < keep) / keep


def dropout_global_rng(x, keep, generator):
    return x * (torch.rand(x.shape) < keep) / keep


def dropout_float64_draws(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator, dtype=torch.float64) < keep) / keep


def dropout_noise(x, keep, generator):
    return x * (1 + 0.1 * torch.randn(x.shape, generator=generator))


def dropout_half(x, keep, generator):
    return x * (torch.rand(x.shape, generator=generator) < 0.5) / keep


def dropout_same_mask(x, keep, generator):
    # a fixed mask, redrawn from a private generator on every call: right per call, but the mean is not x
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < keep
    return x * mask / keep


def test_check_inverted_dropout_passes_right_answers():
    for answer in (dropout_right, dropout_right_numpy):
        result = checkers.check_inverted_dropout(answer)
        assert result.passed, result.message
        assert repr(result).startswith("Correct:")


@pytest.mark.parametrize("answer, words", [
    (dropout_unscaled, "not scaled"),
    (dropout_swapped, "swapped"),
    (dropout_swapped_mask, "swapped"),
    (dropout_scales_dropped, "applied to the dropped units"),
    (dropout_vanilla_scaling, "multiplied by keep"),
    (dropout_feature_mask, "one value per feature"),
    (dropout_row_mask, "one value per row"),
    (dropout_global_rng, "right statistics"),
    (dropout_float64_draws, "right statistics"),
    (dropout_noise, "either 0"),
    (dropout_half, "share of units kept"),
])
def test_check_inverted_dropout_names_each_mistake(answer, words):
    result = checkers.check_inverted_dropout(answer)
    assert not result.passed
    assert words in result.message, result.message
    assert repr(result).startswith("Not yet:")


def test_check_inverted_dropout_reports_crashes_none_and_shapes():
    assert "ZeroDivisionError" in checkers.check_inverted_dropout(lambda x, keep, g: 1 / 0).message
    assert "forget to `return`" in checkers.check_inverted_dropout(lambda x, keep, g: None).message
    assert "return a tensor" in checkers.check_inverted_dropout(lambda x, keep, g: "x").message
    assert "shape of x" in checkers.check_inverted_dropout(lambda x, keep, g: dropout_right(x, keep, g).sum()).message
    # one mask reused on every call passes each single case but fails the mean over many masks
    # (the first case seeds its generator with 0, so the private seed-0 draw is the prescribed one there)
    message = checkers.check_inverted_dropout(dropout_same_mask).message
    assert "test case 2" in message or "mean" in message


def test_check_inverted_dropout_needs_a_fresh_mask_per_call():
    calls = []

    def cached(x, keep, generator):  # right on the four cases, then reuses its first mask
        if len(calls) < 4:
            calls.append(dropout_right(x, keep, generator))
            return calls[-1]
        if len(calls) == 4:
            calls.append(torch.rand(x.shape, generator=generator) < keep)
        return x * calls[4] / keep

    result = checkers.check_inverted_dropout(cached)
    assert not result.passed and "new mask on every call" in result.message


def test_check_inverted_dropout_rejects_misuse():
    with pytest.raises(TypeError, match="dropout_fn must be a function"):
        checkers.check_inverted_dropout(0.5)


# ------------------------------------------------------------------ check_l1_proximal_step

def prox_right(w, threshold):
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0)


def prox_right_in_place(w, threshold):
    # a right answer written in place, with numpy output
    small = w.abs() <= threshold
    w.sub_(threshold * torch.sign(w))
    w[small] = 0.0
    return w.numpy()


def prox_subgradient(w, threshold):
    return w - threshold * torch.sign(w)


def prox_one_sided(w, threshold):
    return torch.clamp(w - threshold, min=0)


def prox_no_sign(w, threshold):
    return torch.clamp(w.abs() - threshold, min=0)


def prox_hard(w, threshold):
    return w * (w.abs() > threshold)


def prox_grows(w, threshold):
    return w + threshold * torch.sign(w)


def prox_flipped(w, threshold):
    return torch.sign(w) * torch.clamp(threshold - w.abs(), min=0)


def prox_half(w, threshold):
    return torch.sign(w) * torch.clamp(w.abs() - threshold / 2, min=0)


def test_check_l1_proximal_step_passes_right_answers():
    for answer in (prox_right, prox_right_in_place):
        result = checkers.check_l1_proximal_step(answer)
        assert result.passed, result.message


@pytest.mark.parametrize("answer, words", [
    (prox_subgradient, "sign-subgradient step"),
    (prox_one_sided, "zeroes every negative weight"),
    (prox_no_sign, "sign of w is lost"),
    (prox_hard, "hard thresholding"),
    (prox_grows, "wrong sign"),
    (prox_flipped, "wrong sign"),
    (prox_half, "soft-thresholding: sign(w)"),
])
def test_check_l1_proximal_step_names_each_mistake(answer, words):
    result = checkers.check_l1_proximal_step(answer)
    assert not result.passed
    assert words in result.message, result.message


def test_check_l1_proximal_step_reports_crashes_and_none():
    assert "ValueError" in checkers.check_l1_proximal_step(lambda w, t: int("x")).message
    assert "forget to `return`" in checkers.check_l1_proximal_step(lambda w, t: None).message
    assert "return a tensor" in checkers.check_l1_proximal_step(lambda w, t: object()).message
    with pytest.raises(TypeError, match="prox_fn must be a function"):
        checkers.check_l1_proximal_step("soft threshold")


# ------------------------------------------------------------------ the runs: L2 and L1

import copy  # noqa: E402
import functools  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from lecturelib import data, models, params, train  # noqa: E402
from lecturelib.experiments.regularisation import penalties as experiments  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return data.digits()


@pytest.fixture(scope="module")
def small_digits(digits):
    return digits.subset(n_train=120, n_test=60)


def test_l2_against_decay_equal_and_able_to_fail(small_digits, monkeypatch):
    assert experiments.l2_against_decay(small_digits, lam=0.1, lr=0.1, steps=5) < 1e-12
    # a run whose decay factor is wrong (1 - lam instead of 1 - lam * lr) must show a gap
    real_mul = torch.Tensor.mul_

    def wrong_mul(self, factor):
        return real_mul(self, 1 - 0.1 if factor == 1 - 0.1 * 0.1 else factor)

    monkeypatch.setattr(torch.Tensor, "mul_", wrong_mul)
    assert experiments.l2_against_decay(small_digits, lam=0.1, lr=0.1, steps=5) > 1e-3


def _one_step(mode, lam, lr=0.1, seed=0):
    torch.manual_seed(seed)
    model = models.MLP([4, 6, 3], "relu")
    reference = copy.deepcopy(model)
    X, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    optimizer = experiments.L1SGD(model.parameters(), lr=lr, lam=lam, mode=mode)
    F.cross_entropy(model(X), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return model, reference, grads


@pytest.mark.parametrize("lam", [0.0, 0.05, 2.0])
def test_l1sgd_proximal_is_softshrink_after_the_sgd_step(lam):
    model, reference, grads = _one_step("proximal", lam)
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads):
        stepped = p0.detach() - 0.1 * g
        expected = F.softshrink(stepped, 0.1 * lam) if p.dim() >= 2 and lam > 0 else stepped
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-7)


def test_l1sgd_subgradient_is_the_sign_update():
    model, reference, grads = _one_step("subgradient", 0.05)
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads):
        penalty = 0.05 * torch.sign(p0.detach()) if p.dim() >= 2 else 0.0
        torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * (g + penalty), rtol=0, atol=1e-7)


def test_l1sgd_at_lam_zero_equals_torch_sgd_through_fit(small_digits):
    runs = []
    for make in (functools.partial(experiments.L1SGD, lr=0.1, lam=0.0), functools.partial(torch.optim.SGD, lr=0.1)):
        torch.manual_seed(0)
        model = models.MLP([64, 16, 10], "relu")
        train.fit(model, small_digits, optimizer=make, epochs=2, batch_size=32, seed=0)
        runs.append(params.vector(model))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_l1sgd_refuses_bad_arguments():
    parameters = [torch.nn.Parameter(torch.zeros(2, 2))]
    with pytest.raises(ValueError, match="mode"):
        experiments.L1SGD(parameters, lr=0.1, lam=0.1, mode="hard")
    with pytest.raises(ValueError, match="lam"):
        experiments.L1SGD(parameters, lr=0.1, lam=-1.0)
    with pytest.raises(ValueError, match="lr"):
        experiments.L1SGD(parameters, lr=float("nan"))


def test_penalty_run_l2_equals_fit_with_weight_decay_and_is_cached(small_digits):
    run = experiments.penalty_run(small_digits, "l2", 0.01, seed=1, epochs=2)
    again = experiments.penalty_run(small_digits, "l2", 0.01, seed=1, epochs=2)
    assert again.from_cache and not run.from_cache
    torch.manual_seed(1)
    model = models.MLP([64, 64, 10], "relu")
    train.fit(model, small_digits, lr=0.1, weight_decay=0.01, epochs=2, batch_size=32, seed=1)
    torch.testing.assert_close(params.vector(run.model), params.vector(model), rtol=0, atol=0)
    with pytest.raises(ValueError, match="penalty"):
        experiments.penalty_run(small_digits, "l3", 0.01)


def test_penalty_run_l1_proximal_makes_exact_zeros_and_subgradient_none(small_digits):
    prox = experiments.weight_counts(experiments.penalty_run(small_digits, "l1-proximal", 0.01, epochs=3).model)
    sub = experiments.weight_counts(experiments.penalty_run(small_digits, "l1-subgradient", 0.01, epochs=3).model,
                                    band=1e-3)
    assert prox["zero"] > 0.05 * prox["total"]
    assert sub["zero"] == 0 and sub["near"] > 0.5 * prox["zero"]


def test_weight_counts_by_hand():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.5], [-1e-3, 2.0]]))
        model[0].bias.fill_(0.0)  # biases are not counted
        model[1].weight.copy_(torch.tensor([[0.0, -2e-3]]))
    assert experiments.weight_counts(model, band=1e-3) == {"total": 6, "zero": 2, "near": 3}
    with pytest.raises(ValueError, match="band"):
        experiments.weight_counts(model, band=-1.0)


def test_l1_scalar_paths_against_a_hand_iteration():
    paths = experiments.l1_scalar_paths(a=0.05, lam=0.1, lr=0.3, steps=12)
    w_prox, w_sub = 1.0, 1.0
    for step in range(1, 13):
        v = w_prox - 0.3 * (w_prox - 0.05)
        w_prox = np.sign(v) * max(abs(v) - 0.03, 0.0)
        w_sub = w_sub - 0.3 * (w_sub - 0.05 + 0.1 * np.sign(w_sub))
        assert float(paths["proximal"][step]) == pytest.approx(w_prox, abs=1e-15)
        assert float(paths["subgradient"][step]) == pytest.approx(w_sub, abs=1e-15)
    assert float(paths["proximal"][-1]) == 0.0 and float(paths["subgradient"][-1]) != 0.0


# ------------------------------------------------------------------ the runs: augmentation, noise

def test_augmentation_run_equal_steps_and_the_augmented_data(digits):
    on = experiments.augmentation_run(digits, True, n_train=20, copies=3, epochs=2, hidden=8)
    off = experiments.augmentation_run(digits, False, n_train=20, copies=3, epochs=2, hidden=8)
    assert on.history.steps == off.history.steps == 2 * 3  # 80 augmented images: 3 minibatches per epoch
    assert len(experiments.augmentation_run(digits, False, n_train=64, copies=1, epochs=2, hidden=8).history.epoch) == 2
    with pytest.raises(TypeError, match="augmented"):
        experiments.augmentation_run(digits, 1)


def test_gaussian_input_noise_train_and_eval():
    layer = experiments.GaussianInputNoise(0.5, seed=3)
    x = torch.zeros(20000, 2)
    noisy = layer(x)
    assert abs(float(noisy.std()) - 0.5) < 0.01 and abs(float(noisy.mean())) < 0.01
    assert not torch.equal(layer(x), noisy)  # a fresh draw at every call
    torch.testing.assert_close(layer.eval()(x), x, rtol=0, atol=0)
    with pytest.raises(ValueError, match="sigma"):
        experiments.GaussianInputNoise(-0.1)


def test_ridge_solution_against_numpy_lstsq():
    split = experiments.linear_problem(n_train=50, dim=3, seed=2)
    w, b = experiments.ridge_solution(split, 0.3)
    X, y = split.X_train.double().numpy(), split.y_train.double().numpy().ravel()
    # augmented least squares: [X 1; sqrt(N lam) I 0] [w; b] = [y; 0]
    n = len(X)
    A = np.block([[X, np.ones((n, 1))], [np.sqrt(n * 0.3) * np.eye(3), np.zeros((3, 1))]])
    solution = np.linalg.lstsq(A, np.concatenate([y, np.zeros(3)]), rcond=None)[0]
    np.testing.assert_allclose(w.numpy(), solution[:3], rtol=1e-9)
    assert float(b) == pytest.approx(solution[3], rel=1e-9)


def test_noise_run_on_a_linear_model_approaches_ridge():
    split = experiments.linear_problem(n_train=100, dim=3, seed=1)
    ridge_w, _ = experiments.ridge_solution(split, 0.25)
    ols_w, _ = experiments.ridge_solution(split, 0.0)
    w = experiments.noise_run(split, 0.5, steps=1500).model[1].weight.detach().double().flatten()
    assert float((w - ridge_w).norm() / ridge_w.norm()) < 0.02 < float((ols_w - ridge_w).norm() / ridge_w.norm())


def test_l2_regression_run_on_a_linear_model_is_ridge():
    split = experiments.linear_problem(n_train=100, dim=3, seed=1)
    ridge_w, ridge_b = experiments.ridge_solution(split, 0.25)
    model = experiments.l2_regression_run(split, 0.25, steps=3000).model
    torch.testing.assert_close(model[1].weight.detach().double().flatten(), ridge_w, rtol=0, atol=2e-3)


def test_noise_excess_and_gradient_penalty_against_monte_carlo():
    split = data.regression_1d(n_train=10)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    X, y = split.X_train.double(), split.y_train.double()
    # the expectation by the trapezoid rule on [-10, 10] against the normal density (not Gauss-Hermite)
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    density = torch.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi)
    with torch.no_grad():
        losses = ((net(X + 0.2 * z.reshape(-1, 1, 1)) - y) ** 2).mean(dim=(1, 2))
        reference = float(torch.trapezoid(losses * density, z) - ((net(X) - y) ** 2).mean())
    assert experiments.noise_excess(net, split, 0.2) == pytest.approx(reference, rel=1e-8)
    # the first-order penalty, by finite differences of the net
    h = 1e-6
    with torch.no_grad():
        slope = (net(X + h) - net(X - h)) / (2 * h)
    assert experiments.input_gradient_penalty(net, split, 0.2) == pytest.approx(0.04 * float((slope ** 2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="one input"):
        experiments.noise_excess(net, experiments.linear_problem(dim=2), 0.1)


# ------------------------------------------------------------------ the runs: early stopping

def test_best_validation_keeps_and_restores_the_best_parameters(digits):
    run = experiments.early_stopping_run(digits, n_train=60, n_val=100, hidden=32, epochs=40)
    h = run.history
    best = h.extras["best_epoch"][0]
    assert h.extras["val_loss"][best] == min(h.extras["val_loss"])
    validation = data.DataSplit(digits.X_train[60:160], digits.y_train[60:160],
                                digits.X_train[60:160], digits.y_train[60:160])
    assert train.evaluate(run.model, validation)["loss"] == pytest.approx(h.extras["val_loss"][best], rel=1e-6)
    again = experiments.early_stopping_run(digits, n_train=60, n_val=100, hidden=32, epochs=40)
    assert again.from_cache and again.history.extras == h.extras
    torch.testing.assert_close(params.vector(again.model), params.vector(run.model), rtol=0, atol=0)
    with pytest.raises(ValueError, match="exceeds"):
        experiments.early_stopping_run(digits, n_train=1000, n_val=1000)


def test_best_validation_keys_the_run_by_its_validation_data(digits):
    first = experiments.early_stopping_run(digits, n_train=30, n_val=50, hidden=8, epochs=2)
    other = experiments.early_stopping_run(digits, n_train=30, n_val=60, hidden=8, epochs=2)
    assert not other.from_cache and len(other.history.extras["val_loss"]) == len(first.history.extras["val_loss"])


# ------------------------------------------------------------------ the filter

def test_gd_on_quadratic_matches_the_filter_and_the_filters_their_limits():
    H = torch.diag(torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64))
    w_star = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    iterates = experiments.gd_on_quadratic(H, w_star, 0.5, 50)
    eigenvalues = torch.diagonal(H)
    for t in (0, 1, 7, 50):
        torch.testing.assert_close(iterates[t], experiments.gd_filter(eigenvalues, 0.5, t) * w_star, rtol=1e-12, atol=1e-14)
    ridge = torch.linalg.solve(H + 0.2 * torch.eye(3, dtype=torch.float64), H @ w_star)
    torch.testing.assert_close(ridge, experiments.ridge_filter(eigenvalues, 0.2) * w_star, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="lr"):
        experiments.gd_filter(eigenvalues, 0.0, 3)
