#!/bin/sh
# Lifecycle corners. (a) An idle relay for longer than the hung-task timeout: idle workers
# must sleep interruptibly, so no hung-task report and no load average from them. (b) rmmod
# right after the worker pool has grown, three times. (c) A TCP subscriber that half-closes
# its own side at once (busybox nc with stdin at EOF: the relay's end of the connection is
# in CLOSE_WAIT) is a valid sink and gets the stream.
. /omss/tests/lib.sh
ktap_plan 16
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
L=/tmp/lifecycle
mkdir -p $L
module_gone() { ! grep -q "^omss " /proc/modules; }

# (a) 8 workers (more than the 2 vCPUs), so that uninterruptible idle workers would show:
# 8 tasks in D state for 25 s raise the 1-minute load average by 8 * (1 - e^(-25/60)) = 2.7.
# The session has one sink and no source: the relay waits in accept() for a second
# subscriber that never comes, before it would connect to its source.
IDLE=25
insmod /omss/omss.ko workers=8 workers_max=8 || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
hung=/proc/sys/kernel/hung_task_timeout_secs
[ -f $hung ] && echo 10 >$hung
ns_bg relay omssctl relay --source-tcp $SRC_IP:6000 --sink-tcp-listen $RELAY_SUB_IP:7000 -n 2 --json \
	>$L/idle-relay.json 2>$L/idle-relay.err
rp=$BG_PID
ns_bg sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n 1 --timeout 120 --json \
	>$L/idle-client.json 2>$L/idle-client.err
cp=$BG_PID
wait_for_text $L/idle-client.err ready
sleep 0.5
st=$(omssctl status --json)
diag "idle: $st; load before: $(cat /proc/loadavg)"
live=0
case $st in *'"sessions":1,'*) kill -0 $rp 2>/dev/null && kill -0 $cp 2>/dev/null && live=1 ;; esac
check "idle: a session with one sink and no source is live" [ $live = 1 ]
sleep $IDLE
load=$(cut -d' ' -f1 /proc/loadavg)
hung_lines=$(dmesg | grep -E 'blocked for more than|hung_task')
diag "idle: after ${IDLE}s: loadavg $(cat /proc/loadavg); worker states:" \
	"$(for p in $(omss_worker_pids); do sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/$p/status; done | sort | uniq -c | tr -s ' \n' ' ')"
[ -n "$hung_lines" ] && echo "$hung_lines" | head -5 | sed 's/^/#   /'
if [ -f $hung ]; then
	check "idle ${IDLE}s (hung-task timeout $(cat $hung)s): no hung-task report" [ -z "$hung_lines" ]
else
	skip "idle ${IDLE}s: no hung-task report" "no hung-task detector in this kernel"
fi
check "idle ${IDLE}s with 8 workers: 1-minute load average $load < 1.5" fcmp "$load < 1.5"
kill -TERM $rp $cp 2>/dev/null
wait_or_kill $rp 5 >/dev/null
wait_or_kill $cp 5 >/dev/null
check "idle: the relay stopped, rmmod works" sh -c "rmmod omss && ! grep -q '^omss ' /proc/modules"

# (b) Grow the pool from 1 worker as omss_churn.sh does (128 UDP sinks at 16 Mbit/s), and as
# soon as it has grown, kill the relay (its session goes with the control file) and rmmod
# at once, while the new workers may still be starting; three times.
dmesg_from=$(($(dmesg | wc -l) + 1))
for cycle in 1 2 3; do
	if ! insmod /omss/omss.ko workers=1 workers_max=8; then
		not_ok "cycle $cycle: insmod failed, so the pool could not grow"
		not_ok "cycle $cycle: rmmod right after the pool grew"
		continue
	fi
	ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n 128 --rcvbuf 4194304 --timeout 60 \
		>/dev/null 2>$L/grow-client.err
	cp=$BG_PID
	wait_for_text $L/grow-client.err ready
	ns_bg relay omssctl relay --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n 128 \
		--idle-exit 1.5 --duration 60 --json >$L/grow-relay.json 2>$L/grow-relay.err
	rp=$BG_PID
	wait_for_text $L/grow-relay.err relaying
	ns_bg src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count 3000 --rate 16000 2>/dev/null
	sp=$BG_PID
	w=1 i=0
	while [ $i -lt 200 ] && kill -0 $rp 2>/dev/null; do
		w=$(engine_num workers)
		[ "${w:-0}" -gt 1 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	check "cycle $cycle: the pool grew under overload from 1 to $w workers" [ "${w:-0}" -gt 1 ]
	kill -TERM $rp 2>/dev/null
	wait $rp
	rmmod omss
	rm_rc=$?
	check "cycle $cycle: rmmod right after the pool grew (rc=$rm_rc)" sh -c "[ $rm_rc = 0 ] && ! grep -q '^omss ' /proc/modules"
	kill -TERM $sp $cp 2>/dev/null
	wait_or_kill $sp 5 >/dev/null
	wait_or_kill $cp 5 >/dev/null
	module_gone || rmmod omss 2>/dev/null
done
bad=$(dmesg_bad $dmesg_from)
[ -n "$bad" ] && echo "$bad" | head -10 | sed 's/^/#   /'
check "grow+rmmod cycles: dmesg is clean" [ -z "$bad" ]

# (c) Two TCP subscribers: omss-client (the reference) and, second, busybox nc with stdin
# at EOF, which shuts down its sending side at once and then only reads.
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
COUNT=300
ns_bg src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 1 --count $COUNT --rate 1000 \
	2>$L/hc-server.err
sp=$BG_PID
ns_bg relay omssctl relay --source-tcp $SRC_IP:6000 --sink-tcp-listen $RELAY_SUB_IP:7000 -n 2 \
	--duration 60 --json >$L/hc-relay.json 2>$L/hc-relay.err
rp=$BG_PID
ns_bg sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n 1 --timeout 60 --idle-ms 30000 \
	--max-loss 0 --max-errors 0 --min-packets $COUNT --json >$L/hc-client.json 2>$L/hc-client.err
cp=$BG_PID
wait_for_text $L/hc-client.err ready
ns_bg sub nc $RELAY_SUB_IP 7000 </dev/null >$L/out 2>$L/nc.err
ncp=$BG_PID
# Once the relay has both sinks and its source, the relay's end of nc's connection (local
# port 7000 = 1B58) is in CLOSE_WAIT (08).
wait_for_text $L/hc-relay.err relaying 10 >/dev/null
cw=$(in_relay awk '$2 ~ /:1B58$/ && $4 == "08"' /proc/net/tcp | wc -l)
wait_or_kill $rp 60
rp_rc=$?
# If the relay gave up, nobody will connect to the server: stop it.
wait_or_kill $sp 15 >/dev/null
wait_or_kill $cp 15
cp_rc=$?
wait_or_kill $ncp 10 >/dev/null
ref=$(json_num $L/hc-client.json bytes)
got=$(wc -c <$L/out)
diag "half-closed: relay rc=$rp_rc, $(grep -o '{[^{}]*"lag"[^{}]*}' $L/hc-relay.json | tr '\n' ' ')"
[ $rp_rc -eq 0 ] || tail -3 $L/hc-relay.err | sed 's/^/#   /'
diag "half-closed: reference subscriber rc=$cp_rc: $(tail -1 $L/hc-client.err); nc got $got bytes"
diag "half-closed: when the relay started, $cw relay-side socket(s) of port 7000 were in CLOSE_WAIT" \
	"(0 is expected only if the relay refused nc and closed it)"
check "half-closed: the relay took the half-closed subscriber as a sink and did not fail it" \
	[ $rp_rc -eq 0 -a "$(grep -o '"lag"' $L/hc-relay.json | wc -l)" = 2 \
	-a "$(grep -o '"state":"failed"' $L/hc-relay.json | wc -l)" = 0 ]
check "half-closed: the reference subscriber got all $COUNT frames intact" \
	[ $cp_rc -eq 0 -a "${ref:-0}" -gt 0 ]
check "half-closed: nc received the stream ($got of $ref bytes, at least 90%)" \
	[ "${got:-0}" -gt 0 -a "$((${got:-0} * 10))" -ge "$((${ref:-1} * 9))" ]
diag "after the relay: $(omssctl status --json)"
check "no session, entry or page is left" no_leaks
check "rmmod at the end" rmmod omss
ktap_finish
