#!/bin/sh
# Slowest-sink-drop with a stalled subscriber, and churn: sinks added and removed
# mid-stream, a sink reset (RST) mid-stream, source EOF, a session destroyed mid-stream,
# the control fd closed mid-stream; the pool grows; nothing leaks; then rmmod.
. /omss/tests/lib.sh
ktap_plan 16
insmod /omss/omss.ko workers=1 workers_max=8 || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }

# The debug kernel (much slower under TCG) carries shorter streams.
STALL_N=3000 STALL_RATE=8000 STALL_RING=32 OVER_N=128 OVER_COUNT=1500 OVER_RATE=16000 CUT_MS=800
[ -n "$SLOW" ] && STALL_N=1500 STALL_RATE=800 STALL_RING=128 OVER_N=64 OVER_COUNT=400 OVER_RATE=8000 CUT_MS=3000

# 1. A stalled TCP subscriber: the ring (32 entries; 128 on the debug kernel) fills, slowest-sink-drop engages, the
# stalled sink's loss shows in its stats, and every other subscriber gets every frame.
RATE=$STALL_RATE CLIENT_ARGS="--stall-subscriber 0" relay_run tcp share 8 $STALL_N --ring $STALL_RING --drain-timeout 2
dropped=$(relay_num entries_dropped)
lossy=$(grep -o '"entries_lost":[0-9]*' $R/relay.json | grep -vc ':0$')
diag "stalled: entries_dropped=$dropped, sinks with losses=$lossy, client: $(tail -1 $R/client.err)"
check_timed "stalled sink: the 7 others got all $STALL_N frames intact" [ $client_rc -eq 0 ]
check "stalled sink: slowest-sink-drop dropped entries ($dropped)" [ "${dropped:-0}" -gt 0 ]
check_timed "stalled sink: exactly one sink shows losses in its stats ($lossy)" [ "$lossy" = 1 ]

# The pool grows when its one worker cannot keep up for long (a backlog of over 50 ms), not
# on the burst of sink tasks that every entry brings: 128 UDP sinks at 16 Mbit/s.
CLIENT_CHECKS="--max-errors 0" RATE=$OVER_RATE relay_run udp share $OVER_N $OVER_COUNT
w=$(engine_num workers)
diag "overload: relay rc=$relay_rc, client: $(tail -1 $R/client.err)"
check "the worker pool grew under overload from 1 to $w threads (cap 8)" [ "${w:-0}" -gt 1 -a "${w:-0}" -le 8 ]

# 2. UDP sinks added and removed mid-stream: 8 at the start, 4 more after 0.6 s, sinks 2
# and 5 removed after 1.2 s. Nobody sees loss or errors within what it was sent. On the
# debug kernel, whose media server can take seconds to start, at 8 and 16 s of a 34 s stream.
ADD_MS=600 AR_RATE=1000
[ -n "$SLOW" ] && ADD_MS=8000 AR_RATE=100
printf 'sleep %s\nadd 4\nsleep %s\nremove 2\nremove 5\n' $ADD_MS $ADD_MS >/tmp/cmds
RATE=$AR_RATE CLIENT_N=12 CLIENT_CHECKS="--max-loss 0 --max-errors 0" relay_run udp share 8 300 --commands /tmp/cmds
pk=$(sub_packets | tr '\n' ' ')
diag "add/remove: per-subscriber packets: $pk"
check "add/remove: no loss, no integrity errors for anyone" [ $client_rc -eq 0 -a $relay_rc -eq 0 ]
full=0 partial=0
for p in $pk; do
	if [ "$p" = 300 ]; then full=$((full + 1)); elif [ "$p" -gt 0 ]; then partial=$((partial + 1)); fi
done
check_timed "add/remove: 6 subscribers got all, 6 joined late or left early ($full/$partial)" [ $full = 6 -a $partial = 6 ]
check "add/remove: the session ends with 10 sinks" [ "$(relay_num nr_sinks)" = 10 ]

# 3. A TCP subscriber resets (RST) mid-stream: its sink fails with its errno, the others
# carry on to the end of the stream (source EOF), then finish.
RATE=2000 CLIENT_ARGS="--reset-subscriber 2 --reset-after-ms 700" relay_run tcp share 4 300
diag "reset: $(grep -o '"err":[0-9]*,"id":[0-9]*,"lag":[0-9]*,"state":"[a-z]*"' $R/relay.json | tr '\n' ' ')"
check "reset: the other subscribers got all frames intact" [ $client_rc -eq 0 ]
check "reset: exactly one sink failed, with ECONNRESET or EPIPE" \
	sh -c "[ $(sinks_in failed) = 1 ] && grep -qE '\"err\":(104|32),' $R/relay.json"
check "source EOF: the session ended and the 3 others are done" \
	sh -c "grep -q '\"state\":\"ended\"' $R/relay.json && [ $(sinks_in done) = 3 ]"

# 4. A session destroyed mid-stream, UDP then TCP; 5. the control fd closed mid-stream.
printf 'sleep %s\ndestroy\n' $CUT_MS >/tmp/cmds
CLIENT_CHECKS="--max-loss 0 --max-errors 0" relay_run udp share 16 300 --commands /tmp/cmds
diag "destroy udp: $(tail -1 $R/client.err)"
check "destroy (UDP) mid-stream: relay exits cleanly, no loss or errors before it" \
	[ $relay_rc -eq 0 -a $client_rc -eq 0 ]
CLIENT_CHECKS="" relay_run tcp share 16 300 --commands /tmp/cmds
diag "destroy tcp: relay rc=$relay_rc, client: $(tail -1 $R/client.err)"
check "destroy (TCP) mid-stream: relay exits cleanly" [ $relay_rc -eq 0 ]
printf 'sleep %s\nclose\n' $CUT_MS >/tmp/cmds
CLIENT_CHECKS="" relay_run tcp copy 16 300 --commands /tmp/cmds
diag "close tcp: relay rc=$relay_rc, client: $(tail -1 $R/client.err)"
check "control fd closed mid-stream: relay exits cleanly" [ $relay_rc -eq 0 ]

diag "after teardown: $(omssctl status --json)"
check "after teardown nothing is left: no session, entry or page" no_leaks
check "rmmod after all that" rmmod omss
check "the module is gone" sh -c '! grep -q "^omss " /proc/modules'
ktap_finish
