"""DVC stage audit: find exact and near duplicates across splits and sources; keep them out of training."""

import sys

from ferpipe.data.audit import run_audit
from ferpipe.runner import run_stage

if __name__ == "__main__":
    run_stage(run_audit, *sys.argv[1:])
