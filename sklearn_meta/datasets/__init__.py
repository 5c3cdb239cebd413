"""Dataset loaders for few-shot learning benchmarks.

Two small Omniglot subsets ship with the package and need no download; the
full Omniglot set and the official one-shot runs are read from a local
``omniglot.npz`` / ``omniglot_oneshot_runs.npz`` (see :func:`load_omniglot`
for where they are looked for).

mini-ImageNet cannot ship (ImageNet's terms); :func:`load_mini_imagenet` reads
the user's own copy and ships only the class split. :func:`make_sinusoids`
generates the sinusoid regression tasks of the MAML paper.
:func:`dataset_to_paths` turns a dataset that lists its image files (a
torchvision ``ImageFolder``) into ``(paths, labels)`` arrays that
cross-validation can index.
"""

# The file names and folders the loaders look for, importable from here as
# before (they are not part of __all__).
from ._digits import MNIST_FILE as MNIST_FILE
from ._digits import USPS_FILE as USPS_FILE
from ._digits import load_mnist, load_usps, make_digits_shift
from ._home import DATA_HOME_ENV as DATA_HOME_ENV
from ._home import DEFAULT_DATA_HOME as DEFAULT_DATA_HOME
from ._home import get_data_home
from ._image_datasets import dataset_to_paths
from ._mini_imagenet import MINI_IMAGENET_DIR as MINI_IMAGENET_DIR
from ._mini_imagenet import load_mini_imagenet
from ._omniglot import OMNIGLOT_FILE as OMNIGLOT_FILE
from ._omniglot import ONESHOT_FILE as ONESHOT_FILE
from ._omniglot import load_omniglot, load_omniglot_oneshot_runs
from ._sinusoids import make_sinusoids

__all__ = [  # noqa: RUF022 - the order of the API reference
    "load_mnist",
    "load_usps",
    "make_digits_shift",
    "load_omniglot",
    "load_omniglot_oneshot_runs",
    "load_mini_imagenet",
    "make_sinusoids",
    "dataset_to_paths",
    "get_data_home",
]
