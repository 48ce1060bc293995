#!/usr/bin/env bash
# Protocol-level speed of the directory storage, no git-annex in the loop (issue 5's figures):
# CHECKPRESENT/s and STORE/s of 4 KiB objects, with one job and with ASYNC, as measured by the
# conformance suite's perf group (release builds of ferry and of ferry-conformance).
#
#   bench/protocol.sh [N]      N operations per test (default 10000), 3 rounds, interleaved
#
# Columns: ferry on a tmpfs directory (/dev/shm: the cost of ferry and the protocol alone), ferry
# on the project's disk (adds the filesystem's cost of creating a file, which bounds any remote
# that writes files, git-annex's own directory remote too), and `rclone gitannex` (the fastest
# peer in docs/compatibility.md) on the same two places when rclone is in the repository's .venv.
# fsync=no for ferry: with the default fsync=yes a STORE waits for the disk, which measures the
# disk. Writes bench/results/<date>-protocol.md.
#
# A third place, "ext4j", when run as root with loop devices (NO_EXT4_IMAGE=1 skips it): a fresh
# ext4 made with mkfs.ext4's defaults (so with a journal) in a 4 GiB image file on the same disk,
# loop-mounted, holding the store and the suite's scratch files. This project's own root
# filesystem is ext4 *without* a journal, and then ext4 passes over every inode freed in the
# last ~60 s when it allocates one, looking each up in the buffer cache: the perf group removes
# every object it stored, so on that disk each STORE's file creation pays for the deletions
# before it (55% of the remote's samples). A journalled filesystem, the usual setup, does not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${1:-10000}
rounds=${ROUNDS:-3}

cargo build --release --quiet --manifest-path "$root/Cargo.toml" \
  --bin git-annex-remote-ferry --bin ferry-conformance
conf=$root/target/release/ferry-conformance
ferry=$root/target/release/git-annex-remote-ferry
rclone=$root/.venv/bin/rclone

work=$(mktemp -d /tmp/ferry-protocol-bench.XXXXXX)
shm=$(mktemp -d /dev/shm/ferry-protocol-bench.XXXXXX)
ext4=
trap 'if [ -n "$ext4" ]; then umount "$ext4"; fi; rm -rf "$work" "$shm"' EXIT
if [ "$(id -u)" = 0 ] && [ -z "${NO_EXT4_IMAGE:-}" ]; then
  if truncate -s 4G "$work/ext4.img" && mkfs.ext4 -q -F "$work/ext4.img" \
    && mkdir -p "$work/ext4" && mount -o loop "$work/ext4.img" "$work/ext4" 2>/dev/null; then
    ext4=$work/ext4
  else
    echo "no loop-mounted ext4 image (mount -o loop failed): its columns are left out" >&2
  fi
fi
mkdir -p "$work/bin"
if [ -x "$rclone" ]; then
  ln -s "$rclone" "$work/bin/git-annex-remote-rclone-builtin"
  printf '[local]\ntype = local\n' > "$work/rclone.conf"
fi

# run LABEL STOREDIR PROGRAM ARGS...: one perf group run, its figures appended to the CSV.
run() {
  local label=$1 dir=$2
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  "$conf" --group perf --perf-count "$n" --json "$@" 2>/dev/null \
    | python3 -c '
import json, sys
label = sys.argv[1]
report = json.load(sys.stdin)
for t in report["tests"]:
    if t["group"] != "perf":
        continue
    if t["status"] in ("N-A", "SKIP"):
        continue  # e.g. the ASYNC tests of a remote without ASYNC: "n/a" in the table
    if t["status"] != "PASS":
        sys.exit(label + ": " + t["name"] + " did not pass: " + t["detail"])
    jobs = "ASYNC" if t["name"].endswith("_async") else "1"
    for m in t["metrics"]:
        print("%s,%s,%s,%.0f" % (label, m["name"], jobs, m["value"]))
' "$label" >> "$work/results.csv"
}

: > "$work/results.csv"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  run ferry-tmpfs "$shm/ferry" --remote "$ferry" -c "directory=$shm/ferry" -c fsync=no
  run ferry-disk "$work/ferry" --remote "$ferry" -c "directory=$work/ferry" -c fsync=no
  if [ -n "$ext4" ]; then
    TMPDIR=$ext4 run ferry-ext4j "$ext4/ferry" --remote "$ferry" -c "directory=$ext4/ferry" -c fsync=no
  fi
  if [ -x "$rclone" ]; then
    for where in tmpfs disk ${ext4:+ext4j}; do
      case $where in
        tmpfs) d=$shm/rclone tmp=${TMPDIR:-/tmp} ;;
        disk) d=$work/rclone tmp=${TMPDIR:-/tmp} ;;
        ext4j) d=$ext4/rclone tmp=$ext4 ;;
      esac
      TMPDIR=$tmp RCLONE_CONFIG=$work/rclone.conf PATH="$work/bin:$PATH" run "rclone-gitannex-$where" "$d" \
        --remote git-annex-remote-rclone-builtin -c rcloneremotename=local \
        -c "rcloneprefix=$d" -c rclonelayout=lower
    done
  fi
done

mkdir -p "$here/results"
out=$here/results/$(date -u +%Y-%m-%d)-protocol.md
python3 - "$work/results.csv" "$n" "$rounds" "$(git -C "$root" rev-parse --short HEAD)" > "$out" <<'EOF'
import csv, statistics, sys
path, n, rounds, rev = sys.argv[1:5]
rows = list(csv.reader(open(path)))
labels = sorted({r[0] for r in rows}, key=lambda l: (not l.startswith("ferry"), l))
metrics = []
for r in rows:
    if (r[1], r[2]) not in metrics:
        metrics.append((r[1], r[2]))
print(f"# Protocol-level speed, directory storage (ferry {rev})\n")
print(f"`bench/protocol.sh {n}`: {n} operations per test, median of {rounds} interleaved rounds,")
print("release builds, 4 KiB objects, ferry with fsync=no. tmpfs = /dev/shm, disk = the project's")
print("disk (/tmp, ext4 without a journal), ext4j = a journalled ext4 image on that disk (see the")
print("script's header). ops/s, higher is better; `jobs`: 1, or ASYNC with 8 jobs in flight.\n")
print("| measurement | jobs | " + " | ".join(labels) + " |")
print("|---|---|" + "---|" * len(labels))
for name, jobs in metrics:
    cells = []
    for l in labels:
        v = [float(r[3]) for r in rows if r[0] == l and r[1] == name and r[2] == jobs]
        cells.append(f"{statistics.median(v):,.0f}" if v else "n/a")
    print(f"| {name} | {jobs} | " + " | ".join(cells) + " |")
EOF
echo "summary: $out" >&2
cat "$out"
