//! The source side of Icecast 2.4 (`omss-server --icecast`): the request that opens a mount
//! and the check of Icecast's answer. Icecast 2.4.4 takes an HTTP `PUT` with Basic
//! authentication; with `Expect: 100-continue` it answers `100 Continue`, otherwise `200 OK`,
//! and from then on reads the request's body as the stream, for as long as it lasts.

use crate::http;
use std::net::SocketAddr;

/// The Content-Type announced for the stream (Icecast relays it to its listeners).
pub const CONTENT_TYPE: &str = "video/mp2t";

/// `http://IP:PORT/MOUNT` -> the server's address and the mount.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let (addr, mount) = http::parse_url(url)?;
    if mount.len() < 2 || mount.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url}: needs a mount, /NAME, without spaces"));
    }
    Ok((addr, mount))
}

/// The source request for `mount`.
pub fn source_request(addr: SocketAddr, mount: &str, user: &str, password: &str) -> String {
    format!(
        "PUT {mount} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\n\
         User-Agent: omss-server\r\nContent-Type: {CONTENT_TYPE}\r\nIce-Public: 0\r\n\
         Expect: 100-continue\r\n\r\n",
        base64(format!("{user}:{password}").as_bytes())
    )
}

/// Checks Icecast's answer: `Ok(None)` while incomplete, `Ok(Some((n, status line)))` for
/// `100 Continue` or `200 OK` in `n` bytes (the stream may start), an error with the status
/// line otherwise (401: bad credentials; 403: mount in use, or too many sources).
pub fn check_answer(buf: &[u8]) -> Result<Option<(usize, String)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > http::MAX_HEAD {
            Err(format!(
                "no end of Icecast's answer in {} bytes",
                http::MAX_HEAD
            ))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = head.split("\r\n").next().unwrap_or("").to_string();
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if matches!(version, "HTTP/1.0" | "HTTP/1.1") && matches!(code, "100" | "200") {
        Ok(Some((end + 4, status)))
    } else {
        Err(format!("Icecast refused the source: {status:?}"))
    }
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            let c = ABC[(n >> (18 - 6 * i) & 63) as usize] as char;
            s.push(if i <= chunk.len() { c } else { '=' });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("source:hackme", "c291cmNlOmhhY2ttZQ=="),
        ];
        for (plain, coded) in cases {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
    }

    #[test]
    fn request() {
        let (addr, mount) = parse_url("http://198.18.10.1:8000/omss").unwrap();
        let r = source_request(addr, &mount, "source", "hackme");
        assert!(r.starts_with("PUT /omss HTTP/1.1\r\nHost: 198.18.10.1:8000\r\n"));
        assert!(r.contains("\r\nAuthorization: Basic c291cmNlOmhhY2ttZQ==\r\n"));
        assert!(r.contains("\r\nContent-Type: video/mp2t\r\nIce-Public: 0\r\n"));
        assert!(r.ends_with("\r\nExpect: 100-continue\r\n\r\n"));
        assert!(parse_url("http://198.18.10.1:8000/").is_err());
        assert!(parse_url("http://198.18.10.1:8000").is_err());
        assert!(parse_url("http://198.18.10.1:8000/a b").is_err());
    }

    #[test]
    fn answers() {
        // What Icecast 2.4.4 sends to a PUT with Expect: 100-continue.
        let cont = b"HTTP/1.1 100 Continue\r\nServer: Icecast 2.4.4\r\nConnection: Close\r\n\
                     Content-Length: 0\r\n\r\n";
        assert_eq!(
            check_answer(cont),
            Ok(Some((cont.len(), "HTTP/1.1 100 Continue".into())))
        );
        assert_eq!(check_answer(&cont[..30]), Ok(None));
        let ok = b"HTTP/1.0 200 OK\r\n\r\n";
        assert_eq!(check_answer(ok).unwrap().unwrap().0, ok.len());
        let auth = check_answer(b"HTTP/1.0 401 Authentication Required\r\n\r\n").unwrap_err();
        assert!(auth.contains("401 Authentication Required"), "{auth}");
        assert!(check_answer(b"HTTP/1.0 403 Mountpoint in use\r\n\r\n").is_err());
        assert!(check_answer(b"ICY 200 OK\r\n\r\n").is_err());
        assert!(check_answer(&[b'x'; http::MAX_HEAD + 1]).is_err());
    }
}
