#!/usr/bin/env bash
# Fuzz the rctdb-protocol frame decoder for SECONDS (default 30) on the
# stable toolchain. Exits non-zero if libFuzzer finds a crash; the input is
# left in crates/protocol/fuzz/artifacts/frame_decode/.
#
#   scripts/fuzz-protocol.sh [SECONDS]
set -euo pipefail

secs="${1:-30}"
case "$secs" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/../crates/protocol"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# -s none: no sanitizer, which would need nightly's -Zsanitizer. The
# decoder has no unsafe code, so coverage-guided libFuzzer is what we want.
exec cargo fuzz run frame_decode -s none -- -max_total_time="$secs"
