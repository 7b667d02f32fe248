//! The request side: reading a header within its size and time limits, parsing it with
//! `httparse`, and mapping it to a route or an HTTP error.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A request header (request line included) may be at most this long.
pub const MAX_HEADER: usize = 8192;
/// At most this many header lines.
const MAX_HEADER_LINES: usize = 64;

/// Why a request gets no stream: each maps to one status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    Timeout,
    TooLarge,
    Unavailable,
}

impl HttpError {
    pub fn code(self) -> u16 {
        match self {
            HttpError::BadRequest => 400,
            HttpError::NotFound => 404,
            HttpError::MethodNotAllowed => 405,
            HttpError::Timeout => 408,
            HttpError::TooLarge => 431,
            HttpError::Unavailable => 503,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            HttpError::BadRequest => "Bad Request",
            HttpError::NotFound => "Not Found",
            HttpError::MethodNotAllowed => "Method Not Allowed",
            HttpError::Timeout => "Request Timeout",
            HttpError::TooLarge => "Request Header Fields Too Large",
            HttpError::Unavailable => "Service Unavailable",
        }
    }

    /// The whole response: status line, a short plain-text body, `Connection: close`.
    pub fn response(self) -> String {
        let body = format!("{} {}\n", self.code(), self.reason());
        let allow = if self == HttpError::MethodNotAllowed {
            "Allow: GET\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
            self.code(),
            self.reason(),
            body.len()
        )
    }
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/udp/ADDR:PORT`: the datagrams arriving there, as one byte stream.
    Stream(SocketAddr),
    Status,
    StatusJson,
    Metrics,
}

/// Why reading a request ended without one.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Answer with this error.
    Http(HttpError),
    /// The client closed or failed before a complete header: nobody to answer.
    Gone,
}

/// Parses the bytes received so far: `Ok(None)` while the header is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Route>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADER_LINES];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEADER => Err(HttpError::TooLarge),
        Ok(httparse::Status::Complete(_)) => {
            route(req.method.unwrap_or(""), req.path.unwrap_or("")).map(Some)
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEADER => Err(HttpError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooLarge),
        Err(_) => Err(HttpError::BadRequest),
    }
}

/// Maps a method and a request target to a route. Every resource is GET only.
pub fn route(method: &str, target: &str) -> Result<Route, HttpError> {
    if method != "GET" {
        return Err(HttpError::MethodNotAllowed);
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    match path {
        "/status" | "/status/" => Ok(Route::Status),
        "/status.json" => Ok(Route::StatusJson),
        "/metrics" => Ok(Route::Metrics),
        _ => match path.strip_prefix("/udp/") {
            Some(addr) => stream_addr(addr).map(Route::Stream),
            None => Err(HttpError::NotFound),
        },
    }
}

/// `ADDR:PORT` of `/udp/ADDR:PORT`: IPv4, or bracketed IPv6; percent-encoding allowed.
/// A port of 0 or an unspecified address is no stream.
pub fn stream_addr(s: &str) -> Result<SocketAddr, HttpError> {
    let s = percent_decode(s.trim_end_matches('/')).ok_or(HttpError::BadRequest)?;
    let addr: SocketAddr = s.parse().map_err(|_| HttpError::BadRequest)?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err(HttpError::BadRequest);
    }
    Ok(addr)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads one request header from `sock`, all of it within `timeout` (slow-loris guard) and
/// at most `MAX_HEADER` bytes of it.
pub fn read_request(sock: &mut TcpStream, timeout: Duration) -> Result<Route, ReadError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Http(HttpError::Timeout));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|_| ReadError::Gone)?;
        let room = (MAX_HEADER + 1 - buf.len()).min(chunk.len());
        match sock.read(&mut chunk[..room]) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Http(HttpError::Timeout))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Gone),
        }
        if let Some(r) = parse(&buf).map_err(ReadError::Http)? {
            return Ok(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn p(s: &str) -> Result<Option<Route>, HttpError> {
        parse(s.as_bytes())
    }

    #[test]
    fn stream_requests() {
        let r = p("GET /udp/239.1.1.1:5000 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            r,
            Ok(Some(Route::Stream("239.1.1.1:5000".parse().unwrap())))
        );
        let r = p("GET /udp/[ff0e::1]:5000/?x=1 HTTP/1.0\r\n\r\n");
        assert_eq!(
            r,
            Ok(Some(Route::Stream("[ff0e::1]:5000".parse().unwrap())))
        );
        let r = p("GET /udp/%5Bff0e::2%5D%3A6000 HTTP/1.1\r\n\r\n");
        assert_eq!(
            r,
            Ok(Some(Route::Stream("[ff0e::2]:6000".parse().unwrap())))
        );
        let r = p("GET /udp/198.18.1.2:5001 HTTP/1.1\r\n\r\n");
        assert_eq!(
            r,
            Ok(Some(Route::Stream("198.18.1.2:5001".parse().unwrap())))
        );
    }

    #[test]
    fn other_routes() {
        assert_eq!(p("GET /status HTTP/1.1\r\n\r\n"), Ok(Some(Route::Status)));
        assert_eq!(
            p("GET /status.json HTTP/1.1\r\n\r\n"),
            Ok(Some(Route::StatusJson))
        );
        assert_eq!(
            p("GET /metrics?a HTTP/1.1\r\n\r\n"),
            Ok(Some(Route::Metrics))
        );
    }

    #[test]
    fn incomplete_header_waits() {
        assert_eq!(p(""), Ok(None));
        assert_eq!(p("GET /udp/239.1.1.1:5000 HTTP/1.1\r\n"), Ok(None));
        assert_eq!(
            p("GET /udp/239.1.1.1:5000 HTTP/1.1\r\nHost: x\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn bad_addresses_are_400() {
        for a in [
            "239.1.1.1",
            "239.1.1.1:",
            "239.1.1.1:0",
            "239.1.1.1:70000",
            "300.1.1.1:5000",
            "ff0e::1:5000",
            "[ff0e::1]",
            "0.0.0.0:5000",
            "[::]:5000",
            "host.example:5000",
            "%zz",
            "",
        ] {
            let req = format!("GET /udp/{a} HTTP/1.1\r\n\r\n");
            assert_eq!(p(&req), Err(HttpError::BadRequest), "{a}");
        }
    }

    #[test]
    fn errors_map_to_codes() {
        assert_eq!(
            p("BREW /pot HTTP/1.1\r\n\r\n"),
            Err(HttpError::MethodNotAllowed)
        );
        assert_eq!(
            p("POST /udp/239.1.1.1:5000 HTTP/1.1\r\n\r\n"),
            Err(HttpError::MethodNotAllowed)
        );
        assert_eq!(
            p("HEAD /status HTTP/1.1\r\n\r\n"),
            Err(HttpError::MethodNotAllowed)
        );
        assert_eq!(p("GET /foo HTTP/1.1\r\n\r\n"), Err(HttpError::NotFound));
        assert_eq!(p("GET /udp HTTP/1.1\r\n\r\n"), Err(HttpError::NotFound));
        assert_eq!(p("GARBAGE\r\n\r\n"), Err(HttpError::BadRequest));
        assert_eq!(
            p("GET /status HTTP/2.0\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            p("GET /status HTTP/1.1\r\nNo colon\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        let codes: Vec<u16> = [
            HttpError::BadRequest,
            HttpError::NotFound,
            HttpError::MethodNotAllowed,
            HttpError::Timeout,
            HttpError::TooLarge,
            HttpError::Unavailable,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [400, 404, 405, 408, 431, 503]);
    }

    #[test]
    fn header_over_8k_is_431() {
        let big = format!(
            "GET /status HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER)
        );
        assert_eq!(p(&big), Err(HttpError::TooLarge));
        // Still incomplete, but already too long.
        assert_eq!(p(&big[..MAX_HEADER + 1]), Err(HttpError::TooLarge));
        // Just fits.
        let head = "GET /status HTTP/1.1\r\nX-Big: \r\n\r\n";
        let fits = format!(
            "GET /status HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER - head.len())
        );
        assert_eq!(fits.len(), MAX_HEADER);
        assert_eq!(p(&fits), Ok(Some(Route::Status)));
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        let req = format!("GET /status HTTP/1.1\r\n{many}\r\n");
        assert_eq!(p(&req), Err(HttpError::TooLarge));
    }

    #[test]
    fn error_responses_are_complete() {
        let r = HttpError::MethodNotAllowed.response();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(r.contains("\r\nAllow: GET\r\n"));
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    /// A pair of connected loopback sockets: (client, server side).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    #[test]
    fn read_request_in_pieces() {
        let (mut c, mut s) = pair();
        let t = std::thread::spawn(move || {
            for piece in [
                "GET /udp/239.1.",
                "1.1:5000 HTTP/1.1\r\n",
                "Host: a\r\n\r\n",
            ] {
                c.write_all(piece.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            c
        });
        let r = read_request(&mut s, Duration::from_secs(5));
        assert_eq!(r, Ok(Route::Stream("239.1.1.1:5000".parse().unwrap())));
        t.join().unwrap();
    }

    #[test]
    fn read_request_slow_loris_is_408() {
        let (mut c, mut s) = pair();
        c.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
        let t0 = Instant::now();
        let r = read_request(&mut s, Duration::from_millis(200));
        assert_eq!(r, Err(ReadError::Http(HttpError::Timeout)));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn read_request_big_and_gone() {
        let (mut c, mut s) = pair();
        let big = format!("GET /status HTTP/1.1\r\nX: {}", "a".repeat(3 * MAX_HEADER));
        let t = std::thread::spawn(move || {
            let _ = c.write_all(big.as_bytes());
            c
        });
        let r = read_request(&mut s, Duration::from_secs(5));
        assert_eq!(r, Err(ReadError::Http(HttpError::TooLarge)));
        drop(t.join().unwrap());
        let (c, mut s) = pair();
        drop(c);
        assert_eq!(
            read_request(&mut s, Duration::from_secs(5)),
            Err(ReadError::Gone)
        );
    }
}
