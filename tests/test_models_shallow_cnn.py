"""lecturelib.models.shallow_cnn: CNN-1 and CNN-2 of Zhang, Liang & Wainwright (2017), against an
explicit float64 reference (patch sums written as loops, pooling as block means)."""

from __future__ import annotations

import pytest
import torch

from lecturelib import data, models, train


pytestmark = pytest.mark.usefixtures("one_thread")


def _reference_layer(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, activation: str) -> torch.Tensor:
    """One layer written out: out[n, j, i, k] = b_j + sum_{c,a,b} w[j, c, a, b] z[n, c, i + a, k + b],
    then sigma, then the mean of each 2x2 block (odd edges dropped)."""
    n, channels, height, width = z.shape
    filters, _, size, _ = weight.shape
    out_h, out_w = height - size + 1, width - size + 1
    conv = torch.zeros(n, filters, out_h, out_w, dtype=torch.float64)
    for i in range(out_h):
        for k in range(out_w):
            patch = z[:, :, i:i + size, k:k + size]  # (n, c, size, size)
            conv[:, :, i, k] = torch.einsum("ncab,jcab->nj", patch, weight) + bias
    act = conv.clamp(min=0) if activation == "relu" else conv * conv
    pooled_h, pooled_w = out_h // 2, out_w // 2
    pooled = torch.zeros(n, filters, pooled_h, pooled_w, dtype=torch.float64)
    for i in range(pooled_h):
        for k in range(pooled_w):
            pooled[:, :, i, k] = act[:, :, 2 * i:2 * i + 2, 2 * k:2 * k + 2].mean(dim=(2, 3))
    return pooled


def _reference(model: models.ShallowCNN, x: torch.Tensor) -> torch.Tensor:
    z = x.to(torch.float64)
    for conv in model.convs:
        z = _reference_layer(z, conv.weight.detach().double(), conv.bias.detach().double(), model.activation)
    flat = z.reshape(len(z), -1)
    return flat @ model.readout.weight.detach().double().T + model.readout.bias.detach().double()


@pytest.mark.parametrize("activation", ["relu", "quad"])
@pytest.mark.parametrize("builder", [models.cnn1, models.cnn2])
def test_matches_the_explicit_reference(builder, activation):
    torch.manual_seed(0)
    model = builder(activation, input_shape=(1, 17, 16)).double()
    x = torch.rand(3, 1, 17, 16, dtype=torch.float64)
    torch.testing.assert_close(model(x), _reference(model, x), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(model(x.reshape(3, -1)), model(x), atol=0, rtol=0)  # flattened input


def test_two_channels_and_features():
    torch.manual_seed(1)
    model = models.ShallowCNN((2, 16, 16), num_classes=3, filters=(4, 5), activation="relu").double()
    x = torch.randn(2, 2, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(model(x), _reference(model, x), atol=1e-10, rtol=1e-10)
    first = model.features(x, layers=1)
    expected = _reference_layer(x, model.convs[0].weight.detach(), model.convs[0].bias.detach(), "relu")
    torch.testing.assert_close(first, expected, atol=1e-10, rtol=1e-10)
    assert model.features(x).shape == (2, *model.feature_shape) == (2, 5, 1, 1)
    assert torch.equal(model.features(x, layers=0), x)


def test_paper_shapes_and_parameter_counts():
    one, two = models.cnn1(), models.cnn2("quad")
    assert one.feature_shape == (16, 12, 12) and two.feature_shape == (32, 4, 4)
    # conv 16 * (25 + 1), read-out 10 * (16 * 12 * 12 + 1)
    assert models.count_parameters(one) == 16 * 26 + 10 * (2304 + 1) == 23_466
    # + conv 32 * (16 * 25 + 1), read-out 10 * (32 * 16 + 1)
    assert models.count_parameters(two) == 16 * 26 + 32 * 401 + 10 * 513 == 18_378
    assert two.activation == "quad" and two.filters == models.PAPER_FILTERS == (16, 32)
    assert models.cnn1(input_shape=(1, 28, 28))(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_quadratic_activation_is_the_square():
    model = models.ShallowCNN((1, 6, 6), num_classes=1, filters=(1,), activation="quad", kernel_size=1)
    with torch.no_grad():
        model.convs[0].weight.fill_(1.0)
        model.convs[0].bias.fill_(-0.5)
    x = torch.full((1, 1, 6, 6), 0.25)
    assert torch.allclose(model.features(x), torch.full((1, 1, 3, 3), 0.0625))  # (0.25 - 0.5)^2; ReLU gives 0


def test_trains_with_fit_on_image_splits():
    split = data.mnist_variation("basic", 200, 100, size=20, seed=0)
    torch.manual_seed(0)
    model = models.cnn1(input_shape=(1, 20, 20))
    history = train.fit(model, split, optimizer="sgd", lr=0.1, momentum=0.9, epochs=3, batch_size=50, seed=0,
                        progress=False)
    assert history.train_loss[-1] < 0.6 * history.train_loss[0]
    assert history.test_accuracy[-1] > 0.5  # chance is 0.1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_shape=(28, 28)), ValueError, "input_shape"),
    (dict(input_shape=(1, 0, 28)), ValueError, r"input_shape\[1\]"),
    (dict(filters=()), ValueError, "filters"),
    (dict(filters=(16, 2.5)), TypeError, r"filters\[1\]"),
    (dict(activation="tanh"), ValueError, "activation"),
    (dict(num_classes=0), ValueError, "num_classes"),
    (dict(kernel_size=0), ValueError, "kernel_size"),
    (dict(input_shape=(1, 12, 12), filters=(4, 4)), ValueError, "layer 2"),
])
def test_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        models.ShallowCNN(**kwargs)


def test_input_validation():
    model = models.cnn1()
    with pytest.raises(ValueError, match="input must have shape"):
        model(torch.zeros(2, 1, 27, 28))
    with pytest.raises(ValueError, match="layers"):
        model.features(torch.zeros(2, 1, 28, 28), layers=2)
