"""DVC stage evaluate@<model>: score one model on validation and test."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import evaluate

if __name__ == "__main__":
    run_stage(evaluate.run, *sys.argv[1:])
