"""Image data sets: MNIST-format IDX readers, CIFAR-10, the embedded default.

Every reader returns a :class:`Dataset`: flattened float32 images in [0, 1], int64
labels, the image shape and the SHA-256 of each file read. :func:`load_dataset` picks a
reader from a spec string such as ``"default"`` or ``"mnist:/data/mnist"`` and can
normalise the images (:func:`normalise_dataset`). :func:`download` fetches MNIST and
Fashion-MNIST into a local cache.
"""

from .cifar import load_cifar10, read_cifar_batch
from .dataset import NORMALISE_MODES, Dataset
from .download import default_cache_dir, download
from .embedded import load_default, split_indices
from .errors import DatasetError
from .idx import read_idx, write_idx
from .mnist import load_fashion_mnist, load_idx_dir, load_mnist
from .normalise import normalise_dataset
from .spec import DATASET_SPECS, load_dataset

__all__ = [
    "DATASET_SPECS",
    "NORMALISE_MODES",
    "Dataset",
    "DatasetError",
    "default_cache_dir",
    "download",
    "load_cifar10",
    "load_dataset",
    "load_default",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_mnist",
    "normalise_dataset",
    "read_cifar_batch",
    "read_idx",
    "split_indices",
    "write_idx",
]
