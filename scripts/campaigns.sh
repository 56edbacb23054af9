#!/usr/bin/env bash
# The store's reliability campaigns at full size (README, "Reliability"). CI runs the short
# versions as ordinary test targets; this runs the long ones and prints their figures.
#   bash scripts/campaigns.sh            # all (about 30 minutes on 2 cores)
#   bash scripts/campaigns.sh crash      # one of: crash faults damage fuzz model full-disk
#                                        #   mount-crash soak (each on both backends: the
#                                        #   memmap store and PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
export DAMFS_CAMPAIGN=full
# run BINARY FILTER: the tests of test binary tests/BINARY/ whose names contain FILTER. The
# status is cargo's (a run that prints no matching line is not a failure).
run() {
  cargo test --release --test "$1" -- --nocapture "$2" 2>&1 |
    { grep -E "campaign|soak|export of|I/O calls|test result|panicked|skipp" || true; }
}

[[ $which == all || $which == crash ]] && run campaigns store_crash_campaign::kill_writers
[[ $which == all || $which == faults ]] && run store faults::
[[ $which == all || $which == damage ]] && run store damage::
[[ $which == all || $which == fuzz ]] && PROPTEST_CASES=20000 run store fuzz::
[[ $which == all || $which == model ]] && PROPTEST_CASES=2000 run store model::
[[ $which == all || $which == full-disk ]] && run store full_disk::
# The mount campaigns, memmap then PostgreSQL (1,000 and 300 kills; 5 minutes each soak).
[[ $which == all || $which == mount-crash ]] && run campaigns mount_crash_campaign::
[[ $which == all || $which == soak ]] && run campaigns mount_soak::
exit 0
