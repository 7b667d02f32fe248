#!/bin/sh
# omss-httpd, the udpxy-style HTTP front end on OMSS, with clients nobody here wrote.
# (1) busybox wget and a raw request sent by busybox nc get the exact byte stream omss-server
# sent to a multicast group (checked against the server's own count and by replaying wget's
# file to omss-client), and every HTTP error (400, 404, 405, 408, 431, 503 for both limits)
# is answered while three streams flow, without a loss anywhere; a client that leaves lets
# its stream close after the linger. (2) 64 concurrent clients on 2 streams: one stops
# reading, 8 join late, 8 leave mid-stream; the others lose nothing. (3) Copy mode and the
# user-space copy mode serve the same bytes. (4) An IPv6 unicast source. Then no session is
# left, and rmmod. On the debug kernel the verdicts that need the guest to keep real-time
# pace (header timeout, limits while clients register, linger, the 64-client run's counts
# and loss) are skipped; their scenarios still run under lockdep, KASAN and kmemleak.
. /omss/tests/lib.sh
ktap_plan 38
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
L=/tmp/httpd
mkdir -p $L
G=239.1.1.1 SIZE=1400 PORT=8080
# The header timeout (ms) of the first server: its slow-loris client waits 2 s longer.
RATE=1000 HT=1000
[ -n "$SLOW" ] && RATE=500 HT=3000
H=http://$RELAY_SUB_IP:$PORT
HEAD='HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n'
printf "$HEAD" >$L/head.expected

# The server's status, fetched by busybox wget from the subscribers' host.
status_get() { in_sub wget -q -O - "$H/$1" 2>/dev/null; }
clients_now() { status_get status.json | sed -n 's/.*"clients_total": *\([0-9]*\).*/\1/p'; }
streams_now() { status_get status.json | grep -c '"session"'; }
# wait_clients N [SECS]: until the server serves exactly N clients (default 30 s).
wait_clients() {
	local i=0
	while [ $i -lt $((${2:-30} * 5)) ]; do
		[ "$(clients_now)" = "$1" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	diag "the server has $(clients_now) clients, not $1, after ${2:-30} s"
	return 1
}
# wait_streams N: until the server has N streams (a closed one waits its linger first).
wait_streams() {
	local i=0
	while [ $i -lt 50 ]; do
		[ "$(streams_now)" = "$1" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	diag "the server has $(streams_now) streams, not $1"
	return 1
}
# ask NAME REQUEST: sends REQUEST (printf format) with busybox nc, response in $L/NAME.out;
# prints the status line.
ask() {
	printf "$2" >$L/$1.req
	in_sub timeout 10 nc $RELAY_SUB_IP $PORT <$L/$1.req >$L/$1.out 2>/dev/null
	head -1 $L/$1.out | tr -d '\r'
}
# answered NAME CODE: whether the response in $L/NAME.out has status CODE.
answered() { head -1 $L/$1.out | grep -q "^HTTP/1.1 $2 "; }
start_httpd() {
	ns_bg relay omss-httpd --listen $RELAY_SUB_IP:$PORT --mcast-if $RELAY_SRC_IP --linger-ms 500 "$@" \
		2>$L/httpd-$PORT.err
	HP=$BG_PID
	wait_for_text $L/httpd-$PORT.err listening 10
}
stop_httpd() {
	kill -TERM $HP 2>/dev/null
	wait_or_kill $HP 5 >/dev/null
}
# wait_size FILE BYTES SECS: until FILE has BYTES bytes.
wait_size() {
	local i=0
	while [ $i -lt $(($3 * 10)) ] && [ "$(wc -c <$1)" -lt "$2" ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
CHECKS="--max-loss 0 --max-errors 0 $WAIT_CLIENT"

# (1) Three multicast streams (ports 5000, 5001, 5002 of group $G). Limits: 3 clients per
# stream, 5 in all; the header must arrive within $HT ms.
COUNT=900
start_httpd --max-clients 5 --max-per-stream 3 --header-timeout-ms $HT
ns_bg sub omss-client --http $H/udp/$G:5000 $CHECKS --min-packets $COUNT --json >$L/refa.json 2>$L/refa.err
refa=$BG_PID
ns_bg sub omss-client --http $H/udp/$G:5001 $CHECKS --min-packets $COUNT --json >$L/refb.json 2>$L/refb.err
refb=$BG_PID
ns_bg sub omss-client --http $H/udp/$G:5002 --max-errors 0 --timeout 120 --json >$L/leaver.json 2>$L/leaver.err
leaver=$BG_PID
ns_bg sub wget -q -O - $H/udp/$G:5000 >$L/wget.out 2>$L/wget.err
wgetp=$BG_PID
# The raw client's stdin is a FIFO that stays open: busybox nc would half-close at its EOF,
# and a client that closes its side is a client gone. (Not ns_bg: a background command of a
# function gets /dev/null as stdin, whatever the function's redirection.)
mkfifo $L/nc.in
exec 3<>$L/nc.in
/usr/sbin/ip netns exec sub nc $RELAY_SUB_IP $PORT <$L/nc.in >$L/nc.out 2>$L/nc.err &
ncp=$!
printf "GET /udp/$G:5000 HTTP/1.0\r\nUser-Agent: nc\r\n\r\n" >&3
check "5 clients (omss-client x3, wget, nc) on 3 streams are served" wait_clients 5
status_get status >$L/status.html
status_get metrics >$L/metrics.txt
rows=$(grep -c '<tr class="client">' $L/status.html)
check "/status has a row per client ($rows of 5) and per stream" \
	[ "$rows" = 5 -a "$(grep -c '<tr class="stream">' $L/status.html)" = 3 ]
check "/metrics counts 5 clients on 3 streams" \
	sh -c "grep -q '^omss_httpd_clients 5$' $L/metrics.txt && grep -q '^omss_httpd_streams 3$' $L/metrics.txt"
check "one OMSS session per stream ($(engine_num sessions))" [ "$(engine_num sessions)" = 3 ]
ns_bg src omss-server --proto udp --to $G:5000 --streams 3 --count $COUNT --rate $RATE --json \
	>$L/server.json 2>$L/server.err
sp=$BG_PID
wait_streaming
# Every error while the streams flow.
diag "garbage: $(ask e400a 'GARBAGE\r\n\r\n')"
check "400 for a malformed request" answered e400a 400
diag "bad address: $(ask e400b 'GET /udp/239.1.1.300:5000 HTTP/1.1\r\n\r\n')"
check "400 for a malformed address" answered e400b 400
diag "other path: $(ask e404 'GET /index.html HTTP/1.1\r\n\r\n')"
check "404 for another path" answered e404 404
diag "other method: $(ask e405 "POST /udp/$G:5000 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")"
check "405 for another method" answered e405 405
big=$(head -c 9000 /dev/zero | tr '\0' a)
diag "9 KB header: $(ask e431 "GET /udp/$G:5000 HTTP/1.1\r\nX-Big: $big\r\n\r\n")"
check "431 for a header over 8 KiB" answered e431 431
# Slow loris: half a header, then nothing for 2 s more than the timeout.
t0=$(date +%s)
(printf "GET /udp/$G:5000 HTTP/1.1\r\n"; sleep $((HT / 1000 + 2))) |
	in_sub timeout 10 nc $RELAY_SUB_IP $PORT >$L/e408.out 2>/dev/null
diag "slow loris: $(head -1 $L/e408.out | tr -d '\r') after $(($(date +%s) - t0)) s"
check_timed "408 for a header that does not arrive within the timeout" answered e408 408
diag "4th client of a stream: $(ask e503a "GET /udp/$G:5000 HTTP/1.1\r\n\r\n")"
check_timed "503 over the per-stream limit" answered e503a 503
diag "6th client: $(ask e503b "GET /udp/$G:5003 HTTP/1.1\r\n\r\n")"
check_timed "503 over the total limit" answered e503b 503
still_served() { kill -0 $sp && [ "$(engine_num sessions)" = 3 ] && wait_clients 5 1; }
check_timed "after the errors, the streams still flow to 5 clients" still_served
# A client leaves mid-stream: its stream closes after the linger, the others go on.
kill -TERM $leaver
wait_or_kill $leaver 10
leaver_rc=$?
check "a leaving client got clean data until it left (rc=$leaver_rc)" [ $leaver_rc = 0 ]
# serving N S: N clients on S streams, S sessions (OMSS modes).
serving() { wait_clients $1 && wait_streams $2 && [ "$(engine_num sessions)" = $2 ]; }
check_timed "its stream closed after the linger: 2 streams, 2 sessions" serving 4 2
wait_or_kill $sp 60 >/dev/null
wait_or_kill $refa 60
refa_rc=$?
wait_or_kill $refb 60
refb_rc=$?
# Stream 0 sent COUNT frames with END 3 times: that many datagrams of SIZE bytes each.
want=$(((COUNT + 2) * SIZE))
wait_size $L/wget.out $want 20
kill -TERM $wgetp $ncp 2>/dev/null
wait $wgetp $ncp 2>/dev/null
exec 3>&-
sends=$(json_num $L/server.json sends)
diag "server: $(tail -1 $L/server.err)"
diag "omss-client A: $(tail -1 $L/refa.err); B: $(tail -1 $L/refb.err)"
check "omss-client --http got every frame of both streams intact (rc $refa_rc, $refb_rc)" \
	[ $refa_rc = 0 -a $refb_rc = 0 ]
got=$(wc -c <$L/wget.out)
check "wget got the $want bytes the server sent ($got; server: $sends datagrams in all)" \
	[ "$got" = "$want" -a "$sends" = $((3 * (COUNT + 2))) ]
hl=$(wc -c <$L/head.expected)
check "nc got the exact response header" sh -c "head -c $hl $L/nc.out | cmp -s - $L/head.expected"
check "nc got the same byte stream as wget" sh -c "tail -c +$((hl + 1)) $L/nc.out | cmp -s - $L/wget.out"
# wget's file, served again from a file, must be every frame in order, each intact.
{ cat $L/head.expected $L/wget.out | nc -l -p 9000 >/dev/null; } &
replay=$!
omss-client --http http://127.0.0.1:9000/replay $CHECKS --min-packets $COUNT --json \
	>$L/replay.json 2>$L/replay.err
replay_rc=$?
wait_or_kill $replay 5 >/dev/null
diag "wget's bytes as frames: $(tail -1 $L/replay.err)"
check "wget's bytes are all $COUNT frames, in order, intact" [ $replay_rc = 0 ]
check "all clients gone: the streams closed, no session left" serving 0 0
status_get metrics >$L/metrics.txt
served=$(status_get status.json | sed -n 's/.*"served": *\([0-9]*\).*/\1/p')
diag "responses: $(grep '^omss_httpd_responses_total' $L/metrics.txt | tr '\n' ' '); $served streams served"
# responses CODE N: /metrics counted N responses with status CODE.
responses() { grep -q "^omss_httpd_responses_total{code=\"$1\"} $2\$" $L/metrics.txt; }
counted() {
	[ "$served" = 5 ] && responses 400 2 && responses 404 1 && responses 405 1 && responses 408 1 &&
		responses 431 1 && responses 503 2
}
check_timed "/metrics counted every error (400 x2, 404, 405, 408, 431, 503 x2), 5 streams served" counted
stop_httpd

# (2) 64 clients on 2 streams, at most 32 per stream and 64 in all: 48 from the start
# (subscriber 0 never reads), 8 that leave mid-stream, 8 that join late.
COUNT=800 PORT=8081 H=http://$RELAY_SUB_IP:8081
start_httpd --max-clients 64 --max-per-stream 32
URLS="--http $H/udp/$G:5000 --http $H/udp/$G:5001"
ns_bg sub omss-client $URLS -n 48 --threads 2 --stall-subscriber 0 $CHECKS --min-packets $COUNT --json \
	>$L/main.json 2>$L/main.err
mainp=$BG_PID
ns_bg sub omss-client $URLS -n 8 --max-errors 0 --timeout 120 --json >$L/leave.json 2>$L/leave.err
leavep=$BG_PID
check "56 clients are served" wait_clients 56
ns_bg src omss-server --proto udp --to $G:5000 --streams 2 --count $COUNT --rate $RATE --json \
	>$L/server2.json 2>$L/server2.err
sp=$BG_PID
wait_streaming
sleep 1
ns_bg sub omss-client $URLS -n 8 $CHECKS --json >$L/late.json 2>$L/late.err
latep=$BG_PID
check_timed "8 late joiners: 64 clients on 2 streams" wait_clients 64
diag "65th client: $(ask e503c "GET /udp/$G:5001 HTTP/1.1\r\n\r\n")"
check_timed "503 for the 65th client while the streams flow" answered e503c 503
kill -TERM $leavep
wait_or_kill $leavep 10
leave_rc=$?
left_clean() { [ $leave_rc = 0 ] && wait_clients 56; }
check_timed "8 clients left mid-stream with clean data (rc=$leave_rc), 56 remain" left_clean
status_get status.json >$L/mid.json
wait_or_kill $sp 60 >/dev/null
wait_or_kill $mainp 60
main_rc=$?
wait_or_kill $latep 60
late_rc=$?
diag "server: $(tail -1 $L/server2.err)"
diag "47 readers: $(tail -1 $L/main.err)"
diag "late joiners: $(tail -1 $L/late.err)"
max_of() { grep -o "\"$1\": [0-9]*" $L/mid.json | sed 's/.*: //' | sort -n | tail -1; }
diag "mid-stream, with one client not reading: largest lag $(max_of lag), most datagrams lost $(max_of lost)," \
	"dropped for the slowest: $(grep -o '"entries_dropped": [0-9]*' $L/mid.json | tr '\n' ' ')"
check_timed "47 reading clients got all $COUNT frames of their stream intact, beside one that stopped reading" \
	[ $main_rc = 0 ]
late_pk=$(json_num $L/late.json packets)
check_timed "the late joiners lost nothing after they joined ($late_pk frames, fewer than $((8 * COUNT)))" \
	[ $late_rc = 0 -a "${late_pk:-0}" -gt 0 -a "${late_pk:-0}" -lt $((8 * COUNT)) ]
check "all gone: no stream, no session" serving 0 0
stop_httpd

# (3) Copy mode and the user-space copy mode: the same bytes, every frame intact.
COUNT=300 PORT=8082
for mode in copy user; do
	H=http://$RELAY_SUB_IP:$PORT
	start_httpd --mode $mode
	ns_bg sub omss-client --http $H/udp/$G:5000 -n 4 $CHECKS --min-packets $COUNT --json \
		>$L/$mode.json 2>$L/$mode.err
	cp=$BG_PID
	ns_bg sub wget -q -O - $H/udp/$G:5000 >$L/$mode.out 2>/dev/null
	wp=$BG_PID
	wait_clients 5
	sessions=$(engine_num sessions)
	in_src omss-server --proto udp --to $G:5000 --count $COUNT --rate $RATE 2>$L/$mode-server.err
	wait_or_kill $cp 60
	c_rc=$?
	want=$(((COUNT + 2) * SIZE))
	wait_size $L/$mode.out $want 20
	kill -TERM $wp 2>/dev/null
	wait $wp 2>/dev/null
	diag "$mode: $(tail -1 $L/$mode.err); wget $(wc -c <$L/$mode.out) of $want bytes; $sessions OMSS sessions"
	check "$mode mode: 4 clients got every frame intact (rc=$c_rc)" [ $c_rc = 0 ]
	check "$mode mode: wget got the $want bytes the server sent" [ "$(wc -c <$L/$mode.out)" = $want ]
	[ $mode = copy ] && n=1 || n=0
	check "$mode mode: $n OMSS sessions while serving" [ "$sessions" = $n ]
	stop_httpd
	PORT=$((PORT + 1))
done

# (4) /udp/[IPv6]:PORT: a unicast IPv6 address of the relay's source side.
ip -n src addr add fd00:1::1/64 dev s0 nodad && ip -n relay addr add fd00:1::2/64 dev r0 nodad
neigh_permanent src s0 fd00:1::2 relay r0
H=http://$RELAY_SUB_IP:$PORT
start_httpd
ns_bg sub omss-client --http "$H/udp/[fd00:1::2]:5010" -n 2 $CHECKS --min-packets $COUNT --json \
	>$L/v6.json 2>$L/v6.err
cp=$BG_PID
wait_clients 2
in_src omss-server --proto udp --to "[fd00:1::2]:5010" --count $COUNT --rate $RATE 2>$L/v6-server.err
wait_or_kill $cp 60
c_rc=$?
diag "ipv6: $(tail -1 $L/v6.err)"
check "/udp/[fd00:1::2]:5010: 2 clients got every frame intact (rc=$c_rc)" [ $c_rc = 0 ]
stop_httpd

check "no session, entry or page is left" no_leaks
check "rmmod at the end" rmmod omss
ktap_finish
