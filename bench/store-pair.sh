#!/usr/bin/env bash
# Issue 7's store target, paired: `git annex copy --to` of one BIG_MB file (default 1 GiB, random)
# to a plain ferry directory remote and to one with ferry_encryption=aes256gcm, alternating
# (plain enc, enc plain, ...) so that both columns of a pair see the same machine. Prints one line
# per pair (wall ms of each, enc/plain ratio, user/sys CPU s) and the median ratio.
#   bench/store-pair.sh [PAIRS (default 7)]      env: BIG_MB, SCRATCH, SETTLE_S, FERRY_BIN
# FERRY_BIN is the directory holding git-annex-remote-ferry (default: target/release, built
# here); git-annex comes from PATH (or $FERRY_VENV/bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pairs=${1:-7}
mb=${BIG_MB:-1024}
bin=${FERRY_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin git-annex-remote-ferry
  bin=$root/target/release
fi
export PATH=$bin:${FERRY_VENV:+$FERRY_VENV/bin:}$PATH
scratch=${SCRATCH:-/tmp/bench/ferry-store-pair}
rm -rf "$scratch"
mkdir -p "$scratch/repo" "$scratch/plain" "$scratch/enc"
cd "$scratch/repo"
git init -q
git annex init -q bench
head -c $((mb * 1024 * 1024)) /dev/urandom > big.bin
git annex add -q big.bin
git commit -qm big
git annex initremote -q plain type=external externaltype=ferry directory="$scratch/plain" encryption=none
git annex initremote -q enc type=external externaltype=ferry directory="$scratch/enc" \
  encryption=none ferry_encryption=aes256gcm

# One timed store to remote $1 (untimed drop first); prints "wall_ms user_s sys_s".
store() {
  git annex drop -q --force --from "$1" big.bin >/dev/null 2>&1 || true
  sync
  sleep "${SETTLE_S:-2}"
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$scratch/time" git annex copy -q --to "$1" big.bin
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000)) $(cat "$scratch/time")"
}

ratios=()
for i in $(seq "$pairs"); do
  if ((i % 2)); then p=$(store plain); e=$(store enc); else e=$(store enc); p=$(store plain); fi
  r=$(python3 -c "print(f'{${e%% *}/${p%% *}:.3f}')")
  ratios+=("$r")
  echo "pair $i: plain ${p%% *} ms, enc ${e%% *} ms, ratio $r; cpu user/sys plain ${p#* }, enc ${e#* }"
done
python3 -c "import statistics,sys; r=sorted(map(float,sys.argv[1:])); print(f'median ratio {statistics.median(r):.3f} (min {r[0]:.3f}, max {r[-1]:.3f}, {len(r)} pairs)')" "${ratios[@]}"
rm -rf "$scratch"
