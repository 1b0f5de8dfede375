"""DVC stage ensemble: average, weighted average and majority vote of the members."""

import sys

from ferpipe.evaluate.stage import run_ensemble
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_ensemble, *sys.argv[1:])
