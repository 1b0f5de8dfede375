"""DVC stage distill@<student>: train one model on the ensemble's probabilities of the training split."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import distill

if __name__ == "__main__":
    run_stage(distill.run, *sys.argv[1:])
