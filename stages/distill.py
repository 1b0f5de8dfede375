"""DVC stage distill@<student>: train one model on the ensemble's probabilities of the training split."""

import sys

from ferpipe.distill import run_distill
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_distill, *sys.argv[1:])
