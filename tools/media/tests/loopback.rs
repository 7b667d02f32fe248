//! End-to-end tests: omss-server -> omss-client over 127.0.0.1. Each test
//! uses its own port range (39000 + 100*k) so tests can run in parallel.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_omss-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_omss-client");

fn cmd(bin: &str, args: &str) -> Command {
    let mut c = Command::new(bin);
    c.args(args.split_whitespace());
    c
}

/// A client started in the background; its stderr is collected by a thread.
struct Bg {
    child: Child,
    stderr: JoinHandle<String>,
}

/// Start the client and wait until it has bound/connected everything.
fn start_client(args: &str) -> Bg {
    let mut child = cmd(CLIENT, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("ready") {
                let _ = tx.send(());
            }
            all += &line;
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("client ready");
    Bg { child, stderr }
}

/// Wait for a background client: (exit code, JSON report, stderr).
fn finish(bg: Bg) -> (i32, Value, String) {
    let out = bg.child.wait_with_output().expect("client wait");
    let err = bg.stderr.join().unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client JSON: {e}\nstdout: {:?}\nstderr: {err}", out.stdout));
    (out.status.code().expect("exit code"), json, err)
}

fn run(bin: &str, args: &str) -> Output {
    cmd(bin, args).output().expect("run")
}

/// UDP: client first, then the server to completion.
fn udp(client: &str, server: &str) -> (i32, Value, String) {
    let bg = start_client(client);
    let s = run(SERVER, server);
    assert!(
        s.status.success(),
        "server: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    finish(bg)
}

/// TCP: server first (it waits for clients), then the client (it retries).
fn tcp(client: &str, server: &str) -> (i32, Value, String, Value) {
    let srv = cmd(SERVER, server)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let c = run(CLIENT, client);
    let s = srv.wait_with_output().unwrap();
    assert!(
        s.status.success(),
        "server: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    let err = String::from_utf8_lossy(&c.stderr).into_owned();
    let json = serde_json::from_slice(&c.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    let sj = serde_json::from_slice(&s.stdout).unwrap_or(Value::Null);
    (c.status.code().unwrap(), json, err, sj)
}

fn subs(j: &Value) -> &Vec<Value> {
    j["subscribers"].as_array().unwrap()
}

#[test]
fn udp_fanout_no_loss() {
    let (rc, j, err) = udp(
        "--proto udp --bind 127.0.0.1:39000 -n 4 --max-loss 0 --max-errors 0 --min-packets 200 \
         --timeout 30 --json",
        "--proto udp --to 127.0.0.1:39000 --count 200 --rate 2000 --fanout 4",
    );
    assert_eq!(rc, 0, "{err}\n{j}");
    let t = &j["total"];
    assert_eq!(
        (t["packets"].as_u64(), t["lost"].as_u64()),
        (Some(800), Some(0))
    );
    assert_eq!(
        (t["errors"].as_u64(), t["ended"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(t["latency_samples"], 800);
    assert!(t["latency_p99_us"].as_f64().unwrap() >= t["latency_median_us"].as_f64().unwrap());
    assert_eq!(j["end_reason"], "all_done");
    for s in subs(&j) {
        assert_eq!(
            (s["packets"].as_u64(), s["first_seq"].as_u64()),
            (Some(200), Some(0))
        );
        assert_eq!(s["last_seq"], 199);
    }
}

#[test]
fn tcp_wait_clients_no_loss() {
    let (rc, j, err, s) = tcp(
        "--proto tcp --connect 127.0.0.1:39100 --streams 2 -n 4 --max-loss 0 --max-errors 0 \
         --min-packets 200 --timeout 30 --json",
        "--proto tcp --listen 127.0.0.1:39100 --streams 2 --wait-clients 4 --count 200 \
         --rate 2000 --json",
    );
    assert_eq!(rc, 0, "{err}\n{j}");
    let t = &j["total"];
    assert_eq!(
        (t["packets"].as_u64(), t["lost"].as_u64()),
        (Some(800), Some(0))
    );
    assert_eq!(t["errors"], 0);
    let stream_ids: Vec<_> = subs(&j).iter().map(|s| s["stream_id"].as_u64()).collect();
    assert_eq!(stream_ids, [Some(0), Some(1), Some(0), Some(1)]);
    assert!(subs(&j)
        .iter()
        .all(|s| s["end"] == true && s["eof"] == true));
    let st = &s["total"];
    assert_eq!(
        (st["frames"].as_u64(), st["sends"].as_u64()),
        (Some(400), Some(800))
    );
    assert_eq!(
        (st["accepted"].as_u64(), st["dropped"].as_u64()),
        (Some(4), Some(0))
    );
}

#[test]
fn udp_faults_detected_exactly() {
    let (rc, j, err) = udp(
        "--proto udp --bind 127.0.0.1:39200 -n 2 --max-loss 0 --max-errors 0 --timeout 30 --json",
        "--proto udp --to 127.0.0.1:39200 --fanout 2 --count 200 --rate 2000 \
         --corrupt-every 10 --skip-every 7",
    );
    assert_eq!(rc, 1, "{err}\n{j}");
    assert!(err.contains("FAIL"));
    // Skipped: seqs 6, 13, .., 195 (28). Corrupted: seqs 9, 19, .., 189 (19)
    // minus 69 and 139, which are skipped (17). END (199) is never faulty.
    for s in subs(&j) {
        assert_eq!(
            (s["bad_checksum"].as_u64(), s["lost"].as_u64()),
            (Some(17), Some(45))
        );
        assert_eq!(
            (s["packets"].as_u64(), s["expected"].as_u64()),
            (Some(155), Some(200))
        );
    }
    let t = &j["total"];
    assert_eq!(
        (t["bad_checksum"].as_u64(), t["lost"].as_u64()),
        (Some(34), Some(90))
    );
}

#[test]
fn tcp_corruption_detected_exactly() {
    let (rc, j, err, _) = tcp(
        "--proto tcp --connect 127.0.0.1:39300 -n 2 --max-errors 0 --timeout 30 --json",
        "--proto tcp --listen 127.0.0.1:39300 --wait-clients 2 --count 200 --rate 2000 \
         --corrupt-every 10",
    );
    assert_eq!(rc, 1, "{err}\n{j}");
    for s in subs(&j) {
        // Framing stays intact: the 19 corrupted frames are bad_checksum and
        // their seqs are lost; no resync is needed.
        assert_eq!(
            (s["bad_checksum"].as_u64(), s["lost"].as_u64()),
            (Some(19), Some(19))
        );
        assert_eq!(
            (s["stream_corrupt"].as_u64(), s["errors"].as_u64()),
            (Some(0), Some(19))
        );
    }
}

#[test]
fn udp_reorder_detected_exactly() {
    let (rc, j, err) = udp(
        "--proto udp --bind 127.0.0.1:39400 --max-loss 0 --max-errors 0 --timeout 30 --json",
        "--proto udp --to 127.0.0.1:39400 --count 200 --rate 2000 --reorder-every 5",
    );
    assert_eq!(rc, 1, "{err}\n{j}");
    let t = &j["total"];
    // Held seqs 4, 9, .., 194 arrive after their successor: 39 reordered.
    assert_eq!(
        (t["reordered"].as_u64(), t["lost"].as_u64()),
        (Some(39), Some(0))
    );
    assert_eq!(
        (t["packets"].as_u64(), t["duplicates"].as_u64()),
        (Some(200), Some(0))
    );
}

#[test]
fn tcp_stalled_subscriber_excluded() {
    let (rc, j, err, _) = tcp(
        "--proto tcp --connect 127.0.0.1:39500 -n 3 --stall-subscriber 1 --max-loss 0 \
         --max-errors 0 --min-packets 100 --timeout 30 --json",
        "--proto tcp --listen 127.0.0.1:39500 --wait-clients 3 --count 100 --rate 4000",
    );
    assert_eq!(rc, 0, "{err}\n{j}");
    assert_eq!(j["total"]["packets"], 200);
    assert_eq!(j["total"]["stalled"], 1);
    assert_eq!(subs(&j)[1]["stalled"], true);
}

#[test]
fn no_data_fails_and_expect_count_counts_loss() {
    let c = run(
        CLIENT,
        "--proto udp --bind 127.0.0.1:39600 -n 2 --duration 0.3 --expect-count 10 --max-loss 0 \
         --json",
    );
    assert_eq!(c.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(
        (j["total"]["lost"].as_u64(), j["total"]["expected"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(j["end_reason"], "duration");
    let c = run(
        CLIENT,
        "--proto udp --bind 127.0.0.1:39600 --duration 0.3 --max-loss 0 --json",
    );
    assert_eq!(c.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(
        (j["total"]["no_data"].as_u64(), j["total"]["lost"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn usage_errors_exit_2() {
    for (bin, args) in [
        (CLIENT, "--proto udp -n 2"),
        (CLIENT, "--proto tcp --bind 127.0.0.1:39700"),
        (
            CLIENT,
            "--proto udp --bind 127.0.0.1:39700 --stall-subscriber 5",
        ),
        (CLIENT, "--bogus"),
        (SERVER, "--proto udp --to 127.0.0.1:39700 --size 20"),
        (SERVER, "--proto udp --to 127.0.0.1:65535 --fanout 2"),
        (
            SERVER,
            "--proto tcp --listen 127.0.0.1:39700 --reorder-every 3",
        ),
        (SERVER, "--proto udp"),
    ] {
        let o = run(bin, args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bin} {args}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty());
    }
}

#[test]
fn count_file_tracks_packets_received() {
    let path = std::env::temp_dir().join(format!("omss-count-{}", std::process::id()));
    let read = || {
        std::fs::read_to_string(&path)
            .ok()
            .map(|s| s.trim().parse::<u64>().unwrap())
    };
    let bg = start_client(&format!(
        "--proto udp --bind 127.0.0.1:39900 -n 2 --timeout 30 --json --count-file {}",
        path.display()
    ));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(read(), Some(0), "before the stream");
    // 300 frames at 100 frames/s: about 3 s, so a read at 1.5 s sees part of them.
    let srv = cmd(
        SERVER,
        "--proto udp --to 127.0.0.1:39900 --count 300 --rate 1120 --size 1400 --fanout 2",
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn server");
    std::thread::sleep(Duration::from_millis(1500));
    let mid = read().unwrap();
    assert!(mid > 20 && mid < 580, "mid-stream count {mid}");
    assert!(srv.wait_with_output().unwrap().status.success());
    let (rc, j, err) = finish(bg);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(read(), j["total"]["packets"].as_u64(), "final count");
    assert_eq!(read(), Some(600));
    let _ = std::fs::remove_file(&path);
}

/// A stand-in for Icecast: takes one source request on `listener`, answers it with
/// `answer`, and returns the request and the stream that followed (to EOF).
fn fake_icecast(
    listener: std::net::TcpListener,
    answer: &'static str,
) -> JoinHandle<(String, Vec<u8>)> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).expect("read"), 1, "request cut short");
            buf.push(byte[0]);
        }
        s.write_all(answer.as_bytes()).expect("answer");
        let mut stream = Vec::new();
        let _ = s.read_to_end(&mut stream);
        (String::from_utf8(buf).expect("ASCII request"), stream)
    })
}

#[test]
fn icecast_source_mode() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ice = fake_icecast(
        listener,
        "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n",
    );
    let o = run(
        SERVER,
        &format!(
            "--icecast http://127.0.0.1:{port}/live --icecast-password pw --count 20 --pps 500"
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (req, stream) = ice.join().unwrap();
    assert!(req.starts_with("PUT /live HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains("\r\nAuthorization: Basic c291cmNlOnB3\r\n"),
        "{req}"
    ); // source:pw
    let mut seqs = Vec::new();
    let mut off = 0;
    while let Some((item, n)) = omss_media::wire::next_item(&stream[off..], true) {
        match item {
            omss_media::wire::Item::Frame(f) => seqs.push((f.seq, f.is_end())),
            other => panic!("not a frame at byte {off}: {other:?}"),
        }
        off += n;
    }
    let expected: Vec<(u64, bool)> = (0..20).map(|s| (s, s == 19)).collect();
    assert_eq!(seqs, expected);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ice = fake_icecast(listener, "HTTP/1.0 401 Authentication Required\r\n\r\n");
    let o = run(
        SERVER,
        &format!("--icecast http://127.0.0.1:{port}/live --count 5"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("401"));
    ice.join().unwrap();
    for bad in [
        "--icecast http://127.0.0.1:1/",
        "--icecast http://127.0.0.1:1/m --proto tcp",
    ] {
        assert_eq!(run(SERVER, bad).status.code(), Some(2), "{bad}");
    }
}

#[test]
fn ipv6_udp_and_tcp_no_loss() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let (rc, j, err) = udp(
        "--proto udp --bind [::1]:40000 -n 2 --max-loss 0 --max-errors 0 --min-packets 100 \
         --timeout 30 --json",
        "--proto udp --to [::1]:40000 --count 100 --rate 2000 --fanout 2",
    );
    assert_eq!(rc, 0, "{err}\n{j}");
    assert_eq!(j["total"]["packets"], 200);
    let (rc, j, err, _) = tcp(
        "--proto tcp --connect [::1]:40100 -n 2 --max-loss 0 --max-errors 0 --min-packets 100 \
         --timeout 30 --json",
        "--proto tcp --listen [::1]:40100 --wait-clients 2 --count 100 --rate 2000",
    );
    assert_eq!(rc, 0, "{err}\n{j}");
    assert_eq!(j["total"]["packets"], 200);
}

/// A TCP "relay fed by UDP": 10 frames, the last (END) written 3 times, as a relay passes
/// on the UDP server's END copies. Returns the client's (exit code, report).
fn tcp_with_3_ends(port: u16, extra: &str) -> (i32, Value) {
    use std::io::Write;
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let feeder = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 100];
        for seq in 0..10u64 {
            let flags = if seq == 9 {
                omss_media::wire::FLAG_END
            } else {
                0
            };
            omss_media::wire::encode(&mut buf, 0, seq, 1, 100, flags).unwrap();
            for _ in 0..if seq == 9 { 3 } else { 1 } {
                s.write_all(&buf).unwrap();
            }
        }
    });
    let c = run(
        CLIENT,
        &format!(
            "--proto tcp --connect 127.0.0.1:{port} --max-errors 0 --timeout 10 --json {extra}"
        ),
    );
    feeder.join().unwrap();
    let j: Value = serde_json::from_slice(&c.stdout).unwrap();
    (c.status.code().unwrap(), j)
}

#[test]
fn end_copies_and_multicast_usage() {
    // A TCP subscriber told that END comes 3 times (a relay fed by UDP) accepts 3 copies;
    // by default the 2 extra ones are duplicates.
    let (rc, j) = tcp_with_3_ends(40300, "--end-copies 3");
    assert_eq!((rc, &j["total"]["duplicates"]), (0, &Value::from(0)), "{j}");
    let (rc, j) = tcp_with_3_ends(40301, "");
    assert_eq!((rc, &j["total"]["duplicates"]), (1, &Value::from(2)), "{j}");
    let bad = run(CLIENT, "--proto tcp --connect 127.0.0.1:1 --end-copies 0");
    assert_eq!(bad.status.code(), Some(2));
    // --multicast-if needs a multicast --to.
    let bad = run(
        SERVER,
        "--proto udp --to 127.0.0.1:40200 --multicast-if lo --count 1",
    );
    assert_eq!(bad.status.code(), Some(2));
    let bad = run(
        SERVER,
        "--proto udp --to 239.1.2.3:40200 --multicast-ttl 0 --count 1",
    );
    assert_eq!(bad.status.code(), Some(2));
}
