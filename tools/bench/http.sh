# Sourced by tools/bench/run.sh: the HTTP front end scenario (run.sh --http, or BENCH_HTTP=1).
# N HTTP listeners (omss-client --http, native on the load CPU) take one 256 kbit/s stream
# from the relay guest, served by
#   httpd-share, httpd-copy  omss-httpd on OMSS, share or copy mode, and
#   httpd-user               omss-httpd's user-space copy relay (--mode user), all three
#                            fed by the UDP stream that omss-server sends to the guest;
#   icecast                  Icecast 2.4 from Debian, fed by omss-server --icecast (its
#                            source protocol) with tools/bench/icecast.xml.
# A point is native.sh's point() with PROTO=http: the same accounting (vCPU time, the
# guest's /proc/stat, instructions, the listeners' packets inside the window); CPU per
# delivered byte is CPU per packet over the frame's 1,400 bytes. The media server starts
# first (Icecast needs its source before a listener can ask for the mount), then the
# listeners join, HTTP_BATCH requests at a time: Icecast 2.4 listens with a backlog of 5 and
# answers new listeners once per pass of its stream loop. The p99 latency counts the
# packets received from the window's opening on (the joins are not in it).
# shellcheck shell=bash

HTTP_PORT=8000 HTTP_BATCH=4

# http_root DIR: a copy of the guest's root ($RROOT) with Icecast added (the binary, its
# libraries, the config): 60 MB that the other points' guests do without (the embedded
# test's 128 MiB guest could not hold them).
http_root() {
	local root=$1 lib
	command -v icecast2 >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends icecast2 >/dev/null ||
		die "cannot install icecast2"
	rm -rf "$root" && cp -a "$RROOT" "$root" || die "cannot copy $RROOT"
	cp /usr/bin/icecast2 "$root/usr/bin/"
	for lib in $(ldd /usr/bin/icecast2 | grep -o '/[^ ]*' | sort -u); do
		mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
	done
	printf 'passwd: files\ngroup: files\n' >"$root/etc/nsswitch.conf" # Icecast drops to nobody
	sed -e "s|@ADDR@|$GUEST_IP|g; s|@PORT@|$HTTP_PORT|g; s|@LOGDIR@|/tmp|g" \
		tools/bench/icecast.xml >"$root/omss/icecast.xml"
}

# http_load IMPL N PAYLOAD PPS TAG: point()'s load side for PROTO=http, once the guest's
# server listens. Starts the media server, then the listeners with point()'s client
# arguments (cargs); sets point()'s server and client. The stream lasts until point()
# stops the media server (SIGTERM: it sends END, and the listeners end).
http_load() {
	local impl=$1 n=$2 payload=$3 pps=$4 tag=$5 url
	local stream=(--duration 3600 --pps "$pps" --size "$payload")
	rm -f "$OUT/logs/$tag.window"
	if [ "$impl" = icecast ]; then
		url=http://$GUEST_IP:$HTTP_PORT/omss
		spawn_load "$BIN/omss-server" --icecast "$url" "${stream[@]}" \
			>/dev/null 2>"$OUT/logs/$tag.server.err" &
		server=$!
		wait_for_text "$OUT/logs/$tag.server.err" "icecast source of\|error:" 30
		grep -q "icecast source of" "$OUT/logs/$tag.server.err" ||
			{ echo "Icecast did not take the source: $(tail -1 "$OUT/logs/$tag.server.err")" >&2; return 1; }
	else
		url=http://$GUEST_IP:$HTTP_PORT/udp/$GUEST_IP:5000
		spawn_load "$BIN/omss-server" --proto udp --to "$GUEST_IP:5000" "${stream[@]}" \
			>/dev/null 2>"$OUT/logs/$tag.server.err" &
		server=$!
	fi
	spawn_load "$BIN/omss-client" --http "$url" -n "$n" --http-batch $HTTP_BATCH --connect-timeout 120 \
		--latency-from-file "$OUT/logs/$tag.window" "${cargs[@]}" \
		>"$OUT/logs/$tag.client.json" 2>"$OUT/logs/$tag.client.err" &
	client=$!
	wait_for_text "$OUT/logs/$tag.client.err" "omss-client: ready\|error:" 600
	grep -q "omss-client: ready" "$OUT/logs/$tag.client.err" ||
		{ echo "the listeners did not join: $(tail -1 "$OUT/logs/$tag.client.err")" >&2; return 1; }
}

# http_meta FILE: what the HTTP scenario ran with.
http_meta() {
	cat >"$1" <<JSON
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "commit": "$(git rev-parse --short HEAD 2>/dev/null)",
 "icecast": "$(icecast2 -v 2>/dev/null | head -1)", "listeners": "$HTTP_N", "servers": "$HTTP_IMPLS",
 "capacity": "$HTTP_CAPACITY", "repeats": $REPEATS, "warmup_s": $WARMUP, "window_s": $WINDOW,
 "rate_kbps": $RATE, "payload": 1400, "request_batch": $HTTP_BATCH, "mode": "$mode"}
JSON
}
