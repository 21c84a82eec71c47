//! The control socket: how the command line works on the store while the daemon runs.
//!
//! sled lets one process open the store, so while `serve` runs, commands such as
//! `reports list` or `reports set` are sent to it over a Unix socket beside the store
//! (`<store.path>.sock`, mode 0600) and run there, against the daemon's own store.
//! Only the daemon's user (and root) may connect: the peer's uid is checked on every
//! connection. One JSON request line; the answer is one JSON line (exit code,
//! standard error and the length of standard output) followed by standard output's
//! bytes as they are: a listing of 100,000 reports is 74 MiB, which escaped inside
//! JSON and parsed again cost a quarter of its time.
//!
//! A client that asks for frames (`frames: true`, which this version's clients do)
//! gets standard output as the command writes it instead, so neither side holds a
//! whole listing: the line `{"frames":true}`, then frames of a 4-byte big-endian
//! length and that many bytes, an empty frame, and last a JSON line with the exit
//! code and standard error. An answer that ends before that last line was cut short
//! (the daemon died or failed midway), and the client says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::pipeline::Pipeline;

/// Longest request accepted (a reply's text travels in it).
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// A command line to run in the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The arguments after the program name.
    pub argv: Vec<String>,
    /// Who asked, for the report's history: `cli:<user>`.
    pub actor: String,
    /// The text of a file the command reads (`reports reply --file`), read by the
    /// client: the daemon may not be able to see the client's files.
    pub file: Option<String>,
    /// The connecting process's uid, as the kernel tells it (SO_PEERCRED), set by the
    /// daemon: the actor recorded is derived from it, never taken from the client.
    #[serde(skip)]
    pub peer_uid: Option<u32>,
    /// The client reads standard output in frames, as it is written (see the
    /// module's description); a daemon of an earlier version ignores it.
    #[serde(default)]
    pub frames: bool,
}

/// What the command printed, and its exit code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Response {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

/// The answer's first line. `stdout` is how a daemon of an earlier version sends
/// standard output (inside the line); this version sends `stdout_bytes` and the bytes
/// after the line.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Header {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdout_bytes: Option<u64>,
    /// Standard output follows in frames; the exit code and standard error come in a
    /// [`Trailer`] after them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    frames: bool,
    #[serde(default)]
    stderr: String,
    #[serde(default)]
    code: u8,
}

/// The line after the frames: how the command ended.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Trailer {
    stderr: String,
    code: u8,
}

/// The longest frame the daemon sends (a listing hands on 64 KiB at a time); a longer
/// length is a garbled answer, not a reason to allocate.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// How many pieces of output may wait for the socket: the command stops when the
/// client reads slowly, rather than the daemon gathering the listing.
const FRAMES_IN_FLIGHT: usize = 4;

/// Where a command running in the daemon hands standard output as it writes it (see
/// [`crate::cli`]'s `Out`): an error means the client went away.
pub(crate) type Sink = Box<dyn FnMut(String) -> std::io::Result<()> + Send>;

/// Runs a request against the daemon's pipeline; supplied by the command line. With a
/// sink, standard output may go there in pieces; the [`Response`] holds the rest.
pub(crate) type Handler = Arc<dyn Fn(&Pipeline, Request, Option<Sink>) -> Response + Send + Sync>;

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes on Linux,
/// with its terminating NUL).
pub(crate) const MAX_SOCKET_PATH: usize = 107;

/// Longest socket file name used as is; a longer one (a store directory with a very
/// long name) is replaced by a hash of it, so the short form below always fits.
const MAX_SOCKET_NAME: usize = 64;

/// The socket's path for a store: `<store.path>.sock`, beside the store.
pub fn socket_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_owned();
    name.push(".sock");
    if name.len() > MAX_SOCKET_NAME {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_encoded_bytes());
        name = format!(
            ".disclosured-{}.sock",
            hex::encode(digest.get(..8).unwrap_or_default())
        )
        .into();
    }
    store.with_file_name(name)
}

/// How a socket at `path` is reached, for `doctor`: `None` when the path fits in a
/// socket address, else the reason it is reached through its directory instead.
pub(crate) fn socket_detour(path: &Path) -> Option<String> {
    (path.as_os_str().len() > MAX_SOCKET_PATH).then(|| {
        format!(
            "its path is {} bytes, over the {MAX_SOCKET_PATH} a socket address holds: reached through /proc/self/fd/<directory>/{}",
            path.as_os_str().len(),
            path.file_name().unwrap_or_default().to_string_lossy()
        )
    })
}

/// Runs `f` (a bind or a connect) on a path short enough for a socket address. A long
/// `store.path` made the socket unreachable and locked out every store command (issue
/// 18): a path over [`MAX_SOCKET_PATH`] bytes is reached as
/// `/proc/self/fd/<its directory>/<name>`, the same file through a short path.
fn with_short_path<T>(
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return f(path);
    }
    use std::os::fd::AsRawFd;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    let dir = std::fs::File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let result = f(&short);
    drop(dir);
    result
}

/// How long a client waits for the daemon's answer to `status` (and `doctor`'s
/// questions): a health check must answer quickly, whatever the daemon does.
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client waits for the answer to any other command (a listing of
/// 100,000 reports takes a few seconds).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How long `backup` waits: the daemon writes the whole store before it answers.
pub(crate) const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Overrides every client timeout, in seconds (a slow host, or the tests).
pub(crate) const TIMEOUT_ENV: &str = "DISCLOSURED_CONTROL_TIMEOUT";

/// How long a client waits for the daemon to answer `request`: no wait is unbounded,
/// so a daemon that is stopped or hung makes a command fail with a message, not hang.
pub(crate) fn timeout_for(request: &Request) -> Duration {
    if let Some(secs) = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
    {
        return Duration::from_secs_f64(secs);
    }
    match subcommand(&request.argv) {
        Some("status") => STATUS_TIMEOUT,
        Some("backup") => BACKUP_TIMEOUT,
        _ => COMMAND_TIMEOUT,
    }
}

/// The command a request's arguments name: the first that is neither an option nor
/// the value of one of the global options (`--config FILE`, `--credentials DIR`).
fn subcommand(argv: &[String]) -> Option<&str> {
    let mut args = argv.iter().map(String::as_str);
    while let Some(a) = args.next() {
        match a {
            "--config" | "--credentials" => {
                args.next();
            }
            _ if a.starts_with('-') => {}
            _ => return Some(a),
        }
    }
    None
}

/// Sends a request to a running daemon. `Ok(None)` when no daemon listens there. An
/// answer that does not come within [`timeout_for`] is an error of kind
/// [`std::io::ErrorKind::TimedOut`].
pub(crate) fn send(socket: &Path, request: &Request) -> std::io::Result<Option<Response>> {
    let mut stdout = Vec::new();
    let Some(end) = send_to(socket, request, &mut stdout)? else {
        return Ok(None);
    };
    let stdout = String::from_utf8(stdout)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Some(Response {
        stdout,
        stderr: end.stderr,
        code: end.code,
    }))
}

/// How a command that ran in the daemon ended (its standard output went to the
/// writer given to [`send_to`]).
#[derive(Debug)]
pub(crate) struct Ended {
    pub stderr: String,
    pub code: u8,
}

/// Sends a request to a running daemon and copies its standard output to `stdout`
/// as it arrives. `Ok(None)` when no daemon listens there. An answer cut short (the
/// daemon died midway) is an error of kind [`std::io::ErrorKind::UnexpectedEof`]
/// saying how much arrived: what was written to `stdout` is then incomplete. No
/// piece of the answer may take longer than [`timeout_for`] to come.
pub(crate) fn send_to(
    socket: &Path,
    request: &Request,
    stdout: &mut dyn Write,
) -> std::io::Result<Option<Ended>> {
    let timeout = timeout_for(request);
    let mut request = request.clone();
    request.frames = true;
    match send_within(socket, &request, timeout, stdout) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer on {} within {} s",
                    socket.display(),
                    timeout.as_secs_f64()
                ),
            ))
        }
        other => other,
    }
}

fn send_within(
    socket: &Path,
    request: &Request,
    timeout: Duration,
    stdout: &mut dyn Write,
) -> std::io::Result<Option<Ended>> {
    let stream = match with_short_path(socket, |p| std::os::unix::net::UnixStream::connect(p)) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut writer = &stream;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let header: Header = serde_json::from_str(&answer).map_err(|e| invalid(e.to_string()))?;
    match (header.frames, header.stdout, header.stdout_bytes) {
        (true, _, _) => read_frames(&mut reader, stdout).map(Some),
        (false, Some(text), _) => {
            stdout.write_all(text.as_bytes())?;
            Ok(Some(Ended {
                stderr: header.stderr,
                code: header.code,
            }))
        }
        (false, None, n) => {
            let n = n.unwrap_or(0);
            let copied = std::io::copy(&mut Read::take(&mut reader, n), stdout)?;
            if copied != n {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the daemon's answer ended after {copied} of {n} bytes"),
                ));
            }
            Ok(Some(Ended {
                stderr: header.stderr,
                code: header.code,
            }))
        }
    }
}

/// Copies frames to `stdout` until the empty one, then reads the trailer.
fn read_frames(reader: &mut impl BufRead, stdout: &mut dyn Write) -> std::io::Result<Ended> {
    let mut received: u64 = 0;
    let cut = |received: u64, what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "the daemon's answer ended {what}, after {received} bytes of output: the output is incomplete (did the daemon stop? see its log)"
            ),
        )
    };
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(cut(received, "midway"));
            }
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            break;
        }
        if len > MAX_FRAME {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the daemon sent a frame of {len} bytes, over the {MAX_FRAME} allowed"),
            ));
        }
        let copied = std::io::copy(&mut Read::take(&mut *reader, len as u64), stdout)?;
        received += copied;
        if copied != len as u64 {
            return Err(cut(received, "midway"));
        }
    }
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(cut(received, "before saying how the command ended"));
    }
    let trailer: Trailer = serde_json::from_str(&line)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Ended {
        stderr: trailer.stderr,
        code: trailer.code,
    })
}

/// Listens on the control socket until shutdown.
pub(crate) async fn serve(
    pipeline: Arc<Pipeline>,
    handler: Handler,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let path = socket_path(&pipeline.settings.store.path);
    // A socket left by a daemon that was killed: nothing listens on it any more (the
    // store's lock proves no other daemon runs), so it can go.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = with_short_path(&path, |p| tokio::net::UnixListener::bind(p))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    info!(socket = %path.display(), "control socket ready");
    let me = rustix::process::geteuid().as_raw();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!(error = %e, "control socket: accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let peer = stream.peer_cred().map(|c| c.uid()).ok();
        if !matches!(peer, Some(uid) if uid == me || uid == 0) {
            warn!(peer_uid = ?peer, "control socket: connection from another user refused");
            continue;
        }
        let (p, h) = (Arc::clone(&pipeline), Arc::clone(&handler));
        tokio::spawn(async move {
            if let Err(e) = answer(stream, peer, p, h).await {
                warn!(error = %e, "control socket: request failed");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(
    stream: tokio::net::UnixStream,
    peer_uid: Option<u32>,
    pipeline: Arc<Pipeline>,
    handler: Handler,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut request = match serde_json::from_str::<Request>(&line) {
        Ok(request) => request,
        Err(e) => {
            let response = Response {
                stderr: format!("disclosured: bad control request: {e}\n"),
                code: 2,
                ..Response::default()
            };
            return write_whole(&mut write, response).await;
        }
    };
    request.peer_uid = peer_uid;
    info!(command = %request.argv.first().map(String::as_str).unwrap_or("-"), actor = %request.actor, "control request");
    let failed = |e: tokio::task::JoinError| Response {
        stderr: format!("disclosured: the command failed in the daemon: {e}\n"),
        code: 1,
        ..Response::default()
    };
    if !request.frames {
        // A client of an earlier version: the whole output after one header.
        let response = tokio::task::spawn_blocking(move || handler(&pipeline, request, None))
            .await
            .unwrap_or_else(failed);
        return write_whole(&mut write, response).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(FRAMES_IN_FLIGHT);
    let sink: Sink = Box::new(move |text: String| {
        tx.blocking_send(text).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    });
    let command = tokio::task::spawn_blocking(move || handler(&pipeline, request, Some(sink)));
    let mut line = serde_json::to_vec(&Header {
        frames: true,
        ..Header::default()
    })?;
    line.push(b'\n');
    // A client that stops reading ends the command: `rx` goes, the sink fails.
    let sent = async {
        write.write_all(&line).await?;
        while let Some(text) = rx.recv().await {
            write_frame(&mut write, text.as_bytes()).await?;
        }
        Ok::<_, std::io::Error>(())
    }
    .await;
    drop(rx);
    let response = command.await.unwrap_or_else(failed);
    sent?;
    write_frame(&mut write, response.stdout.as_bytes()).await?;
    write.write_all(&0u32.to_be_bytes()).await?;
    let mut line = serde_json::to_vec(&Trailer {
        stderr: response.stderr,
        code: response.code,
    })?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.shutdown().await
}

/// One frame of standard output (none for nothing: the empty frame ends them).
async fn write_frame(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    bytes: &[u8],
) -> std::io::Result<()> {
    for piece in bytes.chunks(MAX_FRAME) {
        let len = u32::try_from(piece.len()).unwrap_or(u32::MAX);
        write.write_all(&len.to_be_bytes()).await?;
        write.write_all(piece).await?;
    }
    Ok(())
}

/// The answer for a client that does not read frames: a header with the length of
/// standard output, then its bytes.
async fn write_whole(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: Response,
) -> std::io::Result<()> {
    let header = Header {
        stdout: None,
        stdout_bytes: Some(response.stdout.len() as u64),
        frames: false,
        stderr: response.stderr,
        code: response.code,
    };
    let mut line = serde_json::to_vec(&header)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.write_all(response.stdout.as_bytes()).await?;
    write.shutdown().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_follows_the_command_not_the_global_options() {
        let req = |argv: &[&str]| Request {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            actor: "cli:t".into(),
            file: None,
            peer_uid: None,
            frames: false,
        };
        // The override is for the integration tests; no unit test sets it.
        assert!(std::env::var_os(TIMEOUT_ENV).is_none());
        for (argv, want) in [
            (
                &["--config", "c.toml", "status", "--json"][..],
                STATUS_TIMEOUT,
            ),
            (&["--credentials=d", "status"], STATUS_TIMEOUT),
            (&["--config", "status", "reports", "list"], COMMAND_TIMEOUT),
            (&["backup", "/tmp/b"], BACKUP_TIMEOUT),
            (
                &["reports", "set", "VR-1", "--note", "status"],
                COMMAND_TIMEOUT,
            ),
        ] {
            assert_eq!(timeout_for(&req(argv)), want, "{argv:?}");
        }
    }

    #[test]
    fn a_daemon_that_takes_the_request_and_never_answers_is_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Accepts and keeps the connection open without a word, like a stopped daemon.
        let holder = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let request = Request {
            argv: vec!["status".into()],
            actor: "cli:t".into(),
            file: None,
            peer_uid: None,
            frames: false,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let client = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(send_within(
                &client,
                &request,
                Duration::from_millis(300),
                &mut Vec::new(),
            ));
        });
        // Bounded here too: without the client's timeout this test fails, not hangs.
        let e = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the client waited for ever on a silent daemon")
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e:?}"
        );
        drop(holder.join().unwrap());
    }

    /// A daemon stand-in that reads one request line, answers with `answer` and
    /// gives back the line it read.
    fn answering(answer: Vec<u8>) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream).write_all(&answer).unwrap();
            line
        });
        (dir, path, server)
    }

    fn request() -> Request {
        Request {
            argv: vec!["reports".into(), "list".into()],
            actor: "cli:test".into(),
            file: None,
            peer_uid: None,
            frames: false,
        }
    }

    /// Issue 18: a store path whose socket path is over 107 bytes locked out every
    /// store command. The socket is bound and reached through its directory.
    #[test]
    fn a_socket_path_too_long_for_an_address_is_bound_and_reached() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let socket = socket_path(&deep.join("state"));
        assert!(
            socket.as_os_str().len() > MAX_SOCKET_PATH,
            "{}",
            socket.display()
        );
        assert_eq!(socket.file_name().unwrap(), "state.sock");
        assert!(socket_detour(&socket).unwrap().contains("/proc/self/fd"));
        assert_eq!(send(&socket, &request()).unwrap().map(|r| r.code), None);
        let listener =
            with_short_path(&socket, |p| std::os::unix::net::UnixListener::bind(p)).unwrap();
        assert!(socket.exists(), "the socket file is where it belongs");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream)
                .write_all(b"{\"stdout_bytes\":2,\"stderr\":\"\",\"code\":0}\nok")
                .unwrap();
        });
        let response = send(&socket, &request()).unwrap().unwrap();
        server.join().unwrap();
        assert_eq!(response.stdout, "ok");
        // A store directory with a very long name: a short, stable name beside it.
        let long = dir.path().join("s".repeat(100));
        let socket = socket_path(&long);
        assert_eq!(socket, socket_path(&long));
        assert!(
            socket.file_name().unwrap().len() < 40,
            "{}",
            socket.display()
        );
        assert_eq!(socket.parent(), long.parent());
        // Short paths are as before.
        assert_eq!(
            socket_path(Path::new("/var/lib/x/state")),
            Path::new("/var/lib/x/state.sock")
        );
        assert!(socket_detour(Path::new("/var/lib/x/state.sock")).is_none());
    }

    #[test]
    fn reads_output_after_the_header_line_and_from_an_older_daemon() {
        // A daemon that answers a client not asking for frames: the header, then
        // standard output as it is (quotes, newlines, non-ASCII text included).
        let stdout = "{\"id\": \"VR-2026-0001\"}\nZürich \"quoted\"\n".repeat(1000);
        let mut answer = serde_json::to_vec(&Header {
            stdout: None,
            stdout_bytes: Some(stdout.len() as u64),
            frames: false,
            stderr: "warning\n".into(),
            code: 3,
        })
        .unwrap();
        answer.push(b'\n');
        answer.extend_from_slice(stdout.as_bytes());
        let (_dir, path, server) = answering(answer);
        let response = send(&path, &request()).unwrap().unwrap();
        server.join().unwrap();
        assert_eq!(response.stdout, stdout);
        assert_eq!((response.stderr.as_str(), response.code), ("warning\n", 3));

        // A daemon started before an upgrade answers in one line.
        let old = b"{\"stdout\":\"listing\\n\",\"stderr\":\"\",\"code\":0}\n".to_vec();
        let (_dir, path, server) = answering(old);
        let response = send(&path, &request()).unwrap().unwrap();
        server.join().unwrap();
        assert_eq!((response.stdout.as_str(), response.code), ("listing\n", 0));

        // An answer cut short is an error, not a short listing.
        let mut cut = b"{\"stdout_bytes\":100,\"stderr\":\"\",\"code\":0}\n".to_vec();
        cut.extend_from_slice(b"only this");
        let (_dir, path, server) = answering(cut);
        let err = send(&path, &request()).unwrap_err();
        server.join().unwrap();
        assert!(err.to_string().contains("after 9 of 100 bytes"), "{err}");
    }

    /// Frames as this version's daemon sends them: `{"frames":true}`, frames, an
    /// empty frame, the trailer.
    fn framed(pieces: &[&[u8]], end: bool, trailer: Option<&str>) -> Vec<u8> {
        let mut answer = b"{\"frames\":true}\n".to_vec();
        for p in pieces {
            answer.extend_from_slice(&u32::try_from(p.len()).unwrap().to_be_bytes());
            answer.extend_from_slice(p);
        }
        if end {
            answer.extend_from_slice(&[0, 0, 0, 0]);
        }
        if let Some(t) = trailer {
            answer.extend_from_slice(t.as_bytes());
        }
        answer
    }

    #[test]
    fn frames_are_copied_as_they_come_and_an_answer_cut_short_is_an_error() {
        let whole = framed(
            &[
                b"[\n  {\"id\": 1}",
                b",\n  {\"id\": \"Z\xc3\xbcrich\"}",
                b"\n]\n",
            ],
            true,
            Some("{\"stderr\":\"warning\\n\",\"code\":3}\n"),
        );
        let (_dir, path, server) = answering(whole);
        let mut stdout = Vec::new();
        let ended = send_to(&path, &request(), &mut stdout).unwrap().unwrap();
        server.join().unwrap();
        assert_eq!(
            stdout,
            "[\n  {\"id\": 1},\n  {\"id\": \"Zürich\"}\n]\n".as_bytes()
        );
        assert_eq!((ended.stderr.as_str(), ended.code), ("warning\n", 3));

        // The daemon died after two frames: what came is kept, and the error says
        // the output is incomplete and how much of it arrived.
        for (answer, what) in [
            (framed(&[b"abc", b"de"], false, None), "midway"),
            // Cut inside a frame.
            (
                {
                    let mut a = framed(&[b"abc"], false, None);
                    a.extend_from_slice(&[0, 0, 0, 9, b'x']);
                    a
                },
                "midway",
            ),
            // Every frame, but not how the command ended.
            (framed(&[b"abc", b"de"], true, None), "before saying how"),
            (
                framed(&[b"abc", b"de"], true, Some("{\"stderr\":\"\",")),
                "before saying how",
            ),
        ] {
            let (_dir, path, server) = answering(answer);
            let mut stdout = Vec::new();
            let err = send_to(&path, &request(), &mut stdout).unwrap_err();
            server.join().unwrap();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
            let text = err.to_string();
            assert!(text.contains(what) && text.contains("incomplete"), "{text}");
            assert!(stdout.starts_with(b"abc"), "{stdout:?}");
            assert!(
                text.contains(&format!("after {} bytes", stdout.len())),
                "{text}"
            );
        }

        // A length no daemon sends is refused before anything is allocated for it.
        let mut garbled = b"{\"frames\":true}\n".to_vec();
        garbled.extend_from_slice(&u32::MAX.to_be_bytes());
        let (_dir, path, server) = answering(garbled);
        let err = send_to(&path, &request(), &mut Vec::new()).unwrap_err();
        server.join().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    }

    /// The request a client of this version sends asks for frames; one from an
    /// earlier version (no `frames`) is read as not asking.
    #[test]
    fn clients_ask_for_frames_and_older_requests_parse() {
        let old: Request =
            serde_json::from_str(r#"{"argv":["reports","list"],"actor":"cli:x","file":null}"#)
                .unwrap();
        assert!(!old.frames);
        let (_dir, path, server) =
            answering(framed(&[], true, Some("{\"stderr\":\"\",\"code\":0}\n")));
        send(&path, &request()).unwrap().unwrap();
        let line = server.join().unwrap();
        let sent: Request = serde_json::from_str(&line).unwrap();
        assert!(sent.frames, "{line}");
    }
}
