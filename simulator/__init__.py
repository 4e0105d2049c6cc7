"""The first layer as continuous-time rate neurons in Brian2 (C++, CUDA, runtime)."""
