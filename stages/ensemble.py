"""DVC stage ensemble: average, weighted average and majority vote of the members."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import ensemble

if __name__ == "__main__":
    run_stage(ensemble.run, *sys.argv[1:])
