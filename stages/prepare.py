"""DVC stage prepare: merge and clean every source into data/prepared."""

import sys

from ferpipe.data.prepare import run_prepare
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_prepare, *sys.argv[1:])
