#!/usr/bin/env bash
# Runs the shared special-remote benchmark (../shared/bench/run.sh) with a ferry column next to
# the peers, in one run, and writes the summary to bench/results/<date>-<workloads>.md.
#
#   bench/run.sh                    full run (about 40 minutes on 2 cores)
#   bench/run.sh --quick            100 small files, 64 MiB big file (about 3 minutes)
#   bench/run.sh --workloads W1,W3  any run.sh flags pass through
#
# Columns: V1 git-annex's directory remote, V2 rclone gitannex, V3 the bash git-annex-remote-rclone,
# V4 ferry (directory storage, lower layout, fsync=yes) and V5 ferry with fsync=no.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${FERRY_SHARED:-$root/../shared}
[ -x "$shared/bench/run.sh" ] || { echo "error: $shared/bench/run.sh not found (set FERRY_SHARED)" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin git-annex-remote-ferry
[ -x "${BENCH_VENV:-/tmp/bench/venv}/bin/git-annex" ] || "$shared/bench/setup.sh"

scratch=${SCRATCH:-/tmp/bench/ferry}
# git-annex honours annex.verify=false for an external special remote only when the user also
# sets remote.NAME.annex-security-allow-unverified-downloads=ACKTHPPT (for its built-in directory
# remote it needs nothing). Set it for the ferry columns, as a user who wants unverified gets
# must, so that W2-get-noverify times ferry's retrieval, not git-annex's SHA-256. W2-get keeps
# verifying (annex.verify stays true there).
export GIT_CONFIG_COUNT=2
export GIT_CONFIG_KEY_0=remote.ferry.annex-security-allow-unverified-downloads GIT_CONFIG_VALUE_0=ACKTHPPT
export GIT_CONFIG_KEY_1=remote.ferry_nofsync.annex-security-allow-unverified-downloads GIT_CONFIG_VALUE_1=ACKTHPPT
rm -rf "$scratch"
EXTRA_PATH="$root/target/release" "$shared/bench/run.sh" --scratch "$scratch" \
  --variant "ferry=external:ferry:directory={dir}" \
  --variant "ferry_nofsync=external:ferry:directory={dir} fsync=no" "$@"
mkdir -p "$here/results"
out="$here/results/$(date -u +%Y-%m-%d)-summary.md"
{
  echo "# ferry vs peers, $(date -u +%Y-%m-%d)"
  echo
  echo "Command: \`bench/run.sh $*\` (ferry $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))."
  echo
  cat "$scratch/versions.txt" 2>/dev/null | sed 's/^/    /'
  echo
  python3 "$shared/bench/summarize.py" "$scratch/results.csv"
} > "$out"
echo "summary: $out"
