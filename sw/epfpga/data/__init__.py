"""Datasets (MNIST and friends, hash-checked) and their on-board image format."""
