"""Presets: named sets of params and the runs that rebuild them.

- :mod:`.apply`: ``presets/<name>.yaml`` written into params.yaml (``ferpipe preset``, ``ferpipe restore``);
- :mod:`.reports`: a published report's preset, with its claimed numbers (``presets/reports/``);
- :mod:`.launch`: a report's preset run as a DVC experiment (``ferpipe reproduce``);
- :mod:`.results`: what each report's run measured, recorded in ``results/`` and tabled in the README;
- :mod:`.recipes`: a preset's whole pipeline timed with its budget (``ferpipe recipe``).
"""
