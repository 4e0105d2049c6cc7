"""hebbsim: competing hidden units with Hebbian-like plasticity, simulated in Brian2.

The package has three layers, each a sub-package:

- :mod:`hebbsim.datasets`: image data sets (MNIST-format IDX files, the embedded
  default of 5,000 MNIST digits).
- :mod:`hebbsim.simulator`: the first layer as continuous-time rate neurons in Brian2.
- :mod:`hebbsim.models`: parameters, the HDF5 weight format and the PyTorch classifier.
"""

import logging

__version__ = "0.1.0"

# Library code never installs handlers; the CLI configures output.
logging.getLogger(__name__).addHandler(logging.NullHandler())
