#!/usr/bin/env bash
# Issue 7's end-to-end encryption benchmark, one interleaved run: a BIG_MB file (default 1 GiB)
# copied to and got from
#   V1     git-annex's directory remote            V1enc  the same with encryption=shared (GPG)
#   ferry  ferry, directory storage                ferry_enc  ferry with ferry_encryption=aes256gcm
# and writes bench/results/<date>-encryption.md.  REPS_BIG (default 3) repetitions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${FERRY_SHARED:-$root/../shared}
[ -x "$shared/bench/run.sh" ] || { echo "error: $shared/bench/run.sh not found (set FERRY_SHARED)" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin git-annex-remote-ferry
[ -x "${BENCH_VENV:-/tmp/bench/venv}/bin/git-annex" ] || "$shared/bench/setup.sh"

scratch=${SCRATCH:-/tmp/bench/ferry-enc}
rm -rf "$scratch"
REPS_BIG=${REPS_BIG:-3} EXTRA_PATH="$root/target/release" "$shared/bench/run.sh" --scratch "$scratch" \
  --only --workloads W2,W4 \
  --variant directory \
  --variant "ferry=external:ferry:directory={dir}" \
  --variant "ferry_enc=external:ferry:directory={dir} ferry_encryption=aes256gcm" "$@"
mkdir -p "$here/results"
out="$here/results/$(date -u +%Y-%m-%d)-encryption.md"
{
  echo "# ferry encryption vs GPG (git-annex encryption=shared), $(date -u +%Y-%m-%d)"
  echo
  echo "Command: \`bench/encryption.sh $*\` (ferry $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))."
  echo
  sed 's/^/    /' "$scratch/versions.txt" 2>/dev/null || true
  echo
  python3 "$shared/bench/summarize.py" "$scratch/results.csv"
} > "$out"
cp "$scratch/results.csv" "$here/results/$(date -u +%Y-%m-%d)-encryption.csv"
echo "summary: $out"
