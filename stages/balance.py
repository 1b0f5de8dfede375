"""DVC stage balance: rebalance the training split (only) into data/balanced."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import balance

if __name__ == "__main__":
    run_stage(balance.run, *sys.argv[1:])
