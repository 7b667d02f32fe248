#!/usr/bin/env bash
# Where each point's relay-guest CPU went (its own /proc/stat view), from a benchmark run's logs:
#   tools/bench/breakdown.sh [DIR] [N]     (default build/bench, every subscriber count)
# Per point (medians are left to the report): the busy jiffies of the window split into the
# relay's own threads (OMSS's kthreads, or the user-space relay's process), softirq (the
# network stack's receive and transmit completion work, in any thread), the rest of system
# time, and the busy jiffies per 1,000 packets sent; plus context switches per 1,000 packets.
set -euo pipefail
DIR=${1:-build/bench} ONLY=${2:-}
printf '%-7s %-4s %-7s %5s %3s %7s %7s %7s %9s %9s\n' test proto impl N run busy relay softirq 'j/kpkt' 'ctx/kpkt'
for f in "$DIR"/logs/*.log; do
	b=$(basename "$f" .log)
	IFS=- read -r kind proto impl rest <<<"$b"
	[ "$impl" = omss ] && [[ $rest == m-* ]] && { impl=omss-m; rest=${rest#m-}; }
	IFS=- read -r n payload run <<<"$rest"
	[ -n "$ONLY" ] && [ "$n" != "$ONLY" ] && continue
	line=$(grep '^BENCH-RELAY ' "$f" || true)
	[ -n "$line" ] || continue
	get() { sed -n "s/.*[ ,(]$1=\([0-9]*\).*/\1/p" <<<"$line" | head -1; }
	busy=$(get busy_jiffies) sq=$(get softirq_jiffies) ctxt=$(get ctxt)
	win=$((($(get busy_jiffies) + $(get idle_jiffies)) / 100))
	relay=$(grep -o '(omss/\*)=[0-9]*\|(omss-daemon)=[0-9]*\|(omss-epoll-rela)=[0-9]*' <<<"$line" | head -1 | cut -d= -f2)
	pps=$(awk "BEGIN { print 256000 / ($payload * 8) }")
	awk -v k="$kind" -v p="$proto" -v i="$impl" -v n="$n" -v r="$run" -v busy="$busy" \
		-v relay="${relay:-0}" -v sq="$sq" -v c="$ctxt" -v w="$win" -v pps="$pps" 'BEGIN {
		kp = pps * n * w / 1000
		printf "%-7s %-4s %-7s %5d %3d %7d %7d %7d %9.2f %9.1f\n", k, p, i, n, r, busy, relay, sq, busy / kp, c / kp
	}'
done | sort -k1,1 -k2,2 -k4,4n -k3,3
