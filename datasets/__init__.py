"""Image data sets: MNIST-format IDX readers and the embedded default."""
