import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from lecturelib import data


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
    expected = data._split(X, labels, 0.5, 0, "2-D spirals")
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
    paths = {key: folder / stem for key, stem in data._MNIST_FILES.items()}
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
