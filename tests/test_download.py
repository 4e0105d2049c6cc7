"""Downloads against a local HTTP server: verify, skip, resume, restart, refuse.

The server (http.server in a thread on 127.0.0.1, an ephemeral port) serves the
MNIST .gz files of ../shared/data/mnist, read in place. Those are recompressed
copies whose digests differ from the published ones, so the tests pass their
digests with ``checksums=``; most use the small t10k files.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hebbsim.cli_download import add_parser
from hebbsim.datasets import DatasetError, default_cache_dir, download, load_mnist
from hebbsim.datasets.download import DOWNLOADS, MIRRORS

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
LABELS = "t10k-labels-idx1-ubyte.gz"  # 4.5 kB
IMAGES = "t10k-images-idx3-ubyte.gz"  # 1.6 MB


class _Server(http.server.ThreadingHTTPServer):
    """Serves `files` by name; `mode` decides how it misbehaves."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.mode = "normal"  # "normal", "drop-once", "ignore-range", "missing"
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        range_header = self.headers.get("Range")
        with self.server.lock:
            self.server.requests.append((name, range_header))
            mode = self.server.mode
            if mode == "drop-once":
                self.server.mode = "normal"
        body = self.server.files.get(name)
        if body is None or mode == "missing":
            self.send_error(404)
            return

        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and mode != "ignore-range":
            start = int(match[1])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "drop-once":
            # Promise the whole file, send half, hang up.
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def mnist_files() -> dict[str, bytes]:
    if not MNIST_DIR.is_dir():
        pytest.skip(f"shared MNIST files {MNIST_DIR} are absent on this machine")
    return {p.name: p.read_bytes() for p in sorted(MNIST_DIR.glob("*.gz"))}


@pytest.fixture
def server(mnist_files: dict[str, bytes]) -> Iterator[_Server]:
    srv = _Server(dict(mnist_files))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def _get(server: _Server, cache: Path, *names: str, **kwargs) -> Path:
    table = {n: _sha(server.files[n]) for n in names}
    return download(
        "mnist",
        cache_dir=cache,
        base_url=server.url,
        checksums=table,
        timeout=5,
        **kwargs,
    )


# --- the normal path ----------------------------------------------------------------


def test_all_four_files_are_fetched_verified_and_loadable(
    server: _Server, tmp_path: Path
) -> None:
    directory = _get(server, tmp_path, *server.files)
    assert directory == tmp_path / "mnist"
    assert sorted(p.name for p in directory.iterdir()) == sorted(server.files)
    dataset = load_mnist(directory)
    assert dataset.x_train.shape == (60000, 784)
    assert np.bincount(dataset.y_test).sum() == 10000


def test_verified_files_are_not_fetched_again(server: _Server, tmp_path: Path) -> None:
    _get(server, tmp_path, LABELS)
    server.requests.clear()
    _get(server, tmp_path, LABELS)
    assert server.requests == []


def test_a_cached_file_with_the_wrong_digest_is_replaced(
    server: _Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / LABELS).write_bytes(b"stale")
    _get(server, tmp_path, LABELS)
    assert (tmp_path / "mnist" / LABELS).read_bytes() == server.files[LABELS]
    assert "downloading it again" in caplog.text


def test_cache_defaults_to_hebbsim_data(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEBBSIM_DATA", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    directory = download(
        "mnist",
        base_url=server.url,
        checksums={LABELS: _sha(server.files[LABELS])},
        timeout=5,
    )
    assert (directory / LABELS).is_file() and directory == tmp_path / "env" / "mnist"
    monkeypatch.delenv("HEBBSIM_DATA")
    assert default_cache_dir() == Path.home() / ".cache" / "hebbsim"


def test_mirrors_are_tried_in_order(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MIRRORS, "mnist", (server.url + "gone/", server.url))
    download(
        "mnist",
        cache_dir=tmp_path,
        checksums={LABELS: _sha(server.files[LABELS])},
        timeout=5,
    )
    assert [path for path, _ in server.requests] == [f"gone/{LABELS}", LABELS]


def test_progress_bar_does_not_change_the_result(
    server: _Server, tmp_path: Path
) -> None:
    directory = _get(server, tmp_path, LABELS, progress=True)
    assert (directory / LABELS).read_bytes() == server.files[LABELS]


# --- failures -----------------------------------------------------------------------


def test_checksum_mismatch_is_refused_and_nothing_is_left(
    server: _Server, tmp_path: Path
) -> None:
    good = server.files[IMAGES]
    server.files[IMAGES] = good[:1000] + bytes([good[1000] ^ 0xFF]) + good[1001:]
    expected, got = _sha(good), _sha(server.files[IMAGES])
    with pytest.raises(
        DatasetError,
        match=rf"downloaded {IMAGES} has SHA-256 {got}, expected {expected}; the "
        "download was deleted",
    ):
        download(
            "mnist",
            cache_dir=tmp_path,
            base_url=server.url,
            checksums={IMAGES: expected},
            timeout=5,
        )
    assert list((tmp_path / "mnist").iterdir()) == []


def test_dropped_connection_resumes_with_a_range_request(
    server: _Server, tmp_path: Path
) -> None:
    size = len(server.files[IMAGES])
    server.mode = "drop-once"
    with pytest.raises(DatasetError, match=r"bytes kept in .*\.part; run again"):
        _get(server, tmp_path, IMAGES)
    part = tmp_path / "mnist" / f"{IMAGES}.part"
    assert part.stat().st_size == size // 2
    assert not (tmp_path / "mnist" / IMAGES).exists()

    _get(server, tmp_path, IMAGES)
    assert server.requests[-1] == (IMAGES, f"bytes={size // 2}-")
    assert (tmp_path / "mnist" / IMAGES).read_bytes() == server.files[IMAGES]
    assert not part.exists()


def test_server_ignoring_range_makes_the_download_start_over(
    server: _Server, tmp_path: Path
) -> None:
    # A .part whose bytes are wrong: appending to it would fail the checksum.
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{IMAGES}.part").write_bytes(b"\0" * 1000)
    server.mode = "ignore-range"
    _get(server, tmp_path, IMAGES)
    assert server.requests == [(IMAGES, "bytes=1000-")]
    assert (tmp_path / "mnist" / IMAGES).read_bytes() == server.files[IMAGES]


def test_part_longer_than_the_file_restarts_after_416(
    server: _Server, tmp_path: Path
) -> None:
    size = len(server.files[LABELS])
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / f"{LABELS}.part").write_bytes(b"\0" * (size + 10))
    _get(server, tmp_path, LABELS)
    assert server.requests == [(LABELS, f"bytes={size + 10}-"), (LABELS, None)]
    assert (tmp_path / "mnist" / LABELS).read_bytes() == server.files[LABELS]


def test_http_error_names_the_url_and_status(server: _Server, tmp_path: Path) -> None:
    server.mode = "missing"
    with pytest.raises(
        DatasetError,
        match=rf"could not download {LABELS} from any URL \(http://127\.0\.0\.1:\d+/"
        rf"{LABELS}: HTTP 404",
    ):
        _get(server, tmp_path, LABELS)


def test_unreachable_server_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"could not download .*URLError"):
        download(
            "mnist",
            cache_dir=tmp_path,
            base_url="http://127.0.0.1:9/",  # the discard port; nothing listens
            checksums={LABELS: "0" * 64},
            timeout=2,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "cifar10"}, r"cannot download 'cifar10': known data sets are"),
        ({"base_url": "ftp://x/"}, r"base_url 'ftp://x/' has scheme 'ftp'"),
        ({"checksums": {LABELS: "abc"}}, r"expected a SHA-256 digest of 64"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    args = {"name": "mnist", "cache_dir": tmp_path, **kwargs}
    with pytest.raises(DatasetError, match=message):
        download(args.pop("name"), **args)
    assert not (tmp_path / "mnist").exists()


def test_published_digests_are_well_formed_for_both_data_sets() -> None:
    for name, table in DOWNLOADS.items():
        assert sorted(table) == sorted(
            f"{stem}.gz"
            for stem in (
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte",
            )
        )
        assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in table.values()), name
        assert len(MIRRORS[name]) >= 2


# --- the command line ---------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hebbsim")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_download_command_help_is_available(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["download", "--help"])
    assert exit_info.value.code == 0
    assert "--base-url" in capsys.readouterr().out


def test_download_command_prints_the_directory(
    server: _Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    table = {LABELS: _sha(server.files[LABELS])}
    monkeypatch.setitem(DOWNLOADS, "mnist", table)
    args = _parser().parse_args(
        ["download", "mnist", "--cache-dir", str(tmp_path), "--base-url", server.url]
    )
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mnist")
    assert (tmp_path / "mnist" / LABELS).is_file()
