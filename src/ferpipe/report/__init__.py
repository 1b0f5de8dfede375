"""What people look at: plot data for ``dvc plots`` and a self-contained HTML report."""
