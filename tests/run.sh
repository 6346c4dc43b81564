#!/usr/bin/env bash
# The one test command of Fjord: everything a fresh machine needs, then every test.
#
#   bash tests/run.sh
#
# 1. from Debian when missing and running as root: kcat (else its tests skip), and
#    libssl-dev + pkg-config (librdkafka's TLS and SCRAM, built by the rdkafka crate)
# 2. a Python venv at ${FJORD_VENV:-.venv} with tests/python/requirements.txt
# 3. cargo build of the fjord-broker and fjord (control plane) binaries
# 4. cargo nextest run --workspace (cargo test --workspace when nextest is missing)
# 5. pytest tests/python against the built binaries (FJORD_BROKER_BIN, FJORD_BIN), including
#    the control plane end to end and schemathesis against its live OpenAPI document
# 6. the TypeScript SDK (openapi/typescript: npm ci, freshness, tsc, node --test against a
#    live fjord dev); the Python SDK is pip-installed into the venv and tested by step 5
# 7. the web console's browser tests (tests/console: npm ci, node --test) in headless
#    Chromium from Debian (installed when missing and running as root; skipped with a
#    WARNING when it cannot be), against the built fjord binary
#
# Respects CARGO_TARGET_DIR. Every step runs even if an earlier test step failed; the exit
# status is non-zero if any step failed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

banner() {
    printf '\n==================== %s ====================\n' "$*"
}

FAILED=()

# ---------------------------------------------------------------------------------------------
banner "kcat"
find_kcat() { command -v kcat || command -v kafkacat || true; }
if [[ -n "$(find_kcat)" ]]; then
    echo "using $(find_kcat)"
elif [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq; then
        # Debian 11+ calls it kcat; older releases kafkacat.
        apt-get install -y -qq kcat || apt-get install -y -qq kafkacat \
            || echo "WARNING: could not install kcat or kafkacat with apt-get; kcat tests will be skipped"
    else
        echo "WARNING: apt-get update failed; kcat tests will be skipped"
    fi
    if [[ -n "$(find_kcat)" ]]; then echo "installed $(find_kcat)"; fi
else
    echo "WARNING: kcat is not installed and cannot be installed here (needs root and apt-get);" \
         "the kcat tests will be skipped"
fi

# ---------------------------------------------------------------------------------------------
banner "OpenSSL headers (librdkafka TLS/SCRAM)"
if pkg-config --exists openssl 2>/dev/null; then
    echo "using OpenSSL $(pkg-config --modversion openssl)"
elif [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config \
        || echo "WARNING: could not install libssl-dev; the rdkafka build will fail"
else
    echo "WARNING: OpenSSL development files (libssl-dev, pkg-config) are missing and cannot be" \
         "installed here; install them, or the rdkafka build will fail"
fi

# ---------------------------------------------------------------------------------------------
banner "python venv"
VENV="${FJORD_VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
# Recreate a venv whose interpreter is gone or broken (e.g. after a Python upgrade).
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
VENV_PYTHON="$(cd "$VENV" && pwd)/bin/python"
"$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
# The generated Python SDK, installed as a user would (tests/python/test_sdk.py drives it).
"$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check ./openapi/python
"$VENV_PYTHON" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -Ei '^(confluent.kafka|kafka.python|pytest) ' || true

# ---------------------------------------------------------------------------------------------
banner "build fjord-broker and fjord"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -p fjord-broker --bin fjord-broker -p fjord-api --bin fjord
BROKER_BIN="$(cd "$TARGET_DIR/debug" && pwd)/fjord-broker"
FJORD_BIN="$(cd "$TARGET_DIR/debug" && pwd)/fjord"
for bin in "$BROKER_BIN" "$FJORD_BIN"; do
    [[ -x "$bin" ]] || { echo "ERROR: $bin was not built"; exit 1; }
done
export FJORD_BROKER_BIN="$BROKER_BIN" FJORD_BIN
echo "FJORD_BROKER_BIN=$FJORD_BROKER_BIN"
echo "FJORD_BIN=$FJORD_BIN"

# ---------------------------------------------------------------------------------------------
banner "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast || FAILED+=("rust tests (cargo nextest)")
else
    echo "cargo-nextest not found; falling back to cargo test"
    cargo test --workspace --no-fail-fast || FAILED+=("rust tests (cargo test)")
fi

# ---------------------------------------------------------------------------------------------
banner "python client tests"
(cd tests/python && "$VENV_PYTHON" -m pytest -ra --durations=10 -p no:cacheprovider) \
    || FAILED+=("python client tests (pytest)")

# ---------------------------------------------------------------------------------------------
banner "TypeScript SDK"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "WARNING: node and npm are missing; the TypeScript SDK checks will be skipped"
else
    # Fresh (openapi/generate.sh), type-checked with tsc, and driven against a live fjord dev.
    (cd openapi/typescript && npm ci --no-audit --no-fund --loglevel=error \
        && bash ../generate.sh --check --only typescript \
        && npm test) \
        || FAILED+=("TypeScript SDK (generate --check, tsc, node --test)")
fi

# ---------------------------------------------------------------------------------------------
banner "console browser tests"
find_chromium() { command -v chromium || command -v chromium-browser || true; }
if [[ -z "$(find_chromium)" ]] && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium \
        || echo "WARNING: could not install chromium with apt-get"
fi
if [[ -z "$(find_chromium)" ]]; then
    echo "WARNING: chromium is not installed and cannot be installed here (needs root and apt-get);" \
         "the console browser tests will be skipped"
elif ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "WARNING: node and npm are missing; the console browser tests will be skipped"
else
    echo "using $(find_chromium) ($("$(find_chromium)" --version 2>/dev/null || true)), node $(node --version)"
    # FJORD_PYTHON: the venv's Python, whose confluent-kafka produces the test records.
    (cd tests/console && npm ci --no-audit --no-fund --loglevel=error \
        && CHROMIUM_BIN="$(find_chromium)" FJORD_PYTHON="$VENV_PYTHON" node --test --test-concurrency=1) \
        || FAILED+=("console browser tests (node --test)")
fi

# ---------------------------------------------------------------------------------------------
banner "summary"
if ((${#FAILED[@]})); then
    printf 'FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "all tests passed"
