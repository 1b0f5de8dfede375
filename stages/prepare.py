"""DVC stage prepare: merge and clean every source into data/prepared."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import prepare

if __name__ == "__main__":
    run_stage(prepare.run, *sys.argv[1:])
