"""DVC stage train@<model>: fit one model from params, log it to MLflow."""

import sys

from ferpipe.runner import run_stage
from ferpipe.train.stage import run_train

if __name__ == "__main__":
    run_stage(run_train, *sys.argv[1:])
