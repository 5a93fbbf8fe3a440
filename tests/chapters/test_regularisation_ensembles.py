"""The regularisation chapter's runs on multi-task learning, ensembles, averaging and dropout
(lecturelib.experiments.regularisation.ensembles) against F.cross_entropy, hand-made masks, plain
train.fit, torch.optim.swa_utils.AveragedModel, a brute-force series and soft-thresholding; the
explorer's figures and widget."""

import matplotlib

matplotlib.use("Agg")

import functools  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn  # noqa: E402

from lecturelib import data, models, params, train  # noqa: E402
from lecturelib.experiments.regularisation import ensembles as experiments  # noqa: E402


@pytest.fixture(scope="module")
def blobs():
    return data.toy_2d("blobs", n_samples=90, seed=0)


@pytest.fixture(scope="module")
def regression():
    return data.regression_1d(n_train=12, n_test=20, noise=0.3)


# ------------------------------------------------------------------ multi-task learning

def test_two_head_net_main_head_is_the_mlp_and_the_aux_head_reads_its_last_hidden_state():
    torch.manual_seed(0)
    net = experiments.TwoHeadNet(5, 7, 4, 2)
    X = torch.randn(6, 5)
    out = net(X)
    assert out.shape == (6, 6)
    torch.testing.assert_close(out[:, :4], net.net(X), rtol=0, atol=0)
    torch.testing.assert_close(out[:, 4:], net.aux(net.net.features(X)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="n_aux"):
        experiments.TwoHeadNet(5, 7, 4, 1)


def test_multitask_loss_against_cross_entropy_on_the_known_labels():
    generator = torch.Generator().manual_seed(0)
    outputs = torch.randn(5, 4 + 2, generator=generator)
    targets = torch.tensor([[1, 0], [-1, 1], [3, 1], [-1, 0], [0, 0]], dtype=torch.float32)
    known = torch.tensor([0, 2, 4])
    main = F.cross_entropy(outputs[known, :4], targets[known, 0].long())
    aux = F.cross_entropy(outputs[:, 4:], targets[:, 1].long())
    torch.testing.assert_close(experiments.multitask_loss(outputs, targets, 4, 0.0), main)
    torch.testing.assert_close(experiments.multitask_loss(outputs, targets, 4, 0.5), main + 0.5 * aux)
    none_known = targets.clone()
    none_known[:, 0] = -1
    assert float(experiments.multitask_loss(outputs, none_known, 4, 0.0)) == 0.0


def test_multitask_split_keeps_the_asked_number_of_digit_labels_and_every_auxiliary_label():
    digits = data.digits()
    split = experiments.multitask_split(digits, labels_per_class=3, seed=1)
    main, aux = split.y_train[:, 0].long(), split.y_train[:, 1].long()
    known = main >= 0
    assert int(known.sum()) == 30
    assert torch.bincount(main[known], minlength=10).tolist() == [3] * 10
    assert torch.equal(main[known], digits.y_train[known])
    assert torch.equal(aux, (digits.y_train > 4).long())
    assert torch.equal(split.y_test[:, 0].long(), digits.y_test)
    again = experiments.multitask_split(digits, labels_per_class=3, seed=1)
    other = experiments.multitask_split(digits, labels_per_class=3, seed=2)
    assert torch.equal(again.y_train, split.y_train) and not torch.equal(other.y_train, split.y_train)
    parity = experiments.multitask_split(digits, 2, auxiliary="parity")
    assert torch.equal(parity.y_train[:, 1].long(), digits.y_train % 2)
    with pytest.raises(ValueError, match="auxiliary"):
        experiments.multitask_split(digits, 3, auxiliary="colour")
    with pytest.raises(ValueError, match="labels_per_class"):
        experiments.multitask_split(digits, 0)
    with pytest.raises(ValueError, match="classification"):
        experiments.multitask_split(data.regression_1d(), 3)


def test_multitask_run_is_cached_and_the_single_task_net_never_moves_its_auxiliary_head(blobs):
    first = experiments.multitask_run(blobs, labels_per_class=2, aux_weight=0.0, seed=0, width=8, epochs=3,
                                      batch_size=16)
    second = experiments.multitask_run(blobs, labels_per_class=2, aux_weight=0.0, seed=0, width=8, epochs=3,
                                       batch_size=16)
    assert not first.from_cache and second.from_cache
    torch.manual_seed(0)  # RunSpec.build seeds everything with the run's seed before building
    untrained = experiments.TwoHeadNet(2, 8, 3, 2)
    torch.testing.assert_close(first.model.aux.weight, untrained.aux.weight, rtol=0, atol=0)
    assert not torch.equal(first.model.net.layers[0].weight, untrained.net.layers[0].weight)
    multi = experiments.multitask_run(blobs, labels_per_class=2, aux_weight=1.0, seed=0, width=8, epochs=3,
                                      batch_size=16)
    assert not torch.equal(multi.model.aux.weight, untrained.aux.weight)
    accuracy = experiments.main_task_accuracy(first.model, blobs.X_test, blobs.y_test)
    with torch.no_grad():
        expected = float((first.model.net(blobs.X_test).argmax(1) == blobs.y_test).double().mean())
    assert accuracy == expected
    with pytest.raises(ValueError, match="aux_weight"):
        experiments.multitask_run(blobs, 2, aux_weight=-1.0)


# ------------------------------------------------------------------ ensembles

def test_classifier_run_equals_a_plain_fit_and_ensemble_probabilities_are_softmaxes(blobs):
    run = experiments.classifier_run(blobs, [2, 8, 3], seed=3, dropout=0.2, epochs=2, batch_size=16)
    torch.manual_seed(3)
    model = models.MLP([2, 8, 3], "relu", dropout=0.2)
    history = train.fit(model, blobs, optimizer="adam", lr=1e-3, epochs=2, batch_size=16, seed=3, eval_every=2,
                        device="cpu")
    assert history.test_loss == run.history.test_loss
    for ours, reference in zip(run.model.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    p = experiments.ensemble_probabilities([run.model, model], blobs.X_test)
    assert p.shape == (2, len(blobs.X_test), 3) and p.dtype == torch.float64
    torch.testing.assert_close(p.sum(2), torch.ones(2, len(blobs.X_test), dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(p[0], torch.softmax(model.eval()(blobs.X_test).double(), 1))
    with pytest.raises(ValueError, match="members"):
        experiments.ensemble_probabilities([], blobs.X_test)


def test_monte_carlo_probabilities_draw_masks_reproducibly_and_leave_the_caller_alone():
    torch.manual_seed(0)
    model = models.MLP([3, 16, 4], "relu", dropout=0.5).eval()
    X = torch.randn(10, 3)
    state = torch.get_rng_state()
    first = experiments.monte_carlo_probabilities(model, X, masks=5, seed=1)
    assert torch.equal(torch.get_rng_state(), state) and not model.training
    assert first.shape == (5, 10, 4)
    assert torch.equal(first, experiments.monte_carlo_probabilities(model, X, masks=5, seed=1))
    assert not torch.equal(first[0], first[1])  # a fresh mask on every pass
    torch.manual_seed(1)  # the reference: the same passes by hand
    with torch.no_grad():
        by_hand = torch.softmax(model.train()(X).double(), 1)
    torch.testing.assert_close(first[0], by_hand, rtol=0, atol=0)
    plain = models.MLP([3, 16, 4], "relu")
    with torch.no_grad():
        torch.testing.assert_close(experiments.monte_carlo_probabilities(plain, X, masks=3)[2],
                                   torch.softmax(plain(X).double(), 1))


def test_regression_ensemble_members_start_from_their_seeds_and_train(regression):
    untrained = experiments.regression_ensemble(regression, members=3, widths=(1, 8, 1), first_seed=5, epochs=0)
    for m, member in enumerate(untrained.model.to_mlps()):
        torch.manual_seed(5 + m)
        reference = models.MLP([1, 8, 1], "tanh").double()
        for ours, theirs in zip(member.state_dict().values(), reference.state_dict().values()):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    trained = experiments.regression_ensemble(regression, members=3, widths=(1, 8, 1), first_seed=5, epochs=50)
    assert all(after < before for before, after in zip(untrained.history.train_loss[-1],
                                                        trained.history.train_loss[-1]))
    with pytest.raises(ValueError, match="members"):
        experiments.regression_ensemble(regression, members=1)


# ------------------------------------------------------------------ averaging the weights

def _ema_reference(split, seed, lr, decay, epochs, batch_size):
    """The same run replayed with torch's AveragedModel updated after every step."""
    torch.manual_seed(seed)
    model = models.MLP([2, 8, 3], "relu")
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    def on_step(net, step):  # at step 0 the average starts from the initial weights, as EMAHook's does
        average.update_parameters(net)

    train.fit(model, split, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, on_step=on_step, device="cpu")
    return model, average.module


def test_ema_run_records_the_average_that_averaged_model_computes(blobs):
    run = experiments.ema_run(blobs, [2, 8, 3], lr=0.3, decay=0.9, seed=1, epochs=3, batch_size=16)
    last, average = _ema_reference(blobs, seed=1, lr=0.3, decay=0.9, epochs=3, batch_size=16)
    for ours, reference in zip(run.model.state_dict().values(), last.state_dict().values()):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    expected = train.evaluate(average, blobs, "test")
    assert len(run.history.extras["ema_test_loss"]) == 4  # step 0 and the end of each epoch
    assert run.history.extras["ema_test_loss"][-1] == pytest.approx(expected["loss"], rel=1e-6)
    assert run.history.extras["ema_test_accuracy"][-1] == pytest.approx(expected["accuracy"])
    assert experiments.ema_run(blobs, [2, 8, 3], lr=0.3, decay=0.9, seed=1, epochs=3, batch_size=16).from_cache


def test_ema_variance_ratio_against_the_double_series():
    for lr, curvature, decay in ((0.1, 1.0, 0.995), (0.5, 2.0, 0.9), (1.5, 1.0, 0.5), (0.01, 3.0, 0.99)):
        a = 1 - lr * curvature
        j = np.arange(4000)[:, None]
        k = np.arange(4000)[None, :]
        series = (1 - decay) ** 2 * np.sum(decay ** (j + k) * np.abs(a) ** np.abs(j - k) * np.sign(a) ** np.abs(j - k))
        assert experiments.ema_variance_ratio(curvature, lr, decay) == pytest.approx(series, rel=1e-9)
    assert experiments.ema_variance_ratio(1.0, 0.1, 0.0) == pytest.approx(1.0)  # no averaging
    with pytest.raises(ValueError, match="lr \\* curvature"):
        experiments.ema_variance_ratio(1.0, 2.0, 0.9)
    with pytest.raises(ValueError, match="decay"):
        experiments.ema_variance_ratio(1.0, 0.1, 1.0)


def test_noisy_quadratic_matches_its_stationary_variances():
    result = experiments.noisy_quadratic(curvature=2.0, lr=0.2, noise=0.5, decay=0.95, chains=8000, steps=400, seed=3)
    assert result["predicted_var_iterate"] == pytest.approx(0.2 * 0.25 / (2.0 * (2 - 0.4)))
    assert result["predicted_ratio"] == experiments.ema_variance_ratio(2.0, 0.2, 0.95)
    assert result["var_iterate"] == pytest.approx(result["predicted_var_iterate"], rel=0.06)
    assert result["ratio"] == pytest.approx(result["predicted_ratio"], rel=0.06)
    assert result == experiments.noisy_quadratic(curvature=2.0, lr=0.2, noise=0.5, decay=0.95, chains=8000,
                                                 steps=400, seed=3)


# ------------------------------------------------------------------ the regulariser explorer

def test_l1_proximal_hook_soft_thresholds_the_weights_only():
    torch.manual_seed(0)
    model = models.MLP([3, 5, 2], "tanh")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    hook = experiments.L1ProximalHook(lam=2.0, lr=0.1)
    assert hook(model, 0) is None and all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    hook(model, 1)
    for name, parameter in model.named_parameters():
        if name.endswith("weight"):
            w = before[name]
            expected = torch.where(w.abs() <= 0.2, torch.zeros_like(w), w - 0.2 * torch.sign(w))
            torch.testing.assert_close(parameter.detach(), expected, rtol=0, atol=1e-7)
        else:
            assert torch.equal(parameter.detach(), before[name])
    assert hook.describe() == {"lam": 2.0, "lr": 0.1}
    with pytest.raises(ValueError, match="lam"):
        experiments.L1ProximalHook(-1.0, 0.1)


def test_noisy_input_mlp_adds_noise_only_in_training():
    torch.manual_seed(0)
    noisy = experiments.NoisyInputMLP([2, 6, 1], "tanh", noise_std=0.5)
    torch.manual_seed(0)
    plain = models.MLP([2, 6, 1], "tanh")
    X = torch.randn(7, 2)
    with torch.no_grad():
        torch.testing.assert_close(noisy.eval()(X), plain(X), rtol=0, atol=0)
        torch.manual_seed(4)
        trained_pass = noisy.train()(X)
        torch.manual_seed(4)
        torch.testing.assert_close(trained_pass, plain(X + 0.5 * torch.randn(X.shape)))
    with pytest.raises(ValueError, match="noise_std"):
        experiments.NoisyInputMLP([2, 6, 1], noise_std=-0.1)


def test_regulariser_run_l2_is_weight_decay_and_kinds_are_checked(regression):
    run = experiments.regulariser_run(regression, "l2", 0.01, widths=(1, 6, 1), epochs=5)
    torch.manual_seed(0)
    model = models.MLP([1, 6, 1], "tanh")
    train.fit(model, regression, lr=0.01, momentum=0.9, weight_decay=0.01, epochs=5, seed=0, device="cpu")
    for ours, reference in zip(run.model.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    assert run.model.dropout == 0.0
    assert experiments.regulariser_run(regression, "dropout", 0.3, widths=(1, 6, 1), epochs=1).model.dropout == 0.3
    noisy = experiments.regulariser_run(regression, "noise", 0.2, widths=(1, 6, 1), epochs=1).model
    assert isinstance(noisy, experiments.NoisyInputMLP) and noisy.noise_std == 0.2
    with pytest.raises(ValueError, match="kind"):
        experiments.regulariser_run(regression, "l3", 0.1)
    with pytest.raises(ValueError, match="strength"):
        experiments.regulariser_run(regression, "l2", float("nan"))


@pytest.fixture(scope="module")
def small_grid():
    split = data.regression_1d(n_train=12, n_test=20, noise=0.3)
    strengths = {"none": (0.0,), "l1": (0.01, 1.0), "dropout": (0.1, 0.5)}
    return split, experiments.regulariser_grid(split, strengths, points=25, widths=(1, 6, 1), epochs=20)


def test_regulariser_grid_reports_each_run(small_grid):
    split, grid = small_grid
    assert set(grid) == {("none", 0.0), ("l1", 0.01), ("l1", 1.0), ("dropout", 0.1), ("dropout", 0.5)}
    entry = grid[("l1", 1.0)]
    assert entry["grid"].shape == (25,) and entry["prediction"].shape == (25,)
    assert entry["grid"][0] == pytest.approx(float(min(split.X_train.min(), split.X_test.min())))
    run = experiments.regulariser_run(split, "l1", 1.0, widths=(1, 6, 1), epochs=20)
    assert entry["weight_norm"] == pytest.approx(params.norm(run.model))
    weights = torch.cat([run.model.layers[j].weight.flatten() for j in range(2)])
    assert entry["zero_weights"] == int((weights == 0).sum()) and entry["zero_weights"] > 0
    assert entry["test_mse"] == run.history.test_loss[-1]


def test_explorer_figures_draw_what_they_are_handed(small_grid):
    from lecturelib.plotting.regularisation import draw_regularised_fit, draw_weight_norms

    split, grid = small_grid
    fig, (left, right) = plt.subplots(1, 2)
    draw_regularised_fit(left, grid[("l1", 0.01)], split, grid[("none", 0.0)], "title")
    np.testing.assert_array_equal(left.lines[-1].get_ydata(), grid[("l1", 0.01)]["prediction"])
    assert len(left.lines) == 2 and left.get_title() == "title"
    draw_weight_norms(right, [0.1, 0.5], [3.0, 2.0], selected=1, reference=4.0)
    assert [bar.get_height() for bar in right.patches] == [3.0, 2.0]
    with pytest.raises(ValueError, match="one length"):
        draw_weight_norms(right, [0.1], [3.0, 2.0])
    with pytest.raises(ValueError, match="regulariser_grid"):
        draw_regularised_fit(left, {"grid": []}, split)
    plt.close(fig)


def test_regulariser_widget_redraws_on_a_control_change(small_grid):
    from lecturelib.widgets.regularisation import regulariser_widget

    split, grid = small_grid
    box = regulariser_widget(grid, split)
    kind, level = box.children[1].children
    assert kind.value == "l1" and level.max == 1 and level.value == 1
    kind.value = "dropout"  # redraws without error
    level.value = 0
    kind.value = "none"
    with pytest.raises(ValueError, match="same number"):
        regulariser_widget({**grid, ("noise", 0.1): grid[("none", 0.0)]}, split)
    with pytest.raises(ValueError, match="none"):
        regulariser_widget({("l1", 0.01): grid[("l1", 0.01)]}, split)
    plt.close("all")


def test_strength_grid_names_every_regulariser():
    assert set(experiments.STRENGTHS) == set(experiments.REGULARISERS)
    assert all(len(values) == 4 for kind, values in experiments.STRENGTHS.items() if kind != "none")
    assert functools.reduce(lambda a, b: a and b, [v > 0 for kind, vs in experiments.STRENGTHS.items()
                                                   if kind != "none" for v in vs])
