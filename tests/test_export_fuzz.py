"""Fuzzing the HDF5 weight reader: damaged bytes give WeightFileError, nothing else.

A valid file is written once with save_weights; hypothesis then truncates it, flips
bytes in it or replaces it with random bytes, and load_weights must either read it
or refuse it with :class:`WeightFileError`.

Each load runs in a forked child with a time limit, because some damage makes the
HDF5 library loop (see the hang below) and a hung test would stall the suite.
Known failures of models/export.py are pinned as strict xfails at the end; remove
the marks when the reader is fixed.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hebbsim.models.export import WeightFileError, load_weights, save_weights
from hebbsim.models.params import LayerParams

pytestmark = [
    pytest.mark.skipif(
        not hasattr(os, "fork"), reason="the harness forks a child per load (POSIX)"
    ),
    # Python warns that forking a threaded process may deadlock the child; the
    # child only parses one file and exits, and the time limit catches a deadlock.
    pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks"),
]

K, N = 4, 6
TIME_LIMIT_S = 5.0  # a healthy load takes a few ms

# Each example forks (a few ms) and parses HDF5 (about 1 ms); 150 examples keep a
# test near a second while reaching the superblock, B-tree, heap and attribute code.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

KNOWN_BUG = (
    "libhdf5 loops forever on some damaged global heaps; load_weights cannot "
    "interrupt it (FIXME in models/export.py: read in a subprocess with a limit)"
)


@functools.cache
def _valid_bytes() -> bytes:
    """A small valid weight file, written once per session (not a fixture, so that
    hypothesis does not print its 16 kB in failure reports)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.h5"
        save_weights(
            path,
            np.random.default_rng(0).normal(size=(K, N)),
            params=LayerParams(K=K, p=3.0, k=2, seed=1),
            dataset={
                "name": "toy",
                "n_train": 10,
                "n_test": 2,
                "n_inputs": N,
                "image_shape": (2, 3),
                "source": "written by the fuzz test",
                "files": {"toy.gz": "cd" * 32},
            },
            engine="fast",
            device="cpu",
            epochs_done=1,
            wall_time_s=0.5,
            history={"pnorm": np.ones((2, K))},
        )
        return path.read_bytes()


def _outcome(path: Path, data: bytes) -> str:
    """Load `data` in a forked child: "ok", "refused", "hang" or what escaped."""
    path.write_bytes(data)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report in one write, never return into pytest
        os.close(read_end)
        try:
            load_weights(path)
            message = "ok"
        except WeightFileError:
            message = "refused"
        except BaseException as err:
            frame = traceback.extract_tb(err.__traceback__)[-1]
            message = f"{type(err).__name__} at {frame.name}: {err}"
        os.write(write_end, message.encode()[:4000])
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + TIME_LIMIT_S
    status = 0
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.001)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        return "hang"
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    return message or f"crash (wait status {status})"


def _assert_handled(path: Path, data: bytes) -> None:
    outcome = _outcome(path, data)
    assert outcome in ("ok", "refused"), outcome


def test_valid_file_is_read(tmp_path: Path) -> None:
    assert _outcome(tmp_path / "w.h5", _valid_bytes()) == "ok"


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_raise_only_weight_file_error(tmp_path: Path, data: bytes) -> None:
    _assert_handled(tmp_path / "random.h5", data)


@FUZZ
@given(data=st.binary(max_size=256))
def test_hdf5_signature_then_random_bytes_raise_only_weight_file_error(
    tmp_path: Path, data: bytes
) -> None:
    _assert_handled(tmp_path / "signed.h5", b"\x89HDF\r\n\x1a\n" + data)


@FUZZ
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_truncated_file_raises_only_weight_file_error(
    tmp_path: Path, fraction: float
) -> None:
    valid = _valid_bytes()
    _assert_handled(tmp_path / "truncated.h5", valid[: int(fraction * len(valid))])


@FUZZ
@given(
    flips=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
            st.integers(min_value=1, max_value=255),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_flipped_bytes_raise_only_weight_file_error(
    tmp_path: Path, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(_valid_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    outcome = _outcome(tmp_path / "flipped.h5", bytes(data))
    # A hang inside libhdf5 is the known defect pinned by the strict xfail
    # below; every other outcome must be a read or a WeightFileError.
    assert outcome in ("ok", "refused", "hang"), outcome


# --- minimal failing inputs found by the tests above --------------------------------


def _global_heap_offset(data: bytes) -> int:
    # Variable-length string attributes live in a global heap collection, "GCOL".
    offset = data.find(b"GCOL")
    assert offset > 0, "the weight file has no global heap; the layout changed"
    return offset


def test_oversized_heap_object_is_refused(tmp_path: Path) -> None:
    # The heap object holding the value of '/'@format claims 64 kB more than it
    # has; h5py raises OSError("ran off end of input buffer") from f.attrs[...]
    # in _check_format, which load_weights must turn into WeightFileError.
    data = bytearray(_valid_bytes())
    value = data.find(b"hebbsim-weights\0", _global_heap_offset(data))
    size = int.from_bytes(data[value - 8 : value], "little")
    data[value - 8 : value] = (size + 0x10000).to_bytes(8, "little")
    outcome = _outcome(tmp_path / "heap.h5", bytes(data))
    assert outcome in ("ok", "refused"), outcome


@pytest.mark.xfail(reason=KNOWN_BUG, strict=True)
@pytest.mark.skipif(sys.platform != "linux", reason="offsets checked on Linux only")
def test_damaged_heap_collection_size_does_not_hang(tmp_path: Path) -> None:
    # One bit of the global heap collection's size field (0x1000 -> 0x1100):
    # load_weights never returns (killed after TIME_LIMIT_S).
    data = bytearray(_valid_bytes())
    data[_global_heap_offset(data) + 9] ^= 0x01
    outcome = _outcome(tmp_path / "gcol.h5", bytes(data))
    assert outcome in ("ok", "refused"), outcome
