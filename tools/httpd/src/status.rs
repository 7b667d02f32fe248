//! `/status` (HTML), `/status.json` and `/metrics` (Prometheus text format), all rendered
//! from one snapshot of the streams and their clients.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Serialize, Debug, Clone)]
pub struct ClientView {
    pub id: u32,
    pub address: String,
    pub bytes: u64,
    pub packets: u64,
    /// Datagrams received but not yet sent to this client.
    pub lag: u64,
    /// Datagrams this client lost (dropped for the slowest).
    pub lost: u64,
    pub state: &'static str,
    /// Unix time the client joined.
    pub since: f64,
}

#[derive(Serialize, Debug, Clone)]
pub struct StreamView {
    pub address: String,
    pub session: Option<u32>,
    pub since: f64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub entries_dropped: u64,
    pub clients: Vec<ClientView>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Snapshot {
    pub mode: &'static str,
    pub clients_total: usize,
    /// Clients served so far (200 responses).
    pub served: u64,
    pub max_clients: usize,
    pub max_per_stream: usize,
    /// A late joiner starts this far back, ms (0: with the next datagram).
    pub burst_ms: u32,
    /// Park time of the sessions across a restart, ms (0: no restart).
    pub persist_ms: u32,
    /// Restarts this server went through (its streams adopted each time).
    pub restarts: u64,
    /// Responses so far, by status code.
    pub responses: BTreeMap<u16, u64>,
    pub now: f64,
    pub streams: Vec<StreamView>,
}

pub fn json(s: &Snapshot) -> String {
    serde_json::to_string_pretty(s).expect("a snapshot serializes") + "\n"
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn html(s: &Snapshot) -> String {
    let mut o = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>omss-httpd status</title></head><body>\n",
    );
    let _ = writeln!(
        o,
        "<h1>omss-httpd</h1>\n<p>mode {}, {} clients (at most {}, {} per stream), {} served, burst {} ms, {} restarts</p>",
        s.mode, s.clients_total, s.max_clients, s.max_per_stream, s.served, s.burst_ms, s.restarts
    );
    o.push_str("<table border=\"1\">\n<tr><th>stream / client</th><th>address</th><th>bytes</th><th>lag</th><th>state</th><th>since (s ago)</th></tr>\n");
    for st in &s.streams {
        let _ = writeln!(
            o,
            "<tr class=\"stream\"><td>stream</td><td>{}</td><td>{}</td><td>{} dropped</td><td>{} clients</td><td>{:.1}</td></tr>",
            html_escape(&st.address),
            st.rx_bytes,
            st.entries_dropped,
            st.clients.len(),
            s.now - st.since
        );
        for c in &st.clients {
            let _ = writeln!(
                o,
                "<tr class=\"client\"><td>client {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
                c.id,
                html_escape(&c.address),
                c.bytes,
                c.lag,
                c.state,
                s.now - c.since
            );
        }
    }
    o.push_str("</table>\n</body></html>\n");
    o
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn metrics(s: &Snapshot) -> String {
    let mut o = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(o, "{name}{labels} {v}");
        }
    };
    family(
        "omss_httpd_clients",
        "gauge",
        "Clients being served.",
        vec![(String::new(), s.clients_total as f64)],
    );
    family(
        "omss_httpd_streams",
        "gauge",
        "Streams being served.",
        vec![(String::new(), s.streams.len() as f64)],
    );
    family(
        "omss_httpd_restarts_total",
        "counter",
        "Restarts of the server that kept its streams.",
        vec![(String::new(), s.restarts as f64)],
    );
    family(
        "omss_httpd_responses_total",
        "counter",
        "HTTP responses by status code.",
        s.responses
            .iter()
            .map(|(c, n)| (format!("{{code=\"{c}\"}}"), *n as f64))
            .collect(),
    );
    let per_stream = |f: &dyn Fn(&StreamView) -> u64| {
        s.streams
            .iter()
            .map(|st| {
                (
                    format!("{{stream=\"{}\"}}", label(&st.address)),
                    f(st) as f64,
                )
            })
            .collect::<Vec<_>>()
    };
    family(
        "omss_httpd_stream_clients",
        "gauge",
        "Clients of a stream.",
        per_stream(&|st| st.clients.len() as u64),
    );
    family(
        "omss_httpd_stream_received_bytes_total",
        "counter",
        "Bytes a stream's source received.",
        per_stream(&|st| st.rx_bytes),
    );
    family(
        "omss_httpd_stream_dropped_total",
        "counter",
        "Datagrams dropped for the slowest clients.",
        per_stream(&|st| st.entries_dropped),
    );
    let per_client = |f: &dyn Fn(&ClientView) -> u64| {
        s.streams
            .iter()
            .flat_map(|st| {
                st.clients.iter().map(move |c| {
                    (
                        format!(
                            "{{stream=\"{}\",client=\"{}\",id=\"{}\"}}",
                            label(&st.address),
                            label(&c.address),
                            c.id
                        ),
                        f(c) as f64,
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    family(
        "omss_httpd_client_sent_bytes_total",
        "counter",
        "Bytes sent to a client.",
        per_client(&|c| c.bytes),
    );
    family(
        "omss_httpd_client_lag",
        "gauge",
        "Datagrams received but not yet sent to a client.",
        per_client(&|c| c.lag),
    );
    family(
        "omss_httpd_client_lost_total",
        "counter",
        "Datagrams a client lost.",
        per_client(&|c| c.lost),
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        let c = |id, a: &str| ClientView {
            id,
            address: a.into(),
            bytes: 1400 * id as u64,
            packets: id as u64,
            lag: 2,
            lost: 0,
            state: "active",
            since: 100.0,
        };
        Snapshot {
            mode: "share",
            clients_total: 3,
            served: 4,
            max_clients: 64,
            max_per_stream: 32,
            burst_ms: 500,
            persist_ms: 10000,
            restarts: 1,
            responses: [(200, 4), (404, 1)].into(),
            now: 110.0,
            streams: vec![
                StreamView {
                    address: "239.1.1.1:5000".into(),
                    session: Some(1),
                    since: 90.0,
                    rx_bytes: 14000,
                    rx_packets: 10,
                    entries_dropped: 0,
                    clients: vec![c(1, "198.18.2.2:40000"), c(2, "198.18.2.2:40001")],
                },
                StreamView {
                    address: "[ff0e::1]:5000".into(),
                    session: Some(2),
                    since: 95.0,
                    rx_bytes: 0,
                    rx_packets: 0,
                    entries_dropped: 0,
                    clients: vec![c(1, "[2001:db8::2]:40002")],
                },
            ],
        }
    }

    #[test]
    fn html_has_a_row_per_stream_and_client() {
        let h = html(&snap());
        assert_eq!(h.matches("<tr class=\"stream\">").count(), 2);
        assert_eq!(h.matches("<tr class=\"client\">").count(), 3);
        assert!(h.contains(
            "<td>198.18.2.2:40001</td><td>2800</td><td>2</td><td>active</td><td>10.0</td>"
        ));
    }

    #[test]
    fn json_round_trips() {
        let v: serde_json::Value = serde_json::from_str(&json(&snap())).unwrap();
        assert_eq!(v["clients_total"], 3);
        assert_eq!(v["streams"][0]["clients"][1]["bytes"], 2800);
        assert_eq!(v["streams"][1]["address"], "[ff0e::1]:5000");
        assert_eq!(v["responses"]["404"], 1);
        assert_eq!(
            (v["burst_ms"].as_u64(), v["restarts"].as_u64()),
            (Some(500), Some(1))
        );
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let m = metrics(&snap());
        assert!(m.contains("# TYPE omss_httpd_clients gauge\nomss_httpd_clients 3\n"));
        assert!(m.contains("omss_httpd_responses_total{code=\"404\"} 1\n"));
        assert!(m.contains("\nomss_httpd_restarts_total 1\n"));
        assert!(m.contains("omss_httpd_stream_clients{stream=\"239.1.1.1:5000\"} 2\n"));
        assert!(m.contains(
            "omss_httpd_client_sent_bytes_total{stream=\"[ff0e::1]:5000\",client=\"[2001:db8::2]:40002\",id=\"1\"} 1400\n"
        ));
        // Every sample line is NAME{LABELS} VALUE, every family has HELP and TYPE.
        for l in m.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
        assert_eq!(m.matches("# HELP").count(), m.matches("# TYPE").count());
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
