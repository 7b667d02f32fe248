#!/bin/sh
# Fault injection in the relay's worker threads (failslab and fail_page_alloc, scoped to the
# omss/N kernel threads with task-filter and make-it-fail) during a live 1->16 UDP relay
# (share mode), then a 1->16 TCP relay. A transient allocation failure must not take the
# relay down: no oops (the guest's /init checks dmesg), the stream resumes once the faults
# stop, the errors show in the stats (session rx_errors, sink errors), nothing leaks, and
# rmmod works. Needs the debug kernel (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC,
# FAULT_INJECTION_DEBUG_FS); elsewhere every case is skipped.
. /omss/tests/lib.sh

CASES="udp: faults were injected into the workers' allocations
udp: after the faults the same session relayed a further 150 frames to all 16 subscribers intact
udp: the transient errors were counted in the relay's stats
udp: nothing is left after the relay ended
tcp: faults were injected into the workers' allocations
tcp: after the faults every subscriber got the stream up to its END
tcp: no subscriber lost or saw corrupted bytes of its stream
tcp: the transient errors were counted in the relay's stats
no session, entry or page is left
rmmod after the faults
the module is gone"
ktap_plan "$(echo "$CASES" | wc -l)"

FI=/sys/kernel/debug
mount -t debugfs none $FI 2>/dev/null
if [ ! -d $FI/failslab ] || [ ! -d $FI/fail_page_alloc ]; then
	echo "$CASES" | while read -r c; do skip "$c" "no fault injection in this kernel"; done
	exit $KSFT_PASS
fi

insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }

# Percent of the marked threads' allocations that fail (UDP, TCP), and for how long
# (seconds of guest uptime). TCP relays larger entries with fewer allocations, and a failed
# skb allocation in tcp_sendmsg looks like a full send buffer (EAGAIN), so TCP gets more.
UDP_PCT=1 TCP_PCT=10
FAULT_SECS=3
# `times` counts down by one per injected failure: starting from TIMES, what is left says
# how many were injected (times=-1 would inject as many, without counting).
TIMES=1000000000
N=16
F=/tmp/faults
# Rates low enough for the debug kernel (KASAN, lockdep) under TCG to relay 1->16 without
# overload when no fault is injected.
UDP_RATE=400 UDP_COUNT2=150 TCP_RATE=200 TCP_COUNT=220
# The debug guest can stall for seconds at a time (more so when the host is busy): the
# subscribers wait long before they call a stream idle.
IDLE_MS=30000
# The relay's phase-1 drain, and its idle exit, which must outlast the drain and the gap
# between the phases: 20 s was too short with two debug guests on the host (the relay exited
# before phase 2, whose datagrams then met a closed port).
DRAIN_S=60
# Guest uptime, for the timeline in the diagnostics.
t() { cut -d' ' -f1 /proc/uptime; }

fault_cfg() { echo "$2" >"$FI/$1" || { echo "Bail out! cannot set $FI/$1 to $2"; exit $KSFT_FAIL; }; }
# Arms both fault types at probability 0 (nothing fails yet), scoped to marked tasks.
faults_arm() {
	local d
	for d in failslab fail_page_alloc; do
		fault_cfg $d/probability 0
		fault_cfg $d/verbose 0
		fault_cfg $d/interval 1
		fault_cfg $d/space 0
		fault_cfg $d/times $TIMES
		fault_cfg $d/task-filter Y
		fault_cfg $d/ignore-gfp-wait N
	done
	fault_cfg fail_page_alloc/ignore-gfp-highmem N
	fault_cfg fail_page_alloc/min-order 0
}
# Marks every worker thread, including ones the pool added since the last call; no
# subshell or command, so that it stays cheap in a slow guest.
mark_workers() {
	local f c
	for f in /proc/[0-9]*/comm; do
		{ read -r c <"$f"; } 2>/dev/null || continue
		case $c in omss/[0-9]*) { echo "${1:-1}" >"${f%comm}make-it-fail"; } 2>/dev/null ;; esac
	done
}
# Guest uptime in centiseconds, into $now (/proc/uptime has two decimals).
now_cs() { local up rest; read -r up rest </proc/uptime; now=${up%.*}${up#*.}; }
faults_on() { fault_cfg failslab/probability $1; fault_cfg fail_page_alloc/probability $1; }
faults_off() {
	fault_cfg failslab/probability 0
	fault_cfg fail_page_alloc/probability 0
	mark_workers 0
}
injected() { echo $((TIMES - $(cat $FI/$1/times))); }
# fault_start PCT: marks the workers and turns faults on at PCT percent.
fault_start() {
	runs_on=$(engine_num tasks_run)
	mark_workers
	t_on=$(t)
	fault_pct=$1
	faults_on $1
}
# fault_stop_after NAME SECS: keeps marking new workers every 0.2 s for SECS more seconds of
# guest time, then turns faults off; prints the timeline, the pool and the task runs.
fault_stop_after() {
	local start
	now_cs
	start=$now
	while [ $((now - start)) -lt $(($2 * 100)) ]; do
		sleep 0.2
		mark_workers
		now_cs
	done
	faults_off
	diag "$1: faults ($fault_pct%) on at ${t_on}s, off at $(t)s; injected failures: failslab" \
		"$(injected failslab), fail_page_alloc $(injected fail_page_alloc); workers $(engine_num workers)," \
		"task runs meanwhile $(($(engine_num tasks_run) - runs_on))"
}
# wait_drained PID: waits up to $DRAIN_S s for relay PID to have sent all it holds (no live
# entry; that the relay is still there tells an empty ring from a destroyed session).
wait_drained() {
	local i=0
	while [ $i -lt $((DRAIN_S * 10)) ]; do
		kill -0 "$1" 2>/dev/null || { diag "the relay exited before phase 2"; return 1; }
		[ "$(engine_num entries_live)" = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "the relay still holds entries after $DRAIN_S s: $(omssctl status --json)"
	return 1
}
# errors_counted JSON: the relay's rx_errors (session) plus errors (sinks) > 0.
errors_counted() {
	if ! json_has "$1" rx_errors || ! json_has "$1" errors; then
		diag "the relay's JSON has no rx_errors (session) or errors (sink) field:" \
			"$(head -c 300 "$1")"
		return 1
	fi
	local rx sk
	rx=$(json_sum "$1" rx_errors)
	sk=$(json_sum "$1" errors)
	diag "counted errors: session rx_errors=$rx, sinks' errors=$sk"
	[ $((rx + sk)) -gt 0 ]
}
sink_summary() {
	grep -o '"state":"[a-z]*"' "$1" | tail -n +2 | sort | uniq -c | tr -s ' \n' ' '
	grep -o '"err":[0-9]*' "$1" | sort | uniq -c | tr -s ' \n' ' '
	echo "; the first 2: $(grep -o '{[^{}]*"lag"[^{}]*}' "$1" | head -2 | tr '\n' ' ')"
	echo "; failed: $(grep -o '{[^{}]*"state":"failed"[^{}]*}' "$1" | head -3 | tr '\n' ' ')"
}

rm -rf $F && mkdir -p $F
faults_arm

# 1. UDP 1->16, share mode. Phase 1: a stream with faults on for FAULT_SECS, then 1 s
# without; the server is then killed (no END) so that the subscribers keep their ports and
# no datagram meets a closed port; the relay drains, the phase-1 subscribers stop. Phase 2,
# faults off: a new server and new subscribers on the same ports, the same session; every
# subscriber must get every frame of it. The relay outlives the gap between the phases
# (--idle-exit counts from the last datagram received, not sent: it must cover the drain).
ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n $N --rcvbuf 4194304 --idle-ms 100000 \
	--timeout 300 --json >$F/udp1.json 2>$F/udp1.err
c1=$BG_PID
wait_for_text $F/udp1.err ready
ns_bg relay omssctl relay --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n $N --mode share \
	--idle-exit $((DRAIN_S + 10)) --duration 300 --json >$F/udp-relay.json 2>$F/udp-relay.err
rp=$BG_PID
wait_for_text $F/udp-relay.err relaying
ns_bg src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count 1000000 --rate $UDP_RATE 2>$F/udp1-server.err
s1=$BG_PID
wait_streaming
sleep 0.5
fault_start $UDP_PCT
fault_stop_after udp $FAULT_SECS
udp_slab=$(injected failslab) udp_page=$(injected fail_page_alloc)
sleep 1
kill -KILL $s1 2>/dev/null
wait $s1 2>/dev/null
t_end1=$(t)
wait_drained $rp
t_drained=$(t)
kill -TERM $c1 2>/dev/null
wait_or_kill $c1 10 >/dev/null
diag "udp phase 1 (faults): server stopped at ${t_end1}s, relay drained at ${t_drained}s;" \
	"subscribers: $(tail -1 $F/udp1.err)"
ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n $N --rcvbuf 4194304 --idle-ms $IDLE_MS --timeout 300 \
	--max-loss 0 --max-errors 0 --min-packets $UDP_COUNT2 --expect-count $UDP_COUNT2 --json >$F/udp2.json 2>$F/udp2.err
c2=$BG_PID
wait_for_text $F/udp2.err ready
diag "udp phase 2 starts at $(t)s"
# Its datagrams would meet a closed port (counted by the relay namespace's Udp NoPorts).
kill -0 $rp 2>/dev/null || diag "the relay exited before phase 2's stream: $(tail -2 $F/udp-relay.err | tr '\n' ' ')"
in_src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count $UDP_COUNT2 --rate $UDP_RATE 2>$F/udp2-server.err
# A stall (seen twice on a loaded host: sinks blocked, nothing delivered) is diagnosed while
# it lasts, before the relay gives its sockets up.
if ! exits_within $c2 60; then
	diag "udp phase 2 still running 60 s after its stream: $(omssctl status --json)"
	net_snapshot
	sleep 5
	diag "the same, 5 s later:"
	net_snapshot
	diag "the relay's kernel messages: $(dmesg | grep -i omss | tail -5 | tr '\n' ' ')"
	# What every CPU and every blocked task is doing (sysrq l and w), into the log.
	if [ -w /proc/sysrq-trigger ]; then
		echo l >/proc/sysrq-trigger
		echo w >/proc/sysrq-trigger
		dmesg | tail -150 | sed 's/^/#   /'
	fi
fi
wait_or_kill $c2 260
c2_rc=$?
wait_or_kill $rp $((DRAIN_S + 40))
rp_rc=$?
diag "udp phase 2 (no faults): subscribers rc=$c2_rc: $(tail -1 $F/udp2.err)"
diag "udp relay rc=$rp_rc, $(grep -o '"session":{[^}]*}' $F/udp-relay.json)," \
	"sinks: $(sink_summary $F/udp-relay.json)"
[ $rp_rc -eq 0 ] || tail -3 $F/udp-relay.err | sed 's/^/#   /'
check "udp: faults were injected into the workers' allocations (failslab $udp_slab, fail_page_alloc $udp_page)" \
	[ $((udp_slab + udp_page)) -gt 0 ]
check "udp: after the faults the same session relayed a further $UDP_COUNT2 frames to all $N subscribers intact" \
	[ $c2_rc -eq 0 -a "$(json_num $F/udp2.json packets)" = $((N * UDP_COUNT2)) ]
check "udp: the transient errors were counted in the relay's stats" errors_counted $F/udp-relay.json
check "udp: nothing is left after the relay ended" no_leaks

# 2. TCP 1->16: one stream of 220 frames (about 12 s); faults on from before it starts until
# FAULT_SECS after it flows (a slow guest may take seconds to notice that it does), then
# off while it goes on. TCP carries on after a transient failure: every subscriber must get
# the stream to its END, and with no byte lost or corrupted.
faults_arm
fault_start $TCP_PCT
ns_bg src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 1 --count $TCP_COUNT --rate $TCP_RATE \
	2>$F/tcp-server.err
sp=$BG_PID
ns_bg relay omssctl relay --source-tcp $SRC_IP:6000 --sink-tcp-listen $RELAY_SUB_IP:7000 -n $N \
	--mode share --duration 300 --drain-timeout 20 --json >$F/tcp-relay.json 2>$F/tcp-relay.err
rp=$BG_PID
ns_bg sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n $N --idle-ms $IDLE_MS --timeout 300 \
	--json >$F/tcp.json 2>$F/tcp.err
cp=$BG_PID
wait_streaming
diag "tcp stream flowing at $(t)s"
fault_stop_after tcp $FAULT_SECS
tcp_slab=$(injected failslab) tcp_page=$(injected fail_page_alloc)
wait_or_kill $rp 320
rp_rc=$?
diag "tcp relay ended at $(t)s"
wait_or_kill $sp 30 >/dev/null
wait_or_kill $cp 60
cp_rc=$?
ended=$(json_num $F/tcp.json ended)
diag "tcp subscribers rc=$cp_rc: $(tail -1 $F/tcp.err), $ended ended"
diag "tcp relay rc=$rp_rc, $(grep -o '"session":{[^}]*}' $F/tcp-relay.json)," \
	"sinks: $(sink_summary $F/tcp-relay.json)"
[ $rp_rc -eq 0 ] || tail -3 $F/tcp-relay.err | sed 's/^/#   /'
check "tcp: faults were injected into the workers' allocations (failslab $tcp_slab, fail_page_alloc $tcp_page)" \
	[ $((tcp_slab + tcp_page)) -gt 0 ]
check "tcp: after the faults every subscriber got the stream up to its END ($ended of $N)" [ "$ended" = $N ]
check "tcp: no subscriber lost or saw corrupted bytes of its stream" \
	[ "$(json_num $F/tcp.json lost)" = 0 -a "$(json_num $F/tcp.json errors)" = 0 -a "$(json_num $F/tcp.json packets)" = $((N * TCP_COUNT)) ]
check "tcp: the transient errors were counted in the relay's stats" errors_counted $F/tcp-relay.json

diag "after both relays: $(omssctl status --json)"
check "no session, entry or page is left" no_leaks
check "rmmod after the faults" rmmod omss
check "the module is gone" sh -c '! grep -q "^omss " /proc/modules'
ktap_finish
