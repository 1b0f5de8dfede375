"""Evaluation: metrics, ensembles, plots, and the evaluate and ensemble stages."""
