#!/usr/bin/env bash
# ferry vs `rclone gitannex` on the local S3 and WebDAV servers (scripts/test-servers), issue 6's
# performance targets. Both remotes talk to the same server; runs are interleaved (A B, B A, ...).
#
#   bench/cloud.sh                       all parts (about 15 minutes on 2 idle cores)
#   bench/cloud.sh --parts small,latency,big
#   bench/cloud.sh --quick               tiny sizes, one repetition: checks the script works
#
# Parts (every timed command has `sync; sleep $SETTLE_S` before it; wall time from date +%s%N):
#   small    `git annex copy -J1 --to R` of NSMALL (1000) files of 4 KiB to S3; a fresh remote
#            (new prefix) per run, so every key is really stored. REPS_SMALL (3).
#   latency  the same with NLAT (200) files through bench/delay_proxy.py, which delays every byte
#            the remote sends to the S3 server by LAT_MS (20) ms; -J1 and -J8. REPS_LAT (3).
#            Also -J1 and -J8 without the proxy (nodelay): what git-annex itself allows on this
#            machine. The proxy logs each request line; the counts go into requests-summary.txt.
#   big      one BIG_MB (1024) MiB file: `copy --to`, `get` (git-annex verifies the SHA-256) and
#            `get` with annex.verify=false plus annex-security-allow-unverified-downloads=ACKTHPPT
#            (the remote's own speed), over S3 and over WebDAV. REPS_BIG (3).
#
# rclone gitannex runs as git-annex-remote-rclone-builtin, a symlink to rclone (as in
# scripts/compat-matrix), through rclone remotes `type = s3` (provider Other, path style) and
# `type = webdav` (vendor other) written into $SCRATCH/rclone.conf. Both remotes use the lower
# layout. Results: $SCRATCH/results.csv, summarised into bench/results/<date>-cloud.md (and .csv;
# RESULTS_NAME overrides the name).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export FERRY_VENV=${FERRY_VENV:-/work/main/.venv}
[ -x "$FERRY_VENV/bin/git-annex" ] || { echo "error: no git-annex in $FERRY_VENV (set FERRY_VENV)" >&2; exit 1; }

parts=small,latency,big
quick=
while [ $# -gt 0 ]; do
  case $1 in
    --parts) parts=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: bench/cloud.sh [--parts small,latency,big] [--quick]" >&2; exit 2 ;;
  esac
done
if [ -n "$quick" ]; then
  : "${NSMALL:=50}" "${NLAT:=20}" "${BIG_MB:=64}" "${REPS_SMALL:=1}" "${REPS_LAT:=1}" "${REPS_BIG:=1}"
fi
NSMALL=${NSMALL:-1000} NLAT=${NLAT:-200} BIG_MB=${BIG_MB:-1024} LAT_MS=${LAT_MS:-20}
REPS_SMALL=${REPS_SMALL:-3} REPS_LAT=${REPS_LAT:-3} REPS_BIG=${REPS_BIG:-3}
SETTLE_S=${SETTLE_S:-2} OP_TIMEOUT=${OP_TIMEOUT:-900}
SCRATCH=${SCRATCH:-/tmp/bench/cloud}
wants() { [[ ",$parts," == *",$1,"* ]]; }

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --release --quiet \
  --manifest-path "$root/Cargo.toml" --bin git-annex-remote-ferry

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH/bin"
ln -s "$root/target/release/git-annex-remote-ferry" "$SCRATCH/bin/"
# rclone looks at argv[0]: git-annex-remote-rclone-builtin runs `rclone gitannex`.
ln -s "$FERRY_VENV/bin/rclone" "$SCRATCH/bin/git-annex-remote-rclone-builtin"
export PATH="$SCRATCH/bin:$FERRY_VENV/bin:$PATH"
log=$SCRATCH/log.txt
csv=$SCRATCH/results.csv
echo "part,variant,workload,rep,wall_s,rc,nfiles,bytes,load1,present,cpu_s" >"$csv"

# The servers: this worktree's own (target/test-servers), stopped at the end if we started them.
started_servers=
if ! "$root/scripts/test-servers" env >/dev/null 2>&1; then
  "$root/scripts/test-servers" start >/dev/null
  started_servers=1
fi
# shellcheck disable=SC1090
source "$("$root/scripts/test-servers" env)"
proxy_pid=
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -n "$started_servers" ] && "$root/scripts/test-servers" stop || true
}
trap cleanup EXIT

s3_hostport=${FERRY_TEST_S3_ENDPOINT#http://}
if wants latency; then
  python3 "$here/delay_proxy.py" "$s3_hostport" "$LAT_MS" "$SCRATCH/proxy.port" "$SCRATCH/requests.txt" 2>>"$log" &
  proxy_pid=$!
  for _ in $(seq 100); do [ -s "$SCRATCH/proxy.port" ] && break; sleep 0.05; done
  lat_port=$(cat "$SCRATCH/proxy.port")
fi

export RCLONE_CONFIG=$SCRATCH/rclone.conf
cat >"$RCLONE_CONFIG" <<EOF
[s3]
type = s3
provider = Other
endpoint = $FERRY_TEST_S3_ENDPOINT
access_key_id = $FERRY_TEST_S3_ACCESS_KEY_ID
secret_access_key = $FERRY_TEST_S3_SECRET_ACCESS_KEY
region = $FERRY_TEST_S3_REGION
force_path_style = true

[s3lat]
type = s3
provider = Other
endpoint = http://127.0.0.1:${lat_port:-1}
access_key_id = $FERRY_TEST_S3_ACCESS_KEY_ID
secret_access_key = $FERRY_TEST_S3_SECRET_ACCESS_KEY
region = $FERRY_TEST_S3_REGION
force_path_style = true

[dav]
type = webdav
url = $FERRY_TEST_WEBDAV_URL
vendor = other
user = $FERRY_TEST_WEBDAV_USER
pass = $(rclone obscure "$FERRY_TEST_WEBDAV_PASSWORD")
EOF

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "ferry: $(git -C "$root" rev-parse --short HEAD) (release build)"
  echo "$(git annex version | head -1)"
  echo "$(rclone version | head -1) (rclone gitannex; servers: rclone serve s3 / webdav)"
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sizes: NSMALL=$NSMALL NLAT=$NLAT LAT_MS=$LAT_MS BIG_MB=$BIG_MB; reps small/latency/big = $REPS_SMALL/$REPS_LAT/$REPS_BIG"
} >"$SCRATCH/versions.txt"

repo=$SCRATCH/repo
git init -q "$repo"
cd "$repo"
git config user.email bench@example.org
git config user.name bench
git annex init -q bench >>"$log" 2>&1
mkfiles() { # DIR N: N files of 4 KiB of random data
  mkdir -p "$1"
  local i
  for i in $(seq "$2"); do head -c 4096 /dev/urandom >"$1/f$i"; done
}
wants small && mkfiles small "$NSMALL"
wants latency && mkfiles lat "$NLAT"
wants big && head -c $((BIG_MB * 1048576)) /dev/urandom >big.bin
git annex add -q . >>"$log" 2>&1
git commit -qm files

n_init=0
# init_remote VARIANT STORAGE NAME: a new remote NAME with its own prefix (an empty store).
init_remote() {
  local variant=$1 storage=$2 name=$3 pfx="bench-$3-$$"
  case $variant/$storage in
    ferry/s3 | ferry/s3lat)
      local port=${FERRY_TEST_S3_ENDPOINT##*:}
      [ "$storage" = s3lat ] && port=$lat_port
      AWS_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_ACCESS_KEY \
        git annex initremote "$name" type=external externaltype=ferry storage=s3 bucket="$FERRY_TEST_S3_BUCKET" \
        host=127.0.0.1 port="$port" protocol=http prefix="$pfx" layout=lower encryption=none >>"$log" 2>&1 ;;
    ferry/dav)
      WEBDAV_USERNAME=$FERRY_TEST_WEBDAV_USER WEBDAV_PASSWORD=$FERRY_TEST_WEBDAV_PASSWORD \
        git annex initremote "$name" type=external externaltype=ferry storage=webdav \
        url="$FERRY_TEST_WEBDAV_URL/$pfx" layout=lower encryption=none >>"$log" 2>&1 ;;
    rclone/s3 | rclone/s3lat)
      git annex initremote "$name" type=external externaltype=rclone-builtin rcloneremotename="$storage" \
        rcloneprefix="$FERRY_TEST_S3_BUCKET/$pfx" rclonelayout=lower encryption=none >>"$log" 2>&1 ;;
    rclone/dav)
      git annex initremote "$name" type=external externaltype=rclone-builtin rcloneremotename=dav \
        rcloneprefix="$pfx" rclonelayout=lower encryption=none >>"$log" 2>&1 ;;
  esac
  # Lets `get` skip git-annex's hash when annex.verify=false (external remotes need this too).
  git config "remote.$name.annex-security-allow-unverified-downloads" ACKTHPPT
}

# timed PART VARIANT WORKLOAD REP NFILES BYTES CMD...: runs CMD, appends a CSV row. With
# CHECK="REMOTE PATH" set, the row also says how many files under PATH git-annex then records on
# REMOTE (a copy that skipped files does not count as a fast one).
timed() {
  local part=$1 variant=$2 workload=$3 rep=$4 nfiles=$5 bytes=$6
  shift 6
  sync
  sleep "$SETTLE_S"
  local load t0 t1 rc=0
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "+ [$part $variant $workload rep $rep] $*" >>"$log"
  t0=$(date +%s%N)
  # cpu: user+sys of git-annex and the processes it waited for (the remote included; not the
  # servers).
  /usr/bin/time -f "%U %S" -o "$SCRATCH/cpu.tmp" timeout "$OP_TIMEOUT" "$@" >>"$log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  local present=
  if [ -n "${CHECK:-}" ]; then
    # shellcheck disable=SC2086
    present=$(git annex find --in=${CHECK% *} ${CHECK#* } | wc -l)
  fi
  local cpu
  cpu=$(awk 'NF == 2 {printf "%.2f", $1 + $2}' "$SCRATCH/cpu.tmp")
  echo "$part,$variant,$workload,$rep,$wall,$rc,$nfiles,$bytes,$load,$present,$cpu" >>"$csv"
  printf '%-8s %-7s %-22s rep %s: %8ss rc=%s present=%s cpu=%s (load %s)\n' "$part" "$variant" "$workload" "$rep" "$wall" "$rc" "$present" "$cpu" "$load" >&2
}

# order REP: ferry first on odd reps, rclone first on even ones.
order() { if (($1 % 2)); then echo ferry rclone; else echo rclone ferry; fi; }

if wants small; then
  for rep in $(seq "$REPS_SMALL"); do
    for v in $(order "$rep"); do
      init_remote "$v" s3 "$v-small-$rep"
      CHECK="$v-small-$rep small" timed small "$v" copy-J1 "$rep" "$NSMALL" $((NSMALL * 4096)) git annex copy -J1 --to "$v-small-$rep" small
    done
  done
fi

if wants latency; then
  for rep in $(seq "$REPS_LAT"); do
    for j in 1 8; do
      for v in $(order $((rep + j))); do
        init_remote "$v" s3lat "$v-lat-J$j-$rep"
        : >"$SCRATCH/requests.txt"
        CHECK="$v-lat-J$j-$rep lat" timed latency "$v" "copy-J$j" "$rep" "$NLAT" $((NLAT * 4096)) git annex copy -J$j --to "$v-lat-J$j-$rep" lat
        echo "$v copy-J$j rep $rep: $(wc -l <"$SCRATCH/requests.txt") requests: $(awk '{print $1}' "$SCRATCH/requests.txt" | sort | uniq -c | tr -s ' \n' ' ')" >>"$SCRATCH/requests-summary.txt"
        init_remote "$v" s3 "$v-nodelay-J$j-$rep"
        CHECK="$v-nodelay-J$j-$rep lat" timed latency "$v" "copy-J$j-nodelay" "$rep" "$NLAT" $((NLAT * 4096)) git annex copy -J$j --to "$v-nodelay-J$j-$rep" lat
      done
    done
  done
fi

if wants big; then
  bytes=$((BIG_MB * 1048576))
  for s in s3 dav; do
    for v in ferry rclone; do init_remote "$v" "$s" "$v-$s"; done
  done
  for rep in $(seq "$REPS_BIG"); do
    for s in s3 dav; do
      for v in $(order "$rep"); do
        git annex drop -q --force --from "$v-$s" big.bin >>"$log" 2>&1 || true
        timed "big-$s" "$v" copy "$rep" 1 "$bytes" git annex copy --to "$v-$s" big.bin
      done
      for v in $(order $((rep + 1))); do
        git annex drop -q --force big.bin >>"$log" 2>&1
        timed "big-$s" "$v" get "$rep" 1 "$bytes" git annex get --from "$v-$s" big.bin
      done
      for v in $(order "$rep"); do
        git annex drop -q --force big.bin >>"$log" 2>&1
        timed "big-$s" "$v" get-noverify "$rep" 1 "$bytes" git -c annex.verify=false annex get --from "$v-$s" big.bin
      done
    done
  done
fi

echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$SCRATCH/versions.txt"
mkdir -p "$here/results"
name=${RESULTS_NAME:-$(date -u +%Y-%m-%d)-cloud}
cp "$csv" "$here/results/$name.csv"
python3 "$here/cloud_summary.py" "$csv" "$SCRATCH/versions.txt" "$SCRATCH/requests-summary.txt" >"$here/results/$name.md"
cat "$here/results/$name.md"
