//! The client side of an HTTP stream (`omss-client --http`): the URL, the request, and the
//! check of the response header before the byte stream.

use std::net::SocketAddr;

/// A response header may be at most this long.
pub const MAX_HEAD: usize = 8192;

/// `http://IP:PORT/PATH` (IPv6 in brackets; no DNS) -> the address and the path.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(format!("{url}: not an http:// URL"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .parse()
        .or_else(|_| format!("{host}:80").parse())
        .map_err(|_| format!("{url}: the host must be IP:PORT (no names)"))?;
    Ok((addr, path.to_string()))
}

pub fn request(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: omss-client\r\nAccept: */*\r\n\r\n")
}

/// Checks a response header: `Ok(None)` while incomplete, `Ok(Some(n))` for a good one of
/// `n` bytes (the stream starts after it). Good: status 200, and no length or chunked
/// encoding (the stream has no end that a header could announce).
pub fn check_head(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(format!("no end of the response header in {MAX_HEAD} bytes"))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || code != "200" {
        return Err(format!("status line {status:?}, expected HTTP/1.x 200"));
    }
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(format!("malformed header line {line:?}"))?;
        let name = name.trim().to_ascii_lowercase();
        if name == "content-length" || (name == "transfer-encoding" && value.contains("chunked")) {
            return Err(format!("unexpected {line:?} for a live stream"));
        }
    }
    Ok(Some(end + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (a, p) = parse_url("http://198.18.2.1:8080/udp/239.1.1.1:5000").unwrap();
        assert_eq!(
            (a.to_string().as_str(), p.as_str()),
            ("198.18.2.1:8080", "/udp/239.1.1.1:5000")
        );
        let (a, p) = parse_url("http://[::1]:81/udp/[ff0e::1]:5000").unwrap();
        assert_eq!(
            (a.to_string().as_str(), p.as_str()),
            ("[::1]:81", "/udp/[ff0e::1]:5000")
        );
        let (a, p) = parse_url("http://10.0.0.1").unwrap();
        assert_eq!((a.port(), p.as_str()), (80, "/"));
        assert!(parse_url("https://10.0.0.1/").is_err());
        assert!(parse_url("http://example.org/").is_err());
    }

    #[test]
    fn heads() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\nDATA";
        assert_eq!(check_head(ok), Ok(Some(ok.len() - 4)));
        assert_eq!(check_head(&ok[..20]), Ok(None));
        assert!(check_head(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").is_err());
        assert!(check_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").is_err());
        assert!(check_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(check_head(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n").is_err());
        assert!(check_head(b"ICY 200 OK\r\n\r\n").is_err());
        assert!(check_head(&[b'x'; MAX_HEAD + 1]).is_err());
    }
}
