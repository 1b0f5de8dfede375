"""DVC stage report: long-format plot data for `dvc plots` and reports/report.html."""

import sys

from ferpipe.report.html import run_report
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_report, *sys.argv[1:])
