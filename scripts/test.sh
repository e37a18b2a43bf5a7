#!/usr/bin/env bash
# The whole rctdb test suite. Run as root (the integration tests build test
# hosts from network namespaces):
#
#   sudo scripts/test.sh
#
# 1. cargo fmt --check and clippy -D warnings (fail fast),
# 2. build every binary and test target,
# 3. every test: cargo nextest if installed (see .config/nextest.toml),
#    else cargo test,
# 4. fuzz the protocol frame decoder for 30 s (scripts/fuzz-protocol.sh).
#
# Exits non-zero on the first failure. FUZZ_SECONDS=0 skips step 4.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step() { printf '\n=== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the integration tests need root (network namespaces): sudo $0" >&2
    exit 1
fi

# cargo may not be on root's PATH under sudo: use the invoking user's.
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
    home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    if [ -x "$home/.cargo/bin/cargo" ]; then
        export PATH="$home/.cargo/bin:$PATH" CARGO_HOME="$home/.cargo" RUSTUP_HOME="$home/.rustup"
    fi
fi
command -v cargo >/dev/null || { echo "test.sh: cargo not found" >&2; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (binaries the integration tests run, and all test targets)"
cargo build --workspace --bins --all-targets

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    cargo nextest run --workspace
    # nextest does not run doctests.
    step "cargo test --doc"
    cargo test --workspace --doc
else
    step "cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace
fi

fuzz_seconds=${FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != 0 ] && [ -x scripts/fuzz-protocol.sh ]; then
    step "fuzz the frame decoder for ${fuzz_seconds}s"
    scripts/fuzz-protocol.sh "$fuzz_seconds"
elif [ "$fuzz_seconds" != 0 ]; then
    echo "scripts/fuzz-protocol.sh not present: skipping fuzzing"
fi

# Namespaces whose creating test process is gone were not cleaned up.
leftover=""
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^rctdbt-[0-9]+-' || true); do
    owner=${ns#rctdbt-}; owner=${owner%%-*}
    [ -d "/proc/$owner" ] || leftover="$leftover $ns"
done
if [ -n "$leftover" ]; then
    echo "test.sh: namespaces left behind by the tests:$leftover" >&2
    exit 1
fi

step "all tests passed"
