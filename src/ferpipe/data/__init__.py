"""Datasets: merging and cleaning, balancing, and the on-disk format the stages hand over."""
