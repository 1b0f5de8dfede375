"""DVC stage train@<model>: fit one model from params, log it to MLflow."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import train

if __name__ == "__main__":
    run_stage(train.run, *sys.argv[1:])
