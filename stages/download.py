"""DVC stage download@<source>: materialise one configured source into data/raw/<source>."""

import sys

from ferpipe.runner import run_stage
from ferpipe.sources import run_download

if __name__ == "__main__":
    run_stage(run_download, *sys.argv[1:])
