"""DVC stage report: long-format plot data for `dvc plots` and reports/report.html."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import report

if __name__ == "__main__":
    run_stage(report.run, *sys.argv[1:])
