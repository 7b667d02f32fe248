//! The state file of a restart: what a new omss-httpd needs to take over the streams of the
//! old one (their OMSS sessions, parked meanwhile) and to go on showing their clients.
//! JSON, written whole to a temporary file and renamed, mode 0600 (the tokens adopt the
//! sessions).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The format of the file; another version is refused.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct State {
    pub version: u32,
    /// The mode of the server that wrote it (share or copy).
    pub mode: String,
    /// Unix time it was written.
    pub written: f64,
    /// Restarts before this one.
    pub restarts: u64,
    /// Clients served so far and responses by status code, carried on for /status.
    pub served: u64,
    pub responses: BTreeMap<u16, u64>,
    /// Set when the server re-executed itself: the pid that keeps the fds below open (the
    /// same process after execve). Another process ignores every fd in the file.
    pub exec_pid: Option<u32>,
    /// The listening socket, kept open across execve.
    pub listen_fd: Option<i32>,
    pub streams: Vec<StreamState>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StreamState {
    /// The `/udp/ADDR:PORT` of the stream.
    pub address: SocketAddr,
    pub session: u32,
    /// The session's token, 0x-prefixed hex.
    pub token: String,
    /// The burst (ms) the session was created with: its sinks' default.
    pub burst_ms: u32,
    /// Unix time the stream was opened.
    pub since: f64,
    pub clients: Vec<ClientState>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ClientState {
    /// The sink id.
    pub id: u32,
    pub address: String,
    /// The server's end of the connection.
    #[serde(default)]
    pub local: Option<SocketAddr>,
    /// Unix time the client joined.
    pub since: f64,
    /// The server's own descriptor of the client's socket, kept open across execve (it tells
    /// a client that closed its side).
    pub fd: Option<i32>,
}

impl State {
    /// The same state for another process: no descriptor in it.
    pub fn without_fds(mut self) -> Self {
        self.exec_pid = None;
        self.listen_fd = None;
        for c in self.streams.iter_mut().flat_map(|s| s.clients.iter_mut()) {
            c.fd = None;
        }
        self
    }
}

/// Sets or clears `fd`'s close-on-exec flag (cleared: the descriptor survives execve).
pub fn set_cloexec(fd: i32, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on any fd is safe; a bad one gets EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn token_hex(token: u64) -> String {
    format!("{token:#018x}")
}

pub fn parse_token(s: &str) -> Result<u64, String> {
    s.strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or(format!("bad token {s:?}"))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".tmp");
    PathBuf::from(p)
}

/// Writes `state` to `path`: a new temporary file beside it, then a rename.
pub fn write(path: &Path, state: &State) -> io::Result<()> {
    let tmp = tmp_path(path);
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let text = serde_json::to_string_pretty(state).map_err(io::Error::other)? + "\n";
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

pub fn read(path: &Path) -> Result<State, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s: State = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if s.version != VERSION {
        return Err(format!(
            "{}: state file version {}, this omss-httpd reads {VERSION}",
            path.display(),
            s.version
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            version: VERSION,
            mode: "share".into(),
            written: 1000.5,
            restarts: 2,
            served: 7,
            responses: [(200, 7), (404, 1)].into(),
            exec_pid: Some(42),
            listen_fd: Some(3),
            streams: vec![StreamState {
                address: "[ff0e::1]:5000".parse().unwrap(),
                session: 9,
                token: token_hex(u64::MAX - 1),
                burst_ms: 500,
                since: 990.25,
                clients: vec![ClientState {
                    id: 1,
                    address: "198.18.2.2:40000".into(),
                    local: Some("198.18.2.1:8080".parse().unwrap()),
                    since: 995.0,
                    fd: Some(11),
                }],
            }],
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("omss-httpd-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        let s = sample();
        write(&path, &s).unwrap();
        assert_eq!(read(&path).unwrap(), s);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!tmp_path(&path).exists());
        // Written again over the old one.
        let s2 = s.clone().without_fds();
        write(&path, &s2).unwrap();
        let back = read(&path).unwrap();
        assert_eq!((back.exec_pid, back.listen_fd), (None, None));
        assert_eq!(back.streams[0].clients[0].fd, None);
        fs::write(&path, "{\"version\": 99}").unwrap();
        assert!(read(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_are_hex() {
        for t in [0, 1, 0x5c0e_93a1_d27f_4b86, u64::MAX] {
            assert_eq!(parse_token(&token_hex(t)), Ok(t));
        }
        assert_eq!(token_hex(1), "0x0000000000000001");
        assert!(parse_token("12").is_err());
        assert!(parse_token("0xg").is_err());
    }
}
