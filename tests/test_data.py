import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from lecturelib import data
from lecturelib.data import files


def test_digits_split_shapes_types_and_stratification():
    split = data.digits()
    assert split.X_train.shape == (1347, 64) and split.X_test.shape == (450, 64)
    assert split.X_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0.0 <= float(split.X_train.min()) and float(split.X_train.max()) <= 1.0
    assert split.n_classes == 10 and split.is_classification and split.n_features == 64
    counts = torch.bincount(split.y_test, minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 47  # every class ~25 % held out
    again = data.digits()
    assert torch.equal(again.X_train, split.X_train) and torch.equal(again.y_test, split.y_test)
    assert not torch.equal(data.digits(seed=1).y_train, split.y_train)


def test_mnist1d_generated_offline_cached_and_repairs_corruption(isolated_cache, recwarn):
    split = data.mnist1d(num_samples=200)
    assert split.X_train.shape == (160, 40) and split.X_test.shape == (40, 40)
    assert split.n_classes == 10
    assert abs(float(torch.cat([split.X_train, split.X_test]).std()) - 1.0) < 1e-3  # generator standardises
    files = list(isolated_cache.glob("mnist1d-*.pt"))
    assert len(files) == 1
    assert torch.equal(data.mnist1d(num_samples=200).X_train, split.X_train)  # from the cache
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncate it
    with pytest.warns(UserWarning, match="regenerating"):
        repaired = data.mnist1d(num_samples=200)
    assert torch.equal(repaired.X_train, split.X_train)


def test_mnist1d_leaves_global_random_state_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    data.mnist1d(num_samples=100, seed=3)
    assert np.random.rand() == expected


def test_regression_1d():
    split = data.regression_1d(n_train=30, n_test=50, noise=0.0)
    assert split.X_train.shape == (30, 1) and split.y_train.shape == (30, 1)
    assert not split.is_classification and split.n_classes is None
    assert torch.all(split.X_train[1:] >= split.X_train[:-1])
    torch.testing.assert_close(split.y_train, torch.sin(3 * split.X_train) + 0.3 * split.X_train)
    noisy = data.regression_1d(noise=0.1, seed=3)
    assert torch.equal(noisy.y_train, data.regression_1d(noise=0.1, seed=3).y_train)


@pytest.mark.parametrize("kind", data.TOY_KINDS)
def test_toy_2d(kind):
    split = data.toy_2d(kind, n_samples=300)
    assert split.X_train.shape[1] == 2 and split.is_classification
    assert split.n_classes == (2 if kind in ("moons", "circles") else 3)
    assert len(split.X_train) + len(split.X_test) in (299, 300)


def test_centre_and_standardise_use_training_statistics():
    split = data.digits()
    centred = data.center(split)
    assert float(centred.X_train.mean(0).abs().max()) < 1e-5
    torch.testing.assert_close(centred.X_test, split.X_test - split.X_train.mean(0))
    standard = data.standardize(split)
    std = standard.X_train.std(0, unbiased=False)
    varying = split.X_train.std(0) > 0
    torch.testing.assert_close(std[varying], torch.ones(int(varying.sum())), atol=1e-4, rtol=0)
    assert torch.all(standard.X_train[:, ~varying] == 0)  # constant pixels stay finite


def test_pca_matches_sklearn_and_whitening_gives_identity_covariance():
    from sklearn.decomposition import PCA

    split = data.digits()
    projected = data.pca(split, n_components=5)
    reference = PCA(5).fit(split.X_train.double().numpy())
    ours = projected.X_train.double().numpy()
    theirs = reference.transform(split.X_train.double().numpy())
    signs = np.sign((ours * theirs).sum(0))  # principal axes are defined up to sign
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-4)
    white = data.whiten(split, n_components=20)
    covariance = torch.cov(white.X_train.double().T)
    torch.testing.assert_close(covariance, torch.eye(20, dtype=torch.float64), atol=2e-3, rtol=0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="seed"):
        data.digits(seed=-1)
    with pytest.raises(ValueError, match="kind must be one of"):
        data.toy_2d("swirl")
    with pytest.raises(ValueError, match="n_train"):
        data.regression_1d(n_train=0)
    with pytest.raises(ValueError, match="noise"):
        data.regression_1d(noise=-1)
    with pytest.raises(ValueError, match="num_samples"):
        data.mnist1d(num_samples=5)
    with pytest.raises(TypeError, match="DataSplit"):
        data.center(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="n_components"):
        data.pca(data.digits(), n_components=65)


def test_datasplit_validates_its_fields():
    with pytest.raises(TypeError, match="X_train must be a torch.Tensor"):
        data.DataSplit(np.zeros((2, 1)), torch.zeros(2), torch.zeros(1, 1), torch.zeros(1))
    with pytest.raises(ValueError, match="X_train has 3 rows but y_train has 2"):
        data.DataSplit(torch.zeros(3, 1), torch.zeros(2), torch.zeros(1, 1), torch.zeros(1))
    split = data.regression_1d().subset(n_train=5, n_test=7)
    assert len(split.X_train) == 5 and len(split.y_test) == 7


# ---------------------------------------------------------------- bad input gets a clear error

@pytest.mark.parametrize("call, name", [
    (lambda: data.regression_1d(noise=float("nan")), "noise"),
    (lambda: data.regression_1d(noise=float("inf")), "noise"),
    (lambda: data.toy_2d("moons", noise=float("nan")), "noise"),
    (lambda: data.digits(test_fraction=float("nan")), "test_fraction"),
    (lambda: data.standardize(data.regression_1d(), eps=0), "eps"),
    (lambda: data.standardize(data.regression_1d(), eps=-1), "eps"),
    (lambda: data.standardize(data.regression_1d(), eps=float("nan")), "eps"),
    (lambda: data.whiten(data.regression_1d(), eps=-1), "eps"),
    (lambda: data.whiten(data.regression_1d(), eps=float("nan")), "eps"),
])
def test_nan_infinite_and_non_positive_numbers_are_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: data.digits(seed="x"), "seed"),
    (lambda: data.toy_2d("moons", seed=1.5), "seed"),
    (lambda: data.regression_1d(n_train=2.5), "n_train"),
    (lambda: data.toy_2d("moons", noise="0.1"), "noise"),
    (lambda: data.pca(data.digits(), n_components=2.0), "n_components"),
    (lambda: data.regression_1d().subset(n_train=2.5), "n_train"),
])
def test_wrong_kinds_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()


def test_splits_are_never_empty():
    with pytest.raises(ValueError, match=r"test_fraction=0.001 .*0 test and 1797 training samples"):
        data.digits(test_fraction=0.001)
    with pytest.raises(ValueError, match=r"test_fraction=0.999 .*training samples"):
        data.toy_2d("moons", n_samples=20, test_fraction=0.999)
    split = data.toy_2d("moons", n_samples=20, test_fraction=0.1)
    assert len(split.X_test) >= 1 and len(split.X_train) >= 1


@pytest.mark.parametrize("n_samples", [10, 11, 12, 301])
def test_spirals_have_exactly_n_samples(n_samples):
    split = data.toy_2d("spirals", n_samples=n_samples)
    assert len(split.X_train) + len(split.X_test) == n_samples
    labels = torch.cat([split.y_train, split.y_test])
    assert sorted(torch.bincount(labels).tolist()) in ([n_samples // 3] * 3, sorted(
        [n_samples // 3 + (k < n_samples % 3) for k in range(3)]))


def test_spiral_noise_moves_points_off_the_arms():
    clean = data.toy_2d("spirals", n_samples=300, noise=0.0)
    noisy = data.toy_2d("spirals", n_samples=300, noise=0.3)
    assert not torch.allclose(clean.X_train, noisy.X_train)
    X = torch.cat([clean.X_train, clean.X_test]).double()
    y = torch.cat([clean.y_train, clean.y_test]).double()
    radius = X.norm(dim=1)
    angle = torch.atan2(X[:, 0], X[:, 1])
    on_arm = torch.remainder(angle - 4.0 * radius - 2 * torch.pi * y / 3 + torch.pi, 2 * torch.pi) - torch.pi
    assert float(on_arm.abs().max()) < 1e-5  # noise=0: every point lies on its arm
    X = torch.cat([noisy.X_train, noisy.X_test]).double()
    y = torch.cat([noisy.y_train, noisy.y_test]).double()
    off = torch.remainder(torch.atan2(X[:, 0], X[:, 1]) - 4.0 * X.norm(dim=1) - 2 * torch.pi * y / 3 + torch.pi,
                          2 * torch.pi) - torch.pi
    assert float(off.std()) == pytest.approx(0.3, rel=0.2)


def test_spirals_with_a_multiple_of_three_samples_are_unchanged():
    split = data.toy_2d("spirals", n_samples=12, noise=0.0, test_fraction=0.5, seed=0)
    rng = np.random.default_rng(0)
    radius = np.tile(np.linspace(0.05, 1.0, 4), 3)
    labels = np.repeat(np.arange(3), 4)
    angle = 4.0 * radius + 2 * np.pi * labels / 3 + rng.normal(0, 0.0, 12)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(np.float32)
    expected = data.split_arrays(X, labels, 0.5, 0, "2-D spirals")
    assert torch.equal(split.X_train, expected.X_train) and torch.equal(split.y_test, expected.y_test)


# ---------------------------------------------------------------- real data from a local folder

def _write_idx(path, array, compress=False):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_load_mnist_reads_idx_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = rng.integers(0, 256, size=(6, 28, 28))
    labels = np.arange(6) % 10
    _write_idx(folder / "train-images-idx3-ubyte.gz", images, compress=True)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", labels, compress=True)
    _write_idx(folder / "t10k-images-idx3-ubyte", images[:2])
    _write_idx(folder / "t10k-labels-idx1-ubyte", labels[:2])
    monkeypatch.setenv("LECTURELIB_DATA", str(tmp_path))
    split = data.load_mnist()
    assert split.X_train.shape == (6, 784) and split.X_test.shape == (2, 784)
    torch.testing.assert_close(split.X_train[3], torch.as_tensor(images[3].ravel() / 255.0, dtype=torch.float32))
    assert split.y_train.tolist() == labels.tolist()
    assert data.load_mnist(tmp_path, flatten=False).X_train.shape == (6, 1, 28, 28)


def test_load_mnist_detects_truncated_idx(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        _write_idx(folder / stem, np.zeros((2, 28, 28)))
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        _write_idx(folder / stem, np.zeros(2))
    raw = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist(tmp_path)


def test_load_cifar10_reads_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    split = data.load_cifar10(tmp_path)
    assert split.X_train.shape == (15, 3, 32, 32) and split.X_test.shape == (3, 3, 32, 32)
    assert split.y_train.tolist() == [1, 2, 3] * 5
    assert 0.0 <= float(split.X_train.min()) and float(split.X_train.max()) <= 1.0


def test_missing_data_folder_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.delenv("LECTURELIB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="LECTURELIB_DATA"):
        data.load_mnist()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        data.load_cifar10(tmp_path)


# ---------------------------------------------------------------- files from outside are checked, never trusted

import errno  # noqa: E402  (kept with the tests that use them)
import os  # noqa: E402
import shlex  # noqa: E402
import warnings  # noqa: E402


def _mnist_folder(tmp_path, n_train=6):
    """A valid tiny MNIST folder (``n_train`` training and 2 test images); returns the file paths by key."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    images, labels = rng.integers(0, 256, size=(n_train, 28, 28)), np.arange(n_train) % 10
    paths = {key: folder / stem for key, stem in files._MNIST_FILES.items()}
    _write_idx(paths["X_train"], images)
    _write_idx(paths["y_train"], labels)
    _write_idx(paths["X_test"], images[:2])
    _write_idx(paths["y_test"], labels[:2])
    return paths


def _idx_bytes(array):
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


def test_load_mnist_refuses_a_truncated_header(tmp_path):
    paths = _mnist_folder(tmp_path)
    paths["X_train"].write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 6))  # two of three sizes missing
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*header"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_a_gz_file_that_is_not_gzip(tmp_path):
    paths = _mnist_folder(tmp_path)
    raw = paths["X_train"].read_bytes()
    paths["X_train"].unlink()
    paths["X_train"].with_name(paths["X_train"].name + ".gz").write_bytes(raw)  # plain bytes named .gz
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*gzip"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_a_truncated_gz_file(tmp_path):
    paths = _mnist_folder(tmp_path)
    packed = gzip.compress(paths["y_test"].read_bytes())
    paths["y_test"].unlink()
    paths["y_test"].with_name(paths["y_test"].name + ".gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*(truncated|corrupt)"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_a_label_file_in_the_image_slot_and_vice_versa(tmp_path):
    paths = _mnist_folder(tmp_path)
    labels, images = paths["y_train"].read_bytes(), paths["X_train"].read_bytes()
    paths["X_train"].write_bytes(labels)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*3-D"):
        data.load_mnist(tmp_path)
    paths["X_train"].write_bytes(images)
    paths["y_test"].write_bytes(images)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*1-D"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_images_that_are_not_28_by_28(tmp_path):
    paths = _mnist_folder(tmp_path)
    paths["X_test"].write_bytes(_idx_bytes(np.zeros((2, 14, 56))))  # the same 784 bytes per image
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.*28x28"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_image_and_label_counts_that_disagree(tmp_path):
    paths = _mnist_folder(tmp_path)
    paths["y_train"].write_bytes(_idx_bytes(np.arange(5)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*6.*train-labels-idx1-ubyte.*5"):
        data.load_mnist(tmp_path)


def test_load_mnist_refuses_labels_outside_0_to_9(tmp_path):
    paths = _mnist_folder(tmp_path)
    paths["y_test"].write_bytes(_idx_bytes(np.array([3, 10])))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*0.*9"):
        data.load_mnist(tmp_path)


_CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _cifar_batch(rows=3, seed=0):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", b"labels": [1, 2, 3][:rows] + [0] * max(rows - 3, 0),
            b"data": rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8),
            b"filenames": [b"image_%d.png" % i for i in range(rows)]}


def _cifar_folder(tmp_path, first=None):
    """Six valid tiny batches pickled with protocol 2, like the Python 2 originals; ``first`` (bytes)
    replaces ``data_batch_1``."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for seed, name in enumerate(_CIFAR_NAMES):
        (folder / name).write_bytes(pickle.dumps(_cifar_batch(seed=seed), protocol=2))
    if first is not None:
        (folder / "data_batch_1").write_bytes(first)
    return folder


def test_load_cifar10_reads_protocol_2_batches_like_the_originals(tmp_path):
    _cifar_folder(tmp_path)
    split = data.load_cifar10(tmp_path)
    assert split.X_train.shape == (15, 3, 32, 32) and split.y_train.tolist() == [1, 2, 3] * 5
    expected = torch.as_tensor(_cifar_batch(seed=5)[b"data"].reshape(-1, 3, 32, 32), dtype=torch.float32) / 255.0
    assert torch.equal(split.X_test, expected)


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def test_load_cifar10_never_runs_code_from_a_batch(tmp_path):
    marker = tmp_path / "executed"
    hostile = _cifar_batch()
    hostile[b"filenames"] = [_Exploit(marker)]
    _cifar_folder(tmp_path, first=pickle.dumps(hostile, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1.*(posix|os)\.system"):
        data.load_cifar10(tmp_path)
    assert not marker.exists()


def _garbage(kind):
    batch = _cifar_batch()
    if kind == "not a pickle":
        return b"GIF89a, not a pickle at all"
    if kind == "not a dict":
        return pickle.dumps([batch[b"data"]], protocol=2)
    if kind == "no data":
        del batch[b"data"]
    elif kind == "labels count":
        batch[b"labels"] = [1, 2]
    elif kind == "row size":
        batch[b"data"] = batch[b"data"].reshape(2, 4608)  # 9216 bytes: 3 images' worth in the wrong rows
    elif kind == "flat data":
        batch[b"data"] = batch[b"data"].reshape(-1)
    elif kind == "not bytes":
        batch[b"data"] = batch[b"data"].astype(np.float64)
    elif kind == "label 10":
        batch[b"labels"] = [1, 2, 10]
    elif kind == "label -1":
        batch[b"labels"] = [1, -1, 2]
    elif kind == "float labels":
        batch[b"labels"] = [1.0, 2.5, 3.0]
    return pickle.dumps(batch, protocol=2)


@pytest.mark.parametrize("kind, what", [
    ("not a pickle", "not a pickle"), ("not a dict", "dict"), ("no data", "b'data'"),
    ("labels count", "2 labels for 3 images"), ("row size", "3072"), ("flat data", "3072"),
    ("not bytes", "uint8"), ("label 10", "0 to 9"), ("label -1", "0 to 9"), ("float labels", "integers"),
])
def test_load_cifar10_refuses_garbage_batches_naming_the_file(tmp_path, kind, what):
    _cifar_folder(tmp_path, first=_garbage(kind))
    with pytest.raises(ValueError, match="data_batch_1") as raised:
        data.load_cifar10(tmp_path)
    assert what in str(raised.value)


# ---------------------------------------------------------------- mnist1d with a cache that cannot keep it

def test_mnist1d_in_a_read_only_cache_generates_warns_once_and_returns(isolated_cache, monkeypatch):
    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", deny)  # every write ends in os.replace; root ignores chmod
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = data.mnist1d(num_samples=100)
        second = data.mnist1d(num_samples=100)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and str(isolated_cache) in messages[0] and "not kept" in messages[0], messages
    assert first.X_train.shape == (80, 40) and torch.equal(first.X_train, second.X_train)
    assert list(isolated_cache.glob("*")) == []


def test_mnist1d_with_a_directory_in_place_of_its_file_generates_and_leaves_it(isolated_cache):
    data.mnist1d(num_samples=100)
    (path,) = isolated_cache.glob("mnist1d-*.pt")
    expected = data.mnist1d(num_samples=100).X_train
    path.unlink()
    path.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = data.mnist1d(num_samples=100)
    assert torch.equal(split.X_train, expected) and path.is_dir()
    assert any("directory" in str(w.message) for w in caught)


# ---------------------------------------------------------------- mutation-guided tests

import re  # noqa: E402


def _split_of_each_kind():
    classification = data.DataSplit(torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]), torch.zeros(3, 2),
                                    torch.tensor([0, 0, 1]), "toy")
    regression = data.DataSplit(torch.zeros(5, 1), torch.zeros(5, 1), torch.zeros(2, 1), torch.zeros(2, 1), "line")
    return classification, regression


def test_datasplit_to_moves_every_tensor_and_keeps_the_rest():
    # catches a field left behind (or dropped) when a split is moved
    split, _ = _split_of_each_kind()
    moved = split.to("meta")
    for name in ("X_train", "y_train", "X_test", "y_test"):
        before, after = getattr(split, name), getattr(moved, name)
        assert after.device.type == "meta" and after.shape == before.shape and after.dtype == before.dtype
    assert moved.description == "toy"
    back = split.to(torch.device("cpu"))
    assert all(torch.equal(getattr(back, n), getattr(split, n)) for n in ("X_train", "y_train", "X_test", "y_test"))


def test_datasplit_repr_names_shapes_and_kind():
    # catches a repr that loses the shapes or mislabels classification and regression
    classification, regression = _split_of_each_kind()
    assert repr(classification) == "DataSplit('toy': train (4, 2), test (3, 2), 3 classes)"
    assert repr(regression) == "DataSplit('line': train (5, 1), test (2, 1), regression)"


def test_idx_files_shorter_than_the_magic_or_with_another_type_are_refused(tmp_path):
    # catches `or` -> `and` and an off-by-one in the length test of the magic bytes
    paths = _mnist_folder(tmp_path)
    paths["X_train"].write_bytes(b"\x00\x00\x08")  # the right type byte, but no ndim byte
    with pytest.raises(ValueError, match=re.escape(f"{paths['X_train']} is not an unsigned-byte IDX file "
                                                   "(magic bytes b'\\x00\\x00\\x08')")):
        data.load_mnist(tmp_path)
    paths["X_train"].write_bytes(b"\x00\x00\x09\x03" + struct.pack(">3I", 0, 28, 28))  # signed bytes (0x09)
    with pytest.raises(ValueError, match=re.escape("(magic bytes b'\\x00\\x00\\t\\x03')") + "$"):
        data.load_mnist(tmp_path)
    paths["X_train"].write_bytes(b"\x00\x00\x08\x03")  # a complete magic, no sizes
    with pytest.raises(ValueError, match=re.escape(f"{paths['X_train']}: IDX header truncated "
                                                   "(4 bytes; a 3-D header has 16)")):
        data.load_mnist(tmp_path)


def test_idx_dimension_mismatch_says_which_kind_of_file_is_where(tmp_path):
    # catches a message that reports the wrong byte, magic or kinds of file
    paths = _mnist_folder(tmp_path)
    labels, images = paths["y_train"].read_bytes(), paths["X_train"].read_bytes()
    paths["X_train"].write_bytes(labels)
    with pytest.raises(ValueError, match=re.escape(f"{paths['X_train']} holds a 1-D IDX array (magic 00000801) but "
                                                   "MNIST images are 3-D: is an") + r"? label file in the place "
                                                   r"of an? image file\?$"):
        data.load_mnist(tmp_path)
    paths["X_train"].write_bytes(images)
    paths["y_test"].write_bytes(images)
    with pytest.raises(ValueError, match=re.escape(f"{paths['y_test']} holds a 3-D IDX array (magic 00000803) but "
                                                   "MNIST labels are 1-D: is an") + r"? image file in the place "
                                                   r"of an? label file\?$"):
        data.load_mnist(tmp_path)


def test_idx_file_with_trailing_bytes_says_how_many(tmp_path):
    # catches a wrong count of surplus bytes
    paths = _mnist_folder(tmp_path)
    paths["y_test"].write_bytes(_idx_bytes(np.array([1, 2])) + b"abc")
    with pytest.raises(ValueError, match=re.escape(f"{paths['y_test']}: 3 bytes after the (2,) array the header "
                                                   "promises")):
        data.load_mnist(tmp_path)


def test_mnist_files_directly_in_the_root_with_empty_test_files_load(tmp_path):
    # catches always looking in <root>/mnist, and a header-only (zero-image) file taken for truncated
    paths = _mnist_folder(tmp_path)
    for key, path in paths.items():
        path.rename(tmp_path / path.name)
    (tmp_path / "mnist").rmdir()
    (tmp_path / paths["X_test"].name).write_bytes(_idx_bytes(np.zeros((0, 28, 28))))
    (tmp_path / paths["y_test"].name).write_bytes(_idx_bytes(np.zeros(0)))
    split = data.load_mnist(tmp_path)
    assert split.X_train.shape == (6, 784) and split.X_test.shape == (0, 784) and split.y_test.shape == (0,)


def _load_under_float64_default(loader, root):
    """``loader(root)`` with torch's default dtype set to float64, restored afterwards."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return loader(root)
    finally:
        torch.set_default_dtype(default)


def test_load_mnist_types_labels_and_description(tmp_path):
    # catches labels left uint8, inputs not float32 under another default dtype, label 9 refused, a lost description
    paths = _mnist_folder(tmp_path)
    paths["y_test"].write_bytes(_idx_bytes(np.array([9, 0])))
    split = _load_under_float64_default(data.load_mnist, tmp_path)
    assert split.X_train.dtype == split.X_test.dtype == torch.float32
    assert split.y_train.dtype == split.y_test.dtype == torch.int64
    assert split.y_test.tolist() == [9, 0] and split.description == "MNIST (28x28, 10 classes)"


def test_missing_mnist_file_message_lists_the_files_and_the_folder(tmp_path):
    # catches a garbled list of the four files or the wrong folder to put them in
    with pytest.raises(FileNotFoundError, match=re.escape(
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) "
            f"in {tmp_path / 'mnist'}/; lecturelib never downloads data.")):
        data.load_mnist(tmp_path)


def test_non_square_mnist_images_report_their_height_and_width(tmp_path):
    # catches reporting the width twice
    paths = _mnist_folder(tmp_path)
    paths["X_test"].write_bytes(_idx_bytes(np.zeros((2, 14, 56))))
    with pytest.raises(ValueError, match=re.escape(f"{paths['X_test']} holds 14x56 images; MNIST's are 28x28")):
        data.load_mnist(tmp_path)


def _offset_split(seed=0, d=4):
    """A small split whose features have different means and spreads (float32)."""
    g = torch.Generator().manual_seed(seed)
    scale, shift = torch.arange(1.0, d + 1), torch.arange(d) * 3.0 - 2.0
    return data.DataSplit(torch.randn(40, d, generator=g) * scale + shift, torch.zeros(40, dtype=torch.int64),
                          torch.randn(10, d, generator=g) * scale + shift, torch.zeros(10, dtype=torch.int64), "raw")


def test_standardize_matches_the_closed_form_on_both_splits():
    # catches a sign flip of the mean, eps subtracted, or the test split left raw
    split = _offset_split()
    Xtr, Xte = split.X_train.double().numpy(), split.X_test.double().numpy()
    mean, std = Xtr.mean(0), Xtr.std(0)
    for eps in (1e-8, 0.5):
        out = data.standardize(split, eps=eps)
        np.testing.assert_allclose(out.X_train.numpy(), (Xtr - mean) / (std + eps), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out.X_test.numpy(), (Xte - mean) / (std + eps), rtol=1e-5, atol=1e-5)
    assert out.description == "raw, standardised" and data.center(split).description == "raw, centred"


def test_whiten_matches_the_closed_form_on_both_splits():
    # catches a global (not per-feature) mean, a sign flip of the mean, eps subtracted, the default n_components
    split = _offset_split(d=3)
    Xtr, Xte = split.X_train.double().numpy(), split.X_test.double().numpy()
    mean = Xtr.mean(0)
    variances, axes = np.linalg.eigh((Xtr - mean).T @ (Xtr - mean) / len(Xtr))
    order = np.argsort(variances)[::-1]
    variances, axes = variances[order], axes[:, order]
    for eps, k in ((0.5, 2), (1e-5, None)):
        out = data.whiten(split, eps=eps) if k is None else data.whiten(split, n_components=k, eps=eps)
        kk = 3 if k is None else k
        transform = axes[:, :kk] / np.sqrt(variances[:kk] + eps)
        for ours, X in ((out.X_train, Xtr), (out.X_test, Xte)):
            expected = (X - mean) @ transform
            signs = np.sign((ours.double().numpy() * expected).sum(0))  # axes are defined up to sign
            np.testing.assert_allclose(ours.double().numpy() * signs, expected, rtol=1e-4, atol=1e-4)
    assert out.description == "raw, whitened"


@pytest.mark.parametrize("transform", [data.pca, data.whiten])
def test_n_components_accepts_exactly_one_to_the_number_of_features(transform):
    # catches a lost or shifted bound on n_components, and a message that does not name it
    split = _offset_split(d=3)
    assert transform(split, n_components=1).X_train.shape == (40, 1)
    assert transform(split, n_components=3).X_train.shape == (40, 3)
    for bad in (0, 4):
        with pytest.raises(ValueError, match=rf"^n_components must be an int >= 1 and <= 3, got {bad}$"):
            transform(split, n_components=bad)


@pytest.mark.parametrize("transform", [data.standardize, data.whiten])
def test_eps_must_be_positive_and_is_named(transform):
    # catches a message that does not name eps
    with pytest.raises(ValueError, match=r"^eps must be a finite number > 0.0, got -1.0$"):
        transform(_offset_split(), eps=-1.0)


def test_data_root_messages_say_what_to_do(monkeypatch):
    # catches garbled guidance when no data folder is given, and a TypeError without the type
    monkeypatch.delenv("LECTURELIB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=re.escape(
            "No data folder given. Set LECTURELIB_DATA to a folder holding mnist/ (the four IDX files, e.g. "
            "train-images-idx3-ubyte.gz) and/or cifar-10-batches-py/ (the python batches), or pass root=...; "
            "lecturelib never downloads data.") + "$"):
        data.data_root()
    with pytest.raises(TypeError, match=r"^root must be a path, got int$"):
        data.data_root(3)


def _cifar_folder_with(tmp_path, batch=None, raw=None, protocol=2):
    """Six valid tiny batches; ``batch`` (a dict, pickled with ``protocol``) or ``raw`` replaces data_batch_1."""
    folder = _cifar_folder(tmp_path)
    if batch is not None:
        raw = pickle.dumps(batch, protocol=protocol)
    if raw is not None:
        (folder / "data_batch_1").write_bytes(raw)
    return folder


def test_cifar_batches_in_the_root_with_array_labels_load_as_float32_and_int64(tmp_path):
    # catches always looking in the subfolder, labels kept uint8, pixels / 256, dtype lost under float64 default
    folder = _cifar_folder(tmp_path)
    first = _cifar_batch(seed=0)
    first[b"labels"] = np.array([0, 9, 5], dtype=np.uint8)  # labels 0 and 9 are valid
    (folder / "data_batch_1").write_bytes(pickle.dumps(first, protocol=2))
    for name in _CIFAR_NAMES:
        (folder / name).rename(tmp_path / name)
    folder.rmdir()
    split = _load_under_float64_default(data.load_cifar10, tmp_path)
    assert split.X_train.dtype == split.X_test.dtype == torch.float32
    assert split.y_train.dtype == split.y_test.dtype == torch.int64
    assert split.y_train.tolist()[:3] == [0, 9, 5] and split.description == "CIFAR-10 (3x32x32, 10 classes)"
    expected = np.concatenate([_cifar_batch(seed=s)[b"data"] for s in range(5)]).reshape(-1, 3, 32, 32) / 255.0
    np.testing.assert_allclose(split.X_train.double().numpy(), expected, rtol=1e-6, atol=0)


def test_cifar_batches_with_the_numpy_1_module_names_or_protocol_5_load(tmp_path):
    # catches a broken allow-list entry for numpy.core (the original files) or _frombuffer (protocol 5)
    batch = _cifar_batch(seed=0)
    old_names = pickle.dumps(batch, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in old_names
    _cifar_folder_with(tmp_path, raw=old_names)
    assert torch.equal(data.load_cifar10(tmp_path).X_train[:3],
                       torch.as_tensor(batch[b"data"].reshape(-1, 3, 32, 32), dtype=torch.float32) / 255.0)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=5))
    assert data.load_cifar10(tmp_path).y_train.tolist()[:3] == [1, 2, 3]


def test_cifar_batch_pickled_by_python_2_keeps_byte_keys(tmp_path):
    # catches an unpickler that decodes Python 2 strings to str (its keys would then be 'data', not b'data')
    images = _cifar_batch(seed=0)[b"data"]
    array = pickle.dumps(images, protocol=2)[2:-1]  # the array's opcodes, without PROTO and STOP
    raw = (b"\x80\x02}(U\x04data" + array + b"U\x06labels]("
           + b"".join(b"K" + bytes([v]) for v in (1, 2, 3)) + b"eu.")  # SHORT_BINSTRING keys, as Python 2 wrote
    _cifar_folder_with(tmp_path, raw=raw)
    split = data.load_cifar10(tmp_path)
    assert split.y_train.tolist()[:3] == [1, 2, 3]


def test_cifar_latin1_strings_accept_both_spellings_and_refuse_other_codecs(tmp_path):
    # catches `or` -> `and` in the check of _codecs.encode, a refused 'latin-1', a message without the type
    raw = pickle.dumps(_cifar_batch(seed=0), protocol=2)
    assert b"X\x06\x00\x00\x00latin1" in raw
    _cifar_folder_with(tmp_path, raw=raw.replace(b"X\x06\x00\x00\x00latin1", b"X\x07\x00\x00\x00latin-1"))
    assert data.load_cifar10(tmp_path).y_train.tolist()[:3] == [1, 2, 3]
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        raw.replace(b"X\x06\x00\x00\x00latin1", b"X\x05\x00\x00\x00utf-8"))
    with pytest.raises(ValueError, match=re.escape("is not a pickle of a CIFAR-10 batch (UnpicklingError: "
                                                   "_codecs.encode(str, 'utf-8') is not bytes)")):
        data.load_cifar10(tmp_path)


def test_cifar_batch_messages_name_what_was_found(tmp_path):
    # catches messages that lose the type found, the missing keys or the list of keys present
    folder = _cifar_folder_with(tmp_path, raw=pickle.dumps([1, 2], protocol=2))
    first = folder / "data_batch_1"
    with pytest.raises(ValueError, match=re.escape("a CIFAR-10 batch is a dict, this pickle holds a list") + "$"):
        data.load_cifar10(tmp_path)
    first.write_bytes(pickle.dumps({k: 0 for k in (b"a", b"b", b"c", b"d", b"e", b"f", b"g")}, protocol=2))
    with pytest.raises(ValueError, match=re.escape(
            "this one lacks b'data' and b'labels' (it has [\"b'a'\", \"b'b'\", \"b'c'\", \"b'd'\", \"b'e'\", "
            "\"b'f'\"])") + "$"):
        data.load_cifar10(tmp_path)
    for images, found in (([0] * 3072, "list"), (np.zeros((3, 3072)), "float64")):
        batch = _cifar_batch()
        batch[b"data"] = images
        first.write_bytes(pickle.dumps(batch, protocol=2))
        with pytest.raises(ValueError, match=re.escape(f"b'data' must be a uint8 numpy array, got {found}") + "$"):
            data.load_cifar10(tmp_path)


@pytest.mark.parametrize("labels", [np.array([1.0, 2.0, 3.0]), np.array([[1, 2, 3]]), np.array([[1], [2], [3]])])
def test_cifar_label_arrays_must_be_one_dimensional_integers(tmp_path, labels):
    # catches `and` -> `or`, an inverted kind test or a wrong ndim in the check of label arrays
    batch = _cifar_batch()
    batch[b"labels"] = labels
    _cifar_folder_with(tmp_path, batch=batch)
    with pytest.raises(ValueError, match=r"b'labels' must be a list of integers, got ndarray$"):
        data.load_cifar10(tmp_path)


def test_missing_cifar_batches_say_where_to_unpack_them(tmp_path):
    # catches a garbled folder name or instruction
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"so that {tmp_path / 'cifar-10-batches-py'}/ holds data_batch_1..5 and test_batch; "
            "lecturelib never downloads data.") + "$"):
        data.load_cifar10(tmp_path)


# ---------------------------------------------------------------- preprocess_matrix: a bare matrix

def _cloud():
    """300 points of a correlated 2-D Gaussian with mean (4, 2) and standard deviations 3 and 0.3 (float64)."""
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rotation = torch.tensor([[0.8, -0.6], [0.6, 0.8]], dtype=torch.float64)
    return torch.tensor([4.0, 2.0], dtype=torch.float64) + (z * torch.tensor([3.0, 0.3], dtype=torch.float64)) @ rotation.T


def test_preprocess_matrix_matches_numpy_closed_forms_in_float64():
    # the reference: numpy's mean, population std and eigh of the covariance, in float64
    X = _cloud().float()
    Xn = X.double().numpy()
    mean, std = Xn.mean(0), Xn.std(0)
    variances, axes = np.linalg.eigh((Xn - mean).T @ (Xn - mean) / len(Xn))
    variances, axes = variances[::-1], axes[:, ::-1]
    expected = {"raw": Xn, "centred": Xn - mean, "standardised": (Xn - mean) / std,
                "PCA": (Xn - mean) @ axes, "whitened": (Xn - mean) @ axes / np.sqrt(variances)}
    for how in data.PREPROCESSINGS:
        Z = data.preprocess_matrix(X, how)
        assert Z.dtype == torch.float64 and Z.shape == X.shape
        ours = Z.numpy()
        if how in ("PCA", "whitened"):  # principal axes are defined up to sign
            ours = ours * np.sign((ours * expected[how]).sum(0))
        np.testing.assert_allclose(ours, expected[how], rtol=1e-10, atol=1e-10)


def test_preprocess_matrix_whitens_and_agrees_with_the_datasplit_transforms():
    # the reference: data.whiten / data.standardize fitted on the same matrix (float32, their own eps)
    X = _cloud()
    Z = data.preprocess_matrix(X, "whitened")
    torch.testing.assert_close(Z.T @ Z / len(Z), torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-10)
    split = data.DataSplit(X.float(), torch.zeros(len(X), dtype=torch.int64), X.float()[:5],
                           torch.zeros(5, dtype=torch.int64))
    for how, transform in (("standardised", data.standardize), ("centred", data.center)):
        torch.testing.assert_close(transform(split).X_train.double(), data.preprocess_matrix(X, how),
                                   rtol=1e-5, atol=1e-5)
    pca = data.pca(split).X_train.double()
    ours = data.preprocess_matrix(X, "PCA")
    torch.testing.assert_close(pca * torch.sign((pca * ours).sum(0)), ours, rtol=1e-4, atol=1e-4)


def test_preprocess_matrix_refuses_unknown_names_and_non_matrices():
    with pytest.raises(ValueError, match="how must be one of 'raw'"):
        data.preprocess_matrix(_cloud(), "sphered")
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        data.preprocess_matrix(torch.zeros(5), "raw")
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        data.preprocess_matrix([[1.0, 2.0]], "raw")
    with pytest.raises(TypeError, match="X must be a floating-point tensor"):
        data.preprocess_matrix(torch.zeros(4, 2, dtype=torch.int64), "raw")
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        data.preprocess_matrix(_cloud(), "standardised", eps=float("nan"))
