#!/usr/bin/env bash
# The Icecast source mode against a real Icecast 2.4, natively (no guest): Debian's icecast2
# with tools/bench/icecast.xml on 127.0.0.1, fed by `omss-server --icecast`, and N listeners
# (`omss-client --http`) that must get every frame intact.
#   tools/bench/icecast-check.sh [N] [SECONDS]     (default 8 listeners, 4 s; needs root)
# BIN (default target/x86_64-unknown-linux-gnu/release) holds omss-server and omss-client.
set -uo pipefail
cd "$(dirname "$0")/../.."
N=${1:-8} SECS=${2:-4} PORT=${ICECAST_PORT:-18000}
BIN=${BIN:-target/x86_64-unknown-linux-gnu/release}
die() { echo "icecast-check: $*" >&2; exit 1; }
[ -x "$BIN/omss-server" ] && [ -x "$BIN/omss-client" ] || die "no omss-server/omss-client in $BIN"
command -v icecast2 >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends icecast2 >/dev/null ||
	die "cannot install icecast2"
dir=$(mktemp -d) && chmod 755 "$dir" && mkdir "$dir/log" && chmod 777 "$dir/log" # Icecast runs as nobody
sed -e "s|@ADDR@|127.0.0.1|g; s|@PORT@|$PORT|g; s|@LOGDIR@|$dir/log|g" tools/bench/icecast.xml >"$dir/icecast.xml"
icecast2 -c "$dir/icecast.xml" >"$dir/icecast.err" 2>&1 &
ice=$!
trap 'kill $ice 2>/dev/null; wait $ice 2>/dev/null' EXIT
for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$PORT " && break; sleep 0.1; done
url=http://127.0.0.1:$PORT/omss
pps=22.857 # 1,400-byte frames at 256 kbit/s
count=$(awk "BEGIN { printf \"%d\", $pps * ($SECS + 1) }")
# The listeners join before the stream starts (Icecast answers them once per pass of its loop).
"$BIN/omss-server" --icecast "$url" --pps $pps --count "$count" --start-delay "$(awk "BEGIN { print 1 + $N / 8 }")" \
	2>"$dir/server.err" &
server=$!
sleep 0.3
"$BIN/omss-client" --http "$url" -n "$N" --http-batch 4 --timeout $((SECS + 30)) --max-loss 0 \
	--max-errors 0 --min-packets $((count - 1)) >"$dir/client.txt" 2>"$dir/client.err"
rc=$?
wait $server
tail -1 "$dir/server.err"
tail -1 "$dir/client.err"
[ $rc -eq 0 ] || { cat "$dir/icecast.err" "$dir/client.txt" >&2; die "FAIL (files in $dir)"; }
rm -rf "$dir"
echo "icecast-check: PASS ($N listeners got all $count frames through Icecast)"
