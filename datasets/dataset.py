"""The :class:`Dataset` container shared by every reader."""

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["NORMALISE_MODES", "Dataset"]

#: How the pixels of a data set were normalised; see :func:`normalise_dataset`.
NORMALISE_MODES = ("none", "unit", "center")

# A unit-norm row computed in float32 is 1 to about 1e-4 for N = 3072 pixels.
_UNIT_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class Dataset:
    """An image classification data set, split into training and test images.

    Parameters
    ----------
    name : str
        Short human-readable name, e.g. ``"mnist"``.
    x_train : numpy.ndarray of float32, shape (n_train, N)
        Training images, one flattened image per row, pixels scaled to [0, 1]
        (or as `normalise` says).
    y_train : numpy.ndarray of int64, shape (n_train,)
        Training labels, ``0 .. n_classes - 1``.
    x_test : numpy.ndarray of float32, shape (n_test, N)
        Test images, as `x_train`.
    y_test : numpy.ndarray of int64, shape (n_test,)
        Test labels.
    image_shape : tuple of int
        Shape of one image before flattening, e.g. ``(28, 28)``; its product is N.
    files : dict of str to str
        File name -> hex SHA-256 of the file's bytes as stored (compressed, where it
        is), to record exactly which data a run used.
    source : str
        Where the data came from: a directory or a file path.
    normalise : {"none", "unit", "center"}, default "none"
        What was done to the pixels after scaling them to [0, 1]: nothing
        (``"none"``, pixels in [0, 1]); each image divided by its L2 norm
        (``"unit"``, pixels in [0, 1], every non-zero row of norm 1); the training
        set's mean image subtracted (``"center"``, pixels in [-1, 1]). See
        :func:`~hebbsim.datasets.normalise_dataset`.

    Raises
    ------
    DatasetError
        If a dtype, a shape or a label is not as described above, the numbers of
        images and labels differ, `normalise` is not a known mode, or the pixels
        are outside the range that `normalise` allows.

    Notes
    -----
    The dataclass is frozen but the arrays are ordinary writable NumPy arrays: an
    in-place change to ``x_train`` changes the data set. Copy before modifying.
    Equality is identity (``eq=False``): comparing arrays element-wise is not what
    ``==`` on a container should do.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    files: dict[str, str] = field(default_factory=dict)
    source: str = ""
    normalise: str = "none"

    def __post_init__(self) -> None:
        # Checked once here so that code downstream can trust dtypes and shapes.
        try:
            shape = tuple(int(d) for d in self.image_shape)
        except (TypeError, ValueError) as err:
            raise DatasetError(
                f"data set {self.name!r}: image_shape must be a tuple of ints, got "
                f"{self.image_shape!r}"
            ) from err
        object.__setattr__(self, "image_shape", shape)
        if not isinstance(self.normalise, str) or self.normalise not in NORMALISE_MODES:
            accepted = ", ".join(repr(m) for m in NORMALISE_MODES)
            raise DatasetError(
                f"data set {self.name!r}: normalise must be one of {accepted}, got "
                f"{self.normalise!r}"
            )
        low = -1.0 if self.normalise == "center" else 0.0
        expected = (
            "pixels in [-1, 1] for normalise='center'"
            if self.normalise == "center"
            else "pixels scaled to [0, 1]"
        )
        n_inputs = math.prod(self.image_shape)
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2:
                raise DatasetError(
                    f"data set {self.name!r}: x_{split} must be a 2-D float32 array "
                    f"(images x pixels), got {_describe(x)}"
                )
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise DatasetError(
                    f"data set {self.name!r}: y_{split} must be a 1-D int64 array, "
                    f"got {_describe(y)}"
                )
            if x.shape[0] != y.shape[0]:
                raise DatasetError(
                    f"data set {self.name!r}: x_{split} holds {x.shape[0]} images but "
                    f"y_{split} holds {y.shape[0]} labels; expected equal counts"
                )
            if x.shape[1] != n_inputs:
                raise DatasetError(
                    f"data set {self.name!r}: x_{split} has {x.shape[1]} pixels per "
                    f"image, expected {n_inputs} from image_shape {self.image_shape}"
                )
            if y.size and y.min() < 0:
                raise DatasetError(
                    f"data set {self.name!r}: y_{split} holds the label {y.min()}; "
                    "expected labels 0, 1, 2, ..."
                )
            if x.size and not (x.min() >= low and x.max() <= 1.0):
                # Written as "not (in range)" so that NaN fails too.
                raise DatasetError(
                    f"data set {self.name!r}: x_{split} holds values in "
                    f"[{x.min()}, {x.max()}]; expected {expected}"
                )
            if self.normalise == "unit" and x.size:
                norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # (n,)
                bad = (norms != 0) & (np.abs(norms - 1.0) > _UNIT_NORM_TOLERANCE)
                if bad.any():
                    row = int(np.argmax(bad))
                    raise DatasetError(
                        f"data set {self.name!r}: row {row} of x_{split} has L2 norm "
                        f"{norms[row]}; expected 1 (or 0) for normalise='unit'"
                    )

    @property
    def n_inputs(self) -> int:
        """Pixels per image, N (the number of input units)."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return int(self.x_test.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes: one more than the largest label in either split."""
        top = max(
            (int(y.max()) for y in (self.y_train, self.y_test) if y.size), default=-1
        )
        return top + 1

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.image_shape)
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, "
            f"n_test={self.n_test}, image_shape={shape}, "
            f"n_classes={self.n_classes}, source={self.source!r}"
            + (f", normalise={self.normalise!r})" if self.normalise != "none" else ")")
        )


def _describe(value: object) -> str:
    """Name an array's dtype and shape, or the type of anything else, for errors."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
