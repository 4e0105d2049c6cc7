"""Parameters, learning engines, the HDF5 weight format and the PyTorch classifier."""
