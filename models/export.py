"""The hebbsim weight file: learned first-layer weights in self-describing HDF5.

A weight file can be read with plain h5py, without hebbsim. Its layout (format
``"hebbsim-weights"``, version 1):

===========================  =========  ================  ======  ===================
HDF5 path                    kind       dtype / shape     units   meaning
===========================  =========  ================  ======  ===================
``/`` @format                attribute  str               --      "hebbsim-weights"
``/`` @format_version        attribute  int               --      layout version, 1
``/`` @hebbsim_version       attribute  str               --      writer's version
``/`` @created               attribute  str               --      ISO 8601, UTC
``/`` @params                attribute  str (JSON)        --      all LayerParams
``/`` @engine, @device       attribute  str               --      what trained W
``/`` @seed, @epochs_done    attribute  int               --      seed, epochs run
``/`` @wall_time_s           attribute  float             s       training time
``/`` @versions              attribute  str (JSON)        --      package versions
``/W``                       dataset    float64 (K, N)    1       weights, row = unit
``/params`` @<field>         attribute  per field         --      LayerParams copy
``/versions`` @<package>     attribute  str               --      or "absent"
``/dataset`` @name, ...      attribute  see below         --      training data
``/dataset/sha256`` @<file>  attribute  str               --      sha256 per file
``/history/<name>``          dataset    float64 (E+1, K)  @units  per-epoch records
===========================  =========  ================  ======  ===================

``/dataset`` carries ``name`` (str), ``n_train``, ``n_test``, ``n_inputs`` (int),
``image_shape`` (int array) and ``source`` (str). Every group and dataset has a
``description`` attribute; every dataset has a ``units`` attribute (``"1"`` for
dimensionless).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import math
import os
import platform
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .params import LayerParams

logger = logging.getLogger(__name__)

FORMAT_NAME = "hebbsim-weights"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

# Packages whose versions decide how a run behaves; recorded in every file.
_VERSIONED_PACKAGES = ("numpy", "brian2", "brian2cuda", "torch", "h5py")

# Root attributes written by save_weights; extra_attrs may not reuse them.
_RESERVED_ATTRS = frozenset(
    {
        "format",
        "format_version",
        "hebbsim_version",
        "created",
        "params",
        "engine",
        "device",
        "seed",
        "epochs_done",
        "wall_time_s",
        "versions",
        "description",
    }
)

_DATASET_KEYS = ("name", "n_train", "n_test", "n_inputs", "image_shape", "source")

# Units and meaning of the history series the engines record; other names are
# stored as dimensionless with a generic description.
_HISTORY_META = {
    "pnorm": (
        "1",
        "sum_i |W_mu_i|^p of each row mu, before training (row 0) and after each "
        "epoch; converges to R^p",
    ),
    "max_dW": ("1", "largest |dW| of the last update of each epoch"),
    "epoch_time_s": ("s", "wall time of each epoch"),
}


class WeightFileError(ValueError):
    """A weight file cannot be written or is not a readable hebbsim weight file."""


@dataclass
class WeightFile:
    """Contents of a hebbsim weight file, as returned by :func:`load_weights`.

    Attributes
    ----------
    W : numpy.ndarray, float64, shape (K, N)
        Learned weights, one row per hidden unit; dimensionless.
    params : LayerParams
        Parameters of the run that produced ``W``.
    attrs : dict
        Root attributes (``format``, ``engine``, ``epochs_done``, ...), as Python
        values; ``params`` and ``versions`` stay JSON strings here.
    dataset : dict
        Identity of the training data: ``name``, ``n_train``, ``n_test``,
        ``n_inputs``, ``image_shape`` (tuple), ``source`` and ``files``
        (file name -> sha256).
    history : dict of str to numpy.ndarray
        Per-epoch records, e.g. ``pnorm`` of shape (epochs_done + 1, K).
    versions : dict of str to str
        Package versions of the writer ("absent" for packages not installed).
    path : pathlib.Path
        The file that was read.
    """

    W: np.ndarray
    params: LayerParams
    attrs: dict[str, Any]
    dataset: dict[str, Any]
    history: dict[str, np.ndarray] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def package_versions() -> dict[str, str]:
    """Versions of Python, hebbsim and the packages that shape a run.

    Returns
    -------
    dict of str to str
        ``python``, ``hebbsim``, ``numpy``, ``brian2``, ``brian2cuda``, ``torch``,
        ``h5py``; a package that is not installed is ``"absent"``.
    """
    from hebbsim import __version__

    versions = {"python": platform.python_version(), "hebbsim": __version__}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def dataset_identity(dataset: Any) -> dict[str, Any]:
    """Build the ``dataset`` argument of :func:`save_weights` from a data set.

    Parameters
    ----------
    dataset : object
        Anything with the attributes ``name``, ``x_train``, ``x_test``,
        ``image_shape``, ``source`` and ``files`` (file name -> sha256), such as
        :class:`hebbsim.datasets.Dataset`.

    Returns
    -------
    dict
        ``name``, ``n_train``, ``n_test``, ``n_inputs``, ``image_shape``,
        ``source`` and ``files``.
    """
    try:
        # The normalisation changes what W was trained on; the name carries it
        # so that format version 1 needs no new field.
        normalise = str(getattr(dataset, "normalise", "none"))
        suffix = "" if normalise == "none" else f" [normalise={normalise}]"
        return {
            "name": str(dataset.name) + suffix,
            "n_train": int(dataset.x_train.shape[0]),
            "n_test": int(dataset.x_test.shape[0]),
            "n_inputs": int(dataset.x_train.shape[1]),
            "image_shape": tuple(int(s) for s in dataset.image_shape),
            "source": str(dataset.source),
            "files": dict(getattr(dataset, "files", {}) or {}),
        }
    except (AttributeError, IndexError, TypeError) as err:
        raise TypeError(
            f"dataset must have name, x_train, x_test, image_shape, source and "
            f"files; got {type(dataset).__name__} ({err})"
        ) from err


def save_weights(
    path: str | os.PathLike,
    W: np.ndarray,
    *,
    params: LayerParams,
    dataset: Mapping[str, Any],
    engine: str,
    device: str,
    epochs_done: int,
    wall_time_s: float,
    history: Mapping[str, np.ndarray] | None = None,
    extra_attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write learned weights and everything needed to trust them to HDF5.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. It is written under a temporary name in the same directory
        and renamed into place, so an interrupted write never leaves a partial
        file at ``path`` nor destroys an existing one.
    W : numpy.ndarray, shape (K, N)
        Weights, dimensionless; stored as float64 (exact for float32 input).
    params : LayerParams
        Parameters of the run; ``params.K`` must equal ``K``.
    dataset : mapping
        Identity of the training data: ``name`` (str), ``n_train``, ``n_test``,
        ``n_inputs`` (int, must equal ``N``), ``image_shape`` (sequence of int),
        ``source`` (str) and optionally ``files`` (file name -> sha256 hex).
        :func:`dataset_identity` builds it from a data set.
    engine : str
        Engine that trained ``W`` (e.g. ``"brian2"``, ``"fast"``).
    device : str
        Device it ran on (e.g. ``"cpp_standalone"``, ``"cuda"``).
    epochs_done : int
        Completed epochs.
    wall_time_s : float, unit s
        Training wall time.
    history : mapping of str to numpy.ndarray, optional
        Per-epoch records, stored under ``/history``; ``pnorm`` is expected with
        shape (epochs_done + 1, K).
    extra_attrs : mapping, optional
        More root attributes: str, bool, int, float or sequences of numbers. Names
        used by the format are refused.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    WeightFileError
        If the directory of ``path`` does not exist or is not writable, or
        ``path`` is a directory.
    ValueError, TypeError
        If ``W``, ``dataset``, ``history`` or ``extra_attrs`` are malformed.
    """
    import h5py

    path = Path(path)

    # Check everything before creating any file.
    W = _check_weights(W, params)
    dataset = _check_dataset(dataset, n_inputs=W.shape[1])
    history = _check_history(history)
    extra = _check_extra_attrs(extra_attrs)
    if isinstance(epochs_done, bool) or not isinstance(epochs_done, int | np.integer):
        raise TypeError(f"epochs_done must be an integer, got {epochs_done!r}")
    if epochs_done < 0:
        raise ValueError(f"epochs_done must be >= 0, got {epochs_done!r}")
    if not math.isfinite(wall_time_s) or wall_time_s < 0:
        raise ValueError(f"wall_time_s must be finite and >= 0, got {wall_time_s!r}")
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise WeightFileError(f"cannot write weight file {path}: it is a directory")
    if not directory.is_dir():
        raise WeightFileError(
            f"cannot write weight file {path}: directory {directory} does not exist; "
            f"create it first"
        )

    # The temporary name is hidden and unique, so concurrent writers of the same
    # path do not collide. Creating it with os.open first gives a plain OSError
    # for an unwritable directory, and the mode honours the user's umask.
    tmp = directory / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as err:
        raise WeightFileError(
            f"cannot write weight file {path}: directory {directory} is not "
            f"writable ({err.strerror or err}); choose another output directory"
        ) from err

    try:
        with h5py.File(tmp, "w") as f:
            _write_root(
                f,
                params=params,
                engine=engine,
                device=device,
                epochs_done=int(epochs_done),
                wall_time_s=float(wall_time_s),
                extra=extra,
            )
            _write_weights(f, W)
            _write_dataset(f, dataset)
            _write_history(f, history)
        os.replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        raise WeightFileError(
            f"writing weight file {path} failed ({err}); any previous file there is "
            f"unchanged"
        ) from err
    except BaseException:
        # Includes KeyboardInterrupt: the destination keeps its old contents.
        _remove_quietly(tmp)
        raise
    logger.info("wrote weights %s (K=%d, N=%d) to %s", engine, *W.shape, path)
    return path


def load_weights(path: str | os.PathLike) -> WeightFile:
    """Read a weight file written by :func:`save_weights`.

    Notes
    -----
    A few single-bit corruptions of HDF5's global heap make libhdf5 itself loop
    forever; Python cannot interrupt that. FIXME: read untrusted files in a
    subprocess with a time limit.

    Parameters
    ----------
    path : str or os.PathLike
        The weight file.

    Returns
    -------
    WeightFile
        Weights, parameters, root attributes, data set identity and history.

    Raises
    ------
    WeightFileError
        If the file is missing, not HDF5, truncated or corrupt, written by another
        tool (no ``format`` attribute, or another format), of an unsupported
        ``format_version``, or if a field is missing or malformed; the message
        names the file and the HDF5 path inside it.
    """
    import h5py

    path = Path(path)

    # Refuse what is not an HDF5 file before h5py's own messages get involved.
    if not path.exists():
        raise WeightFileError(f"weight file {path} does not exist")
    if path.is_dir():
        raise WeightFileError(f"weight file {path} is a directory, not a file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as err:
        raise WeightFileError(f"cannot read weight file {path}: {err}") from err
    if not is_hdf5:
        raise WeightFileError(
            f"{path} is not an HDF5 file (no HDF5 signature); expected a hebbsim "
            f"weight file"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightFileError(
            f"{path} is an HDF5 file that cannot be opened; it is probably truncated "
            f"or corrupt ({err})"
        ) from err

    with f:
        try:
            _check_format(f, path)
            return _read_contents(f, path)
        except WeightFileError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
            # A damaged header, heap or data block surfaces from h5py as any of
            # these (found by flipping single bits of a valid file).
            raise WeightFileError(
                f"{path} is truncated or corrupt; reading failed: "
                f"{type(err).__name__}: {err}"
            ) from err


def _check_weights(W: Any, params: LayerParams) -> np.ndarray:
    if not isinstance(params, LayerParams):
        raise TypeError(f"params must be a LayerParams, got {type(params).__name__}")
    try:
        W = np.asarray(W, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"W must be a numeric array, got {type(W).__name__}") from err
    if W.ndim != 2:
        raise ValueError(f"W must have shape (K, N), got shape {W.shape}")
    if W.shape[0] != params.K:
        raise ValueError(
            f"W has {W.shape[0]} rows but params.K = {params.K}; they must agree"
        )
    if not np.all(np.isfinite(W)):
        raise ValueError(
            f"W has {np.count_nonzero(~np.isfinite(W))} non-finite entries"
        )
    return W


def _check_dataset(dataset: Mapping[str, Any], *, n_inputs: int) -> dict[str, Any]:
    if not isinstance(dataset, Mapping):
        raise TypeError(
            f"dataset must be a mapping (see dataset_identity), got "
            f"{type(dataset).__name__}"
        )
    missing = [key for key in _DATASET_KEYS if key not in dataset]
    if missing:
        raise ValueError(
            f"dataset is missing {missing}; it needs {list(_DATASET_KEYS)} and "
            f"optionally 'files'"
        )
    unknown = sorted(set(dataset) - set(_DATASET_KEYS) - {"files"})
    if unknown:
        raise ValueError(f"dataset has unknown key(s) {unknown}")
    out = {
        "name": str(dataset["name"]),
        "source": str(dataset["source"]),
        "image_shape": tuple(int(s) for s in dataset["image_shape"]),
        "files": {str(k): str(v) for k, v in dict(dataset.get("files") or {}).items()},
    }
    for key in ("n_train", "n_test", "n_inputs"):
        value = dataset[key]
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"dataset[{key!r}] must be an integer, got {value!r}")
        if value < 0:
            raise ValueError(f"dataset[{key!r}] must be >= 0, got {value!r}")
        out[key] = int(value)
    if out["n_inputs"] != n_inputs:
        raise ValueError(
            f"dataset['n_inputs'] = {out['n_inputs']} but W has {n_inputs} columns"
        )
    if math.prod(out["image_shape"]) != n_inputs:
        raise ValueError(
            f"dataset['image_shape'] = {out['image_shape']} does not hold "
            f"{n_inputs} inputs"
        )
    for name, digest in out["files"].items():
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(
                f"dataset['files'][{name!r}] must be a sha256 hex digest (64 "
                f"lowercase hex characters), got {digest!r}"
            )
    return out


def _check_history(history: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    out = {}
    for name, values in dict(history or {}).items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"history name must be a non-empty str without '/': {name!r}"
            )
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"history[{name!r}] must be numeric, got dtype {array.dtype}"
            )
        out[name] = array.astype(np.float64) if array.dtype.kind == "f" else array
    return out


def _check_extra_attrs(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {}
    for key, value in dict(extra or {}).items():
        if key in _RESERVED_ATTRS:
            raise ValueError(
                f"extra_attrs key {key!r} is used by the weight format; reserved "
                f"names: {sorted(_RESERVED_ATTRS)}"
            )
        if isinstance(value, str | bool | int | float | np.number):
            out[key] = value
            continue
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"extra_attrs[{key!r}] must be str, bool, a number or a sequence of "
                f"numbers, got {type(value).__name__}; store other data as json.dumps"
            )
        out[key] = array
    return out


def _write_root(
    f: Any,
    *,
    params: LayerParams,
    engine: str,
    device: str,
    epochs_done: int,
    wall_time_s: float,
    extra: dict[str, Any],
) -> None:
    versions = package_versions()
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["description"] = (
        "first-layer weights of a Krotov-Hopfield competing hidden units network"
    )
    f.attrs["hebbsim_version"] = versions["hebbsim"]
    f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    f.attrs["params"] = params.to_json()
    f.attrs["engine"] = str(engine)
    f.attrs["device"] = str(device)
    f.attrs["seed"] = params.seed
    f.attrs["epochs_done"] = epochs_done
    f.attrs["wall_time_s"] = wall_time_s
    f.attrs["versions"] = json.dumps(versions, sort_keys=True)
    for key, value in extra.items():
        f.attrs[key] = value

    # Copies for h5py users who would rather not parse JSON.
    group = f.create_group("params")
    group.attrs["description"] = "LayerParams fields, one attribute each"
    for name, value in dataclasses.asdict(params).items():
        group.attrs[name] = value
    group = f.create_group("versions")
    group.attrs["description"] = "versions of the packages that wrote this file"
    for name, value in versions.items():
        group.attrs[name] = value


def _write_weights(f: Any, W: np.ndarray) -> None:
    dset = f.create_dataset("W", data=W)
    dset.attrs["units"] = "1"
    dset.attrs["description"] = (
        "first-layer weights W[mu, i]: row mu is hidden unit mu, column i is input "
        "pixel i (row-major image order); drive I_mu = sum_i sign(W)|W|^(p-1) v_i"
    )
    dset.attrs["dims"] = ["K (hidden unit)", "N (input pixel)"]


def _write_dataset(f: Any, dataset: dict[str, Any]) -> None:
    group = f.create_group("dataset")
    group.attrs["description"] = "identity of the training data set"
    for key in _DATASET_KEYS:
        value = dataset[key]
        group.attrs[key] = (
            np.asarray(value, dtype=np.int64) if key == "image_shape" else value
        )
    files = group.create_group("sha256")
    files.attrs["description"] = "sha256 hex digest of each source file, by name"
    for name, digest in dataset["files"].items():
        files.attrs[name] = digest


def _write_history(f: Any, history: dict[str, np.ndarray]) -> None:
    if not history:
        return
    group = f.create_group("history")
    group.attrs["description"] = "records taken during training, one row per epoch"
    for name, values in history.items():
        units, description = _HISTORY_META.get(name, ("1", f"history series {name}"))
        dset = group.create_dataset(name, data=values)
        dset.attrs["units"] = units
        dset.attrs["description"] = description


def _check_format(f: Any, path: Path) -> None:
    if "format" not in f.attrs:
        raise WeightFileError(
            f"{path} is an HDF5 file without a 'format' attribute on its root group "
            f"'/'; it was not written by hebbsim, which expects format "
            f"{FORMAT_NAME!r}"
        )
    found = _plain(f.attrs["format"])
    if found != FORMAT_NAME:
        raise WeightFileError(
            f"{path} has format {found!r} (attribute '/'@format); hebbsim expects "
            f"format {FORMAT_NAME!r}"
        )
    version = _plain(f.attrs.get("format_version"))
    if version not in SUPPORTED_VERSIONS:
        raise WeightFileError(
            f"{path} has format_version {version!r} (attribute '/'@format_version); "
            f"this hebbsim reads version(s) {list(SUPPORTED_VERSIONS)}; upgrade "
            f"hebbsim to read it"
        )


def _read_contents(f: Any, path: Path) -> WeightFile:
    attrs = {key: _plain(value) for key, value in f.attrs.items()}

    # The JSON copy of the parameters is authoritative; /params mirrors it.
    try:
        params = LayerParams.from_dict(json.loads(attrs["params"]))
    except KeyError as err:
        raise WeightFileError(f"{path} lacks the root attribute '/'@params") from err
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise WeightFileError(
            f"{path}: root attribute '/'@params is not valid LayerParams JSON: {err}"
        ) from err
    try:
        versions = json.loads(attrs.get("versions", "{}"))
    except json.JSONDecodeError as err:
        raise WeightFileError(
            f"{path}: root attribute '/'@versions is not valid JSON: {err}"
        ) from err

    # The weights must match the parameters and the data they came from.
    if "W" not in f or not hasattr(f["W"], "shape"):
        raise WeightFileError(f"{path} lacks the dataset '/W'")
    W = np.asarray(f["W"][()], dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != params.K:
        raise WeightFileError(
            f"{path}: dataset '/W' has shape {W.shape}, expected (K, N) with K = "
            f"{params.K} from '/'@params"
        )

    if "dataset" not in f:
        raise WeightFileError(f"{path} lacks the group '/dataset'")
    group = f["dataset"]
    dataset: dict[str, Any] = {}
    for key in _DATASET_KEYS:
        if key not in group.attrs:
            raise WeightFileError(f"{path} lacks the attribute '/dataset'@{key}")
        dataset[key] = _plain(group.attrs[key])
    dataset["image_shape"] = tuple(
        int(s) for s in np.atleast_1d(dataset["image_shape"])
    )
    dataset["files"] = (
        {k: _plain(v) for k, v in group["sha256"].attrs.items() if k != "description"}
        if "sha256" in group
        else {}
    )
    if dataset["n_inputs"] != W.shape[1]:
        raise WeightFileError(
            f"{path}: '/dataset'@n_inputs = {dataset['n_inputs']} but '/W' has "
            f"{W.shape[1]} columns"
        )

    history = {}
    if "history" in f:
        for name, dset in f["history"].items():
            history[name] = dset[()]

    logger.debug("read weights K=%d, N=%d from %s", *W.shape, path)
    return WeightFile(
        W=W,
        params=params,
        attrs=attrs,
        dataset=dataset,
        history=history,
        versions=versions,
        path=path,
    )


def _plain(value: Any) -> Any:
    """Turn an h5py attribute value into a plain Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        logger.warning("could not remove temporary file %s; delete it by hand", path)
