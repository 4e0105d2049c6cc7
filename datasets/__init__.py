"""Image data sets: MNIST-format IDX readers and the embedded default.

Every reader returns a :class:`Dataset`: flattened float32 images in [0, 1], int64
labels, the image shape and the SHA-256 of each file read. :func:`load_dataset` picks a
reader from a spec string such as ``"default"`` or ``"mnist:/data/mnist"``.
"""

from .dataset import Dataset
from .embedded import load_default, split_indices
from .errors import DatasetError
from .idx import read_idx, write_idx
from .mnist import load_fashion_mnist, load_idx_dir, load_mnist
from .spec import DATASET_SPECS, load_dataset

__all__ = [
    "DATASET_SPECS",
    "Dataset",
    "DatasetError",
    "load_dataset",
    "load_default",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_mnist",
    "read_idx",
    "split_indices",
    "write_idx",
]
