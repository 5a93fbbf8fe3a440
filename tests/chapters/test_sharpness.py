"""The sharpness chapter: LossSnapshot and the runs against the training they replace (seeded
train.fit with a snapshot restored by hand), the rescaling curves against dense float64 Hessians,
the power-iteration checker against eigvalsh, and the widget."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import hessian, params  # noqa: E402
from lecturelib.cache import RunSpec, cached_run  # noqa: E402
from lecturelib.data import DataSplit  # noqa: E402
from lecturelib.experiments import sharpness as runs  # noqa: E402
from lecturelib.models import MLP  # noqa: E402
from lecturelib.train import fit  # noqa: E402
from tests.test_hessian import regressor  # noqa: E402, F401 (a fixture)


def _digits_like(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g)
    return DataSplit(X[:48], y[:48], X[48:], y[48:], "toy digits")


def _reference_to_target(split, batch_size, epochs, eval_every, **measure):
    """The chapter's old recipe, written out: seeded MLP, SGD with the snapshot as callback, restore."""
    snapshot = runs.LossSnapshot(split.X_train, split.y_train, target=runs.TARGET, **measure)
    torch.manual_seed(0)
    model = MLP([64, 64, 64, 10], "relu")
    history = fit(model, split, lr=0.05, momentum=0.9, epochs=epochs, batch_size=batch_size, eval_every=eval_every,
                  callback=snapshot)
    snapshot.restore(model)
    return model, history, snapshot


# ------------------------------------------------------------------------------- snapshots and runs

def test_curvature_run_is_the_snapshot_recipe_and_builds_one_operator_per_evaluation(monkeypatch):
    split = _digits_like()
    built = []
    original = hessian.HessianOperator.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(hessian.HessianOperator, "__init__", counting)
    run = runs.curvature_at_target(split, batch_size=8, epochs=12, eval_every=2)
    assert len(built) == 7  # evaluations at epochs 0, 2, ..., 12: one operator each
    model, history, snapshot = _reference_to_target(split, 8, 12, 2, measure_top=True)
    assert params.fingerprint(run.model) == params.fingerprint(model)
    assert run.history.extras["loss"] == history.extras["loss"]
    assert run.history.extras["top_eigenvalue"] == history.extras["top_eigenvalue"]
    assert run.history.extras["snapshot_epoch"] == [snapshot.epoch] and snapshot.epoch is not None
    assert snapshot.loss <= runs.TARGET
    again = runs.curvature_at_target(split, batch_size=8, epochs=12, eval_every=2)
    assert again.from_cache and params.fingerprint(again.model) == params.fingerprint(model)


def test_top_eigenvalue_of_the_snapshot_is_that_of_lanczos_at_tolerance_1e_2():
    split = _digits_like()
    torch.manual_seed(0)
    model = MLP([64, 16, 10], "relu")
    measured = runs.LossSnapshot(split.X_train, split.y_train, target=10.0, measure_top=True)(model, 0)
    top = hessian.top_eigenvalues(model, split.X_train, split.y_train, tol=1e-2)
    assert measured["top_eigenvalue"] == float(top[0])
    assert measured["loss"] == hessian.HessianOperator(model, split.X_train, split.y_train).loss()


def test_gradient_norm_run_is_the_snapshot_recipe():
    split = _digits_like()
    run = runs.gradient_norms_at_target(split, batch_size=8, epochs=12, eval_every=1)
    model, history, snapshot = _reference_to_target(split, 8, 12, 1, measure_gradient_norms=True)
    assert params.fingerprint(run.model) == params.fingerprint(model)
    assert run.history.extras["mean_gradient_norm"] == history.extras["mean_gradient_norm"]
    # the value recorded at the snapshot's evaluation is that of the restored parameters
    norms = hessian.per_sample_gradient_norms(model, split.X_train, split.y_train)
    assert run.history.extras["mean_gradient_norm"][snapshot.epoch] == float(norms.mean())


def test_a_snapshot_is_keyed_by_what_it_measures_and_forgets_an_earlier_run():
    split = _digits_like()
    snapshot = runs.LossSnapshot(split.X_train, split.y_train, target=10.0)
    spec = RunSpec("snapshot", split, tiny_mlp, epochs=2, callback=snapshot, finish=snapshot.finish)
    other = runs.LossSnapshot(split.X_train, split.y_train, target=5.0)
    assert spec.describe() != RunSpec("snapshot", split, tiny_mlp, epochs=2, callback=other,
                                      finish=other.finish).describe()
    first = cached_run(spec)
    assert first.history.extras["snapshot_epoch"] == [0]  # a target of 10 is met at once
    snapshot.state, snapshot.epoch = {"stale": torch.zeros(1)}, 99
    snapshot(first.model, 0)
    assert snapshot.epoch == 0 and "stale" not in snapshot.state
    never = runs.LossSnapshot(split.X_train, split.y_train, target=1e-9)
    with pytest.raises(RuntimeError, match="never reached"):
        never.restore(first.model)


def tiny_mlp():
    return MLP([64, 8, 10], "relu")


def test_seeded_runs_are_the_seeded_recipe():
    split = _digits_like()
    run = runs.curvature_at_target(split, batch_size=8, epochs=12, eval_every=2, seed=1, measure_top=False)
    snapshot = runs.LossSnapshot(split.X_train, split.y_train, target=runs.TARGET)
    torch.manual_seed(1)
    model = MLP([64, 64, 64, 10], "relu")
    history = fit(model, split, lr=0.05, momentum=0.9, epochs=12, batch_size=8, eval_every=2, callback=snapshot, seed=1)
    snapshot.restore(model)
    assert params.fingerprint(run.model) == params.fingerprint(model)
    assert run.history.extras["loss"] == history.extras["loss"]
    assert "top_eigenvalue" not in run.history.extras
    seed0 = runs.curvature_at_target(split, batch_size=8, epochs=12, eval_every=2, measure_top=False)
    assert params.fingerprint(seed0.model) != params.fingerprint(run.model)


def test_minimum_at_loss_is_the_snapshot_then_full_batch_descent():
    split = _digits_like()
    run = runs.minimum_at_loss(split, batch_size=8, epochs=12, eval_every=1, loss=0.02, descent_epochs=60)
    model, history, snapshot = _reference_to_target(split, 8, 12, 1)
    X, y = split.X_train, split.y_train
    second = runs.LossSnapshot(X, y, target=0.02)
    descent = fit(model, DataSplit(X, y, X[:1], y[:1], "training set"), lr=0.05, momentum=0.9, epochs=60,
                  eval_every=1, callback=second)
    second.restore(model)
    assert params.fingerprint(run.model) == params.fingerprint(model)
    assert run.history.extras["snapshot_epoch"] == [snapshot.epoch]
    assert run.history.extras["descent_epoch"] == [second.epoch] and second.epoch is not None
    assert run.history.extras["descent_loss"] == descent.extras["loss"]
    final = hessian.HessianOperator(run.model, X, y).loss()
    assert final <= 0.02 < snapshot.loss  # the descent went on, to the lower loss


@pytest.mark.parametrize("kwargs, error", [
    ({"loss": 0.0, "epochs": 5}, ValueError), ({"loss": float("nan"), "epochs": 5}, ValueError),
    ({"loss": 0.1, "epochs": 0}, ValueError), ({"loss": 0.1, "epochs": 2.5}, TypeError),
])
def test_descent_arguments_are_checked(kwargs, error):
    split = _digits_like()
    with pytest.raises(error):
        runs.DescendTo(runs.LossSnapshot(split.X_train, split.y_train, target=1.0), **kwargs)


@pytest.mark.parametrize("call, error, name", [
    (lambda X, y: runs.LossSnapshot(X, y, target=float("nan")), ValueError, "target"),
    (lambda X, y: runs.LossSnapshot(X, y, target=0.0), ValueError, "target"),
    (lambda X, y: runs.LossSnapshot(X.numpy(), y, target=1.0), TypeError, "X"),
])
def test_snapshot_arguments_are_checked(call, error, name):
    split = _digits_like()
    with pytest.raises(error, match=name):
        call(split.X_train, split.y_train)


# ------------------------------------------------------------------------------- rescaling curves

def test_rescaling_curves_keep_the_function(regressor):
    model, X, y, H = regressor
    curves = runs.rescaling_curves(model, X, y, alpha=4.0, points=5)
    assert curves["output_change"] < 1e-12 and curves["alpha"] == 4.0
    assert curves["original"].shape == (5,) and curves["rescaled"].shape == (5,)
    # at t = 0 both curves are the training loss of the same function
    assert float(curves["original"][2]) == pytest.approx(float(curves["rescaled"][2]), rel=1e-12)
    eigenvalues = torch.linalg.eigvalsh(H)
    assert curves["top_original"] == pytest.approx(float(eigenvalues[eigenvalues.abs().argmax()]), rel=1e-6)
    with pytest.raises(ValueError, match="points"):
        runs.rescaling_curves(model, X, y, alpha=2.0, points=2)
    with pytest.raises(ValueError, match="radius"):
        runs.rescaling_curves(model, X, y, alpha=2.0, radius=float("inf"), points=3)


def test_rescaling_sweep_and_widget(regressor):
    import ipywidgets
    import matplotlib.pyplot as plt

    from lecturelib.widgets.sharpness import rescaling_widget

    model, X, y, _ = regressor
    sweep = runs.rescaling_sweep(model, X, y, log10_alphas=(-0.5, 0.0, 0.5))
    assert list(sweep) == [-0.5, 0.0, 0.5] and sweep[0.5]["alpha"] == 10 ** 0.5
    assert sweep[0.0]["top_rescaled"] == pytest.approx(sweep[0.0]["top_original"], rel=1e-12)
    box = rescaling_widget(sweep)
    assert isinstance(box, ipywidgets.VBox)
    box.children[-2].children[0].value = -0.5  # redraws from the sweep
    plt.close("all")
    with pytest.raises(ValueError, match="sweep"):
        rescaling_widget({0.0: sweep[0.0]})
    assert runs.SWEEP_LOG10_ALPHAS == (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


# ------------------------------------------------------------------------------- exercise

def test_power_iteration_checker_accepts_a_correct_answer_and_explains_a_wrong_one():
    from lecturelib.exercises.sharpness import check_power_iteration

    def correct(matvec, size, iterations):
        v = torch.randn(size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for _ in range(iterations):
            w = matvec(v)
            v = w / w.norm()
        return float(v @ matvec(v))

    def loses_the_sign(matvec, size, iterations):
        v = torch.ones(size, dtype=torch.float64)
        for _ in range(iterations):
            w = matvec(v)
            v = w / w.norm()
        return float(matvec(v).norm())

    assert check_power_iteration(correct).passed
    wrong = check_power_iteration(loses_the_sign)
    assert not wrong.passed and "Rayleigh quotient" in wrong.message
    assert not check_power_iteration(lambda matvec, size, iterations: 5.0).passed  # never calls matvec
    with pytest.raises(TypeError, match="power_iteration"):
        check_power_iteration(3.0)
