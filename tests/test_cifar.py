"""CIFAR-10 from its Python batch directory: layout, values, labels, bad files.

No CIFAR-10 copy is available here, so the tests write tiny batches (20 images
each) in the official format: pickled dicts with bytes keys, ``b"data"`` uint8 of
shape (n, 3072) in channel-major R, G, B planes, ``b"labels"`` a list of ints.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hebbsim.datasets import (
    DATASET_SPECS,
    DatasetError,
    load_cifar10,
    load_dataset,
    read_cifar_batch,
)
from hebbsim.datasets.cifar import CIFAR10_FILES

PER_BATCH = 20
CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
CLASSES += [b"dog", b"frog", b"horse", b"ship", b"truck"]


def _batch(seed: int, n: int = PER_BATCH) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def _write(path: Path, obj: object, protocol: int = 2) -> None:
    # Protocol 2 is what Python 2's cPickle wrote for the official archive.
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _write_cifar_dir(directory: Path, *, protocol: int = 2) -> dict[str, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    batches = {}
    for seed, name in enumerate(CIFAR10_FILES[:-1]):
        batches[name] = _batch(seed)
        _write(directory / name, batches[name], protocol)
    meta = {b"label_names": CLASSES, b"num_cases_per_batch": PER_BATCH}
    _write(directory / "batches.meta", meta, protocol)
    return batches


@pytest.fixture
def cifar_dir(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    directory = tmp_path / "cifar-10-batches-py"
    return directory, _write_cifar_dir(directory)


def _raw(batches: dict[str, dict], split: str) -> tuple[np.ndarray, np.ndarray]:
    names = ["test_batch"] if split == "test" else list(CIFAR10_FILES[:5])
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return data, labels


# --- layout and values --------------------------------------------------------------


def test_grey_is_luminance_of_the_rgb_planes(cifar_dir) -> None:
    directory, batches = cifar_dir
    dataset = load_cifar10(directory, flatten="grey")
    assert dataset.name == "cifar10"
    assert dataset.x_train.shape == (5 * PER_BATCH, 1024)
    assert dataset.x_test.shape == (PER_BATCH, 1024)
    assert dataset.image_shape == (32, 32)
    assert dataset.x_train.dtype == np.float32
    data, _ = _raw(batches, "train")
    r, g, b = (data[:, c * 1024 : (c + 1) * 1024].astype(np.float64) for c in range(3))
    expected = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
    np.testing.assert_allclose(dataset.x_train, expected, atol=1e-6)
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


def test_colour_is_pixel_major_rgb_interleaved(cifar_dir) -> None:
    directory, batches = cifar_dir
    dataset = load_cifar10(directory, flatten="colour")
    assert dataset.x_train.shape == (5 * PER_BATCH, 3072)
    assert dataset.image_shape == (32, 32, 3)
    data, _ = _raw(batches, "test")
    image = dataset.x_test[3].reshape(32, 32, 3)  # height x width x channel
    for row, col, channel in [(0, 0, 0), (0, 1, 0), (5, 7, 1), (31, 31, 2)]:
        stored = data[3, channel * 1024 + row * 32 + col]
        assert image[row, col, channel] == np.float32(stored) / np.float32(255.0)
    # The whole array, against an independent reordering.
    planes = data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(
        dataset.x_test, planes.transpose(0, 2, 3, 1).reshape(-1, 3072)
    )


def test_pure_channels_give_their_luma_weights(tmp_path: Path) -> None:
    directory = tmp_path / "pure"
    _write_cifar_dir(directory)
    data = np.zeros((3, 3072), dtype=np.uint8)
    for channel in range(3):
        data[channel, channel * 1024 : (channel + 1) * 1024] = 255
    _write(directory / "test_batch", {b"data": data, b"labels": [0, 1, 2]})
    dataset = load_cifar10(directory)
    np.testing.assert_allclose(dataset.x_test[:, 0], [0.299, 0.587, 0.114], rtol=1e-6)
    white = np.full((1, 3072), 255, dtype=np.uint8)
    _write(directory / "test_batch", {b"data": white, b"labels": [0]})
    assert load_cifar10(directory).x_test.max() == 1.0


def test_labels_are_kept_in_order_and_counted(cifar_dir) -> None:
    directory, batches = cifar_dir
    dataset = load_cifar10(directory)
    _, train_labels = _raw(batches, "train")
    _, test_labels = _raw(batches, "test")
    assert dataset.y_train.dtype == np.int64
    np.testing.assert_array_equal(dataset.y_train, train_labels)
    np.testing.assert_array_equal(dataset.y_test, test_labels)
    assert (
        np.bincount(dataset.y_train, minlength=10).tolist()
        == np.bincount(train_labels, minlength=10).tolist()
    )
    assert dataset.n_classes <= 10


def test_files_record_the_sha256_of_all_seven(cifar_dir) -> None:
    import hashlib

    directory, _ = cifar_dir
    dataset = load_cifar10(directory)
    assert sorted(dataset.files) == sorted(CIFAR10_FILES)
    expected = hashlib.sha256((directory / "test_batch").read_bytes()).hexdigest()
    assert dataset.files["test_batch"] == expected


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_pickled_with_any_protocol_load(tmp_path: Path, protocol: int) -> None:
    directory = tmp_path / f"p{protocol}"
    _write_cifar_dir(directory, protocol=protocol)
    assert load_cifar10(directory).n_train == 5 * PER_BATCH


def test_str_keys_are_accepted_too(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    _write(path, {"data": np.zeros((1, 3072), np.uint8), "labels": [3]}, 4)
    contents, _ = read_cifar_batch(path)
    assert contents["labels"] == [3]


# --- load_dataset specs -------------------------------------------------------------


def test_spec_forms_choose_the_flattening(cifar_dir) -> None:
    directory, _ = cifar_dir
    assert load_dataset(f"cifar10:{directory}").image_shape == (32, 32)
    assert load_dataset(f"cifar10:{directory}:grey").n_inputs == 1024
    assert load_dataset(f"cifar10:{directory}:colour").n_inputs == 3072
    assert any("cifar10:DIR" in form for form in DATASET_SPECS)


def test_spec_directory_may_contain_colons(tmp_path: Path) -> None:
    directory = tmp_path / "a:b"
    _write_cifar_dir(directory)
    assert load_dataset(f"cifar10:{directory}:colour").n_inputs == 3072
    assert load_dataset(f"cifar10:{directory}").n_inputs == 1024


# --- bad arguments and files --------------------------------------------------------


@pytest.mark.parametrize("flatten", ["gray", "color", "rgb", ""])
def test_unknown_flatten_is_rejected_naming_the_choices(cifar_dir, flatten) -> None:
    with pytest.raises(
        DatasetError, match=rf"flatten must be 'grey' or 'colour'.*got '{flatten}'"
    ):
        load_cifar10(cifar_dir[0], flatten=flatten)


def test_missing_batches_are_all_listed(cifar_dir) -> None:
    directory, _ = cifar_dir
    (directory / "data_batch_3").unlink()
    (directory / "batches.meta").unlink()
    with pytest.raises(
        DatasetError, match=r"lacks 2 of the 7 files: data_batch_3, batches.meta"
    ):
        load_cifar10(directory)


def test_missing_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"CIFAR-10 directory .*nowhere does not"):
        load_cifar10(tmp_path / "nowhere")


def test_truncated_batch_is_rejected_with_its_path(cifar_dir) -> None:
    directory, _ = cifar_dir
    path = directory / "data_batch_2"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(
        DatasetError, match=rf"CIFAR-10 file {path} is damaged or not a CIFAR-10"
    ):
        load_cifar10(directory)


def test_batch_of_wrong_width_is_rejected(cifar_dir) -> None:
    directory, _ = cifar_dir
    _write(
        directory / "data_batch_1",
        {b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]},
    )
    with pytest.raises(DatasetError, match=r"3000 values per image; expected 3072"):
        load_cifar10(directory)


def test_batch_with_float_data_is_rejected(cifar_dir) -> None:
    directory, _ = cifar_dir
    _write(
        directory / "test_batch",
        {b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]},
    )
    with pytest.raises(DatasetError, match=r"'data' is a 2-D float32 array"):
        load_cifar10(directory)


def test_label_count_must_match_image_count(cifar_dir) -> None:
    directory, _ = cifar_dir
    _write(
        directory / "test_batch",
        {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]},
    )
    with pytest.raises(DatasetError, match=r"holds 3 images but 2 labels"):
        load_cifar10(directory)


def test_label_beyond_the_class_names_is_rejected(cifar_dir) -> None:
    directory, _ = cifar_dir
    _write(
        directory / "test_batch",
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
    )
    with pytest.raises(DatasetError, match=r"labels in \[0, 10\]; expected 0 to 9"):
        load_cifar10(directory)


def test_batch_without_labels_is_rejected(cifar_dir) -> None:
    directory, _ = cifar_dir
    _write(directory / "data_batch_4", {b"data": np.zeros((1, 3072), np.uint8)})
    with pytest.raises(DatasetError, match=r"has no 'labels' entry"):
        load_cifar10(directory)


def test_pickle_of_a_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    _write(path, [1, 2, 3])
    with pytest.raises(DatasetError, match=r"holds a pickled list; expected a dict"):
        read_cifar_batch(path)


class _Hostile:
    """Unpickling this with plain pickle would run os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    _write(path, {b"data": _Hostile(marker), b"labels": [0]})
    with pytest.raises(DatasetError, match=r"refers to (posix|os)\.system"):
        read_cifar_batch(path)
    assert not marker.exists()


def test_codecs_encode_is_allowed_only_for_latin1(tmp_path: Path) -> None:
    # A hand-written protocol-2 pickle: _codecs.encode("x", "rot13").
    path = tmp_path / "batch"
    path.write_bytes(
        b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R."
    )
    with pytest.raises(DatasetError, match=r"only latin1 is allowed"):
        read_cifar_batch(path)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=64).map(lambda b: b"\x80\x02}q\x00(" + b),
    ),
    cut=st.integers(min_value=0, max_value=2000),
    flips=st.lists(st.integers(min_value=0, max_value=1999), max_size=4),
)
def test_damaged_batches_raise_only_dataset_error(
    tmp_path: Path, data: bytes, cut: int, flips: list[int]
) -> None:
    # Random bytes, and a small valid batch truncated and with bytes flipped.
    valid = bytearray(
        pickle.dumps({b"data": np.ones((1, 3072), np.uint8), b"labels": [1]}, 2)
    )
    for where in flips:
        valid[where % len(valid)] ^= 0x5A
    for candidate in (data, bytes(valid[: cut + 1])):
        path = tmp_path / "batch"
        path.write_bytes(candidate)
        try:
            read_cifar_batch(path)
        except DatasetError:
            pass
