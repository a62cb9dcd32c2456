#!/bin/bash
# test_concurrency.sh with registry-sync = normal: the workers commit in their event loops
# (no committer thread); every answered enrollment is still in the registry exactly once.
LK_SYNC=normal exec bash "$(dirname "$0")/test_concurrency.sh"
