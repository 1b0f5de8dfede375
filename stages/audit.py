"""DVC stage audit: find exact and near duplicates across splits and sources; keep them out of training."""

import sys

from ferpipe.runner import run_stage
from ferpipe.stages import audit

if __name__ == "__main__":
    run_stage(audit.run, *sys.argv[1:])
