"""DVC stage download@<source>: materialise one configured source into data/raw/<source>."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import download

if __name__ == "__main__":
    run_stage(download.run, *sys.argv[1:])
