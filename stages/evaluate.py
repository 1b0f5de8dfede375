"""DVC stage evaluate@<model>: score one model on validation and test."""

import sys

from ferpipe.evaluate.stage import run_evaluate
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_evaluate, *sys.argv[1:])
