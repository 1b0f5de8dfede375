"""DVC stage watch: fingerprint each source's local files, so a change in them reruns its download."""

from ferpipe.runner import run_stage
from ferpipe.stages import watch

if __name__ == "__main__":
    run_stage(watch.run)
