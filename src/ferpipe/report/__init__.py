"""What people read: plot data for ``dvc plots``, a self-contained HTML report, and the params reference."""
