"""lecturelib.losses against torch.nn.functional, in float64, also under torch.func.vmap."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import vmap

from lecturelib import losses


def test_default_loss_picks_cross_entropy_for_labels_and_squared_error_for_values():
    assert losses.default_loss(torch.tensor([0, 2, 1])) is F.cross_entropy
    assert losses.default_loss(torch.zeros(3, 1)) is F.mse_loss
    assert losses.vmap_loss(torch.tensor([0, 2, 1])) is losses.cross_entropy
    assert losses.vmap_loss(torch.zeros(3, 1)) is losses.mean_squared_error


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 6), classes=st.integers(2, 7), seed=st.integers(0, 2**16))
def test_cross_entropy_equals_torch(batch, classes, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = 10 * torch.randn(batch, classes, generator=generator, dtype=torch.float64)
    labels = torch.randint(classes, (batch,), generator=generator)
    torch.testing.assert_close(losses.cross_entropy(logits, labels), F.cross_entropy(logits, labels),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 6), classes=st.integers(2, 7), seed=st.integers(0, 2**16), ties=st.booleans(),
       float32=st.booleans())
def test_cross_entropy_and_correct_equals_torch_and_argmax(batch, classes, seed, ties, float32):
    generator = torch.Generator().manual_seed(seed)
    logits = 10 * torch.randn(batch, classes, generator=generator, dtype=torch.float64)
    if ties:  # rounded logits tie often: the count must follow argmax's first maximal index
        logits = logits.round().clamp(-1, 1)
    logits = logits.float() if float32 else logits
    labels = torch.randint(classes, (batch,), generator=generator)
    loss, correct = losses.cross_entropy_and_correct(logits, labels)
    assert torch.equal(loss, losses.cross_entropy(logits, labels))  # the same formula, bit for bit
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels), rtol=1e-6 if float32 else 1e-12, atol=1e-6)
    assert correct.dtype == torch.int64 and int(correct) == int((logits.argmax(dim=1) == labels).sum())


def test_cross_entropy_and_correct_handles_infinite_logits_as_logsumexp():
    rows = [([float("inf"), 0.0, 1.0], 1), ([float("inf"), 0.0, 1.0], 0), ([-float("inf"), 2.0, 2.0], 2),
            ([-float("inf"), 2.0, 2.0], 0), ([float("-inf")] * 3, 0)]
    for row, label in rows:  # one sample each, so a NaN of one row does not hide another's value
        logits, labels = torch.tensor([row]), torch.tensor([label])
        loss, correct = losses.cross_entropy_and_correct(logits, labels)
        expected = (torch.logsumexp(logits, dim=1) - logits[0, label]).mean()
        assert (loss.isnan() and expected.isnan()) or loss == expected, (row, label, loss, expected)
        assert int(correct) == int((logits.argmax(dim=1) == labels).sum()), (row, label)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 6), outputs=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_mean_squared_error_equals_torch(batch, outputs, seed):
    generator = torch.Generator().manual_seed(seed)
    u, y = torch.randn(2, batch, outputs, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(losses.mean_squared_error(u, y), F.mse_loss(u, y), rtol=1e-12, atol=1e-12)


def test_the_vmap_forms_agree_with_torch_under_vmap():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 8, 10, generator=generator, dtype=torch.float64)  # 5 parameter points
    labels = torch.randint(10, (8,), generator=generator)
    batched = vmap(losses.cross_entropy, in_dims=(0, None))(logits, labels)
    expected = torch.stack([F.cross_entropy(point, labels) for point in logits])
    torch.testing.assert_close(batched, expected, rtol=1e-12, atol=1e-12)
    values = torch.randn(5, 8, 1, generator=generator, dtype=torch.float64)
    targets = torch.randn(8, 1, generator=generator, dtype=torch.float64)
    batched = vmap(losses.mean_squared_error, in_dims=(0, None))(values, targets)
    torch.testing.assert_close(batched, torch.stack([F.mse_loss(v, targets) for v in values]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("choose", [losses.default_loss, losses.vmap_loss])
def test_targets_must_be_a_tensor(choose):
    with pytest.raises(TypeError, match="targets must be a torch.Tensor"):
        choose([0, 1, 2])
