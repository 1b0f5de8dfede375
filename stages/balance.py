"""DVC stage balance: rebalance the training split (only) into data/balanced."""

import sys

from ferpipe.data.balance import run_balance
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_balance, *sys.argv[1:])
