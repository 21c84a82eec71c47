//! An IMAP mailbox as the inbox: connect (implicit TLS, STARTTLS, or plain when
//! explicitly configured), log in, watch one folder with IDLE (or poll), fetch
//! messages one at a time, and move each one out once its outcome is recorded.
//!
//! This module speaks IMAP only; it never interprets a message. Messages are never
//! deleted: handled ones go to the processed folder, unreadable ones to the quarantine
//! folder, with MOVE when the server has it and COPY + \Deleted + EXPUNGE otherwise.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use crate::config::{ImapSettings, SecretError, Tls};

/// How long one IDLE may last before we re-issue it: servers drop IDLE after 30
/// minutes (RFC 2177) and NAT boxes forget quiet connections sooner.
pub(crate) const IDLE_REFRESH: Duration = Duration::from_secs(5 * 60);

/// How long one IMAP exchange (connecting, the TLS handshake, the greeting, a
/// command and its whole answer) may take. A server that accepts a command and then
/// says nothing would otherwise hold the inbox until the watchdog restarts the
/// daemon; with this bound the loop gives up on the connection and reconnects.
/// Well above what a sound server needs for a large message, well below the
/// watchdog's limit for IMAP (`IDLE_REFRESH` + `inbox.stall_limit`).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs one IMAP exchange within [`COMMAND_TIMEOUT`].
async fn within<T, E: Into<ImapError>>(
    what: &'static str,
    exchange: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    within_for(COMMAND_TIMEOUT, what, exchange).await
}

async fn within_for<T, E: Into<ImapError>>(
    limit: Duration,
    what: &'static str,
    exchange: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, exchange).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(ImapError::Timeout {
            what,
            seconds: limit.as_secs(),
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP {host}:{port}: cannot connect: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("IMAP TLS: {0}")]
    Tls(String),
    #[error("IMAP login as {user} refused: {reason}")]
    Login { user: String, reason: String },
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The server took a command and did not finish answering in time.
    #[error("IMAP: no answer to {what} within {seconds} s; reconnecting")]
    Timeout { what: &'static str, seconds: u64 },
}

impl From<async_imap::error::Error> for ImapError {
    fn from(e: async_imap::error::Error) -> Self {
        ImapError::Protocol(e.to_string())
    }
}

/// A TCP connection, with or without TLS.
#[derive(Debug)]
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Conn>;

/// A quarantined message to find again: by its content's SHA-256 (hex), or, for one
/// quarantined unread, by its exact size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    Sha256(String),
    Size(u64),
}

/// Why a wait for new mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The server reported a change (or the poll interval passed).
    NewData,
    /// The refresh timeout passed with no news.
    Timeout,
    /// Shutdown was requested.
    Shutdown,
}

/// The configured IMAP inbox; connections are made from it.
pub struct ImapInbox {
    settings: ImapSettings,
    tls: Arc<rustls::ClientConfig>,
}

impl ImapInbox {
    /// Prepares TLS (system roots plus `ca_file`). Reads no password yet.
    pub fn new(settings: ImapSettings) -> Result<ImapInbox, ImapError> {
        // A missing or unsafe password file is a configuration error to report at
        // start, not a network failure to retry forever. It is read again at each
        // login, so a rotated password needs no restart.
        drop(settings.password.read()?);
        let tls = tls_config(settings.ca_file.as_deref())?;
        if settings.tls == Tls::None {
            tracing::warn!(
                host = %settings.host,
                "IMAP without TLS: the password and every report cross the network in clear text"
            );
        }
        Ok(ImapInbox { settings, tls })
    }

    pub fn settings(&self) -> &ImapSettings {
        &self.settings
    }

    /// Connects, logs in, creates the processed and quarantine folders when missing,
    /// and selects the watched folder.
    pub async fn connect(&self) -> Result<Mailbox, ImapError> {
        let s = &self.settings;
        let tcp = within("connecting", async {
            TcpStream::connect((s.host.as_str(), s.port))
                .await
                .map_err(|source| ImapError::Connect {
                    host: s.host.clone(),
                    port: s.port,
                    source,
                })
        })
        .await?;
        let _ = tcp.set_nodelay(true);
        let client = match s.tls {
            Tls::Implicit => {
                let mut client = async_imap::Client::new(self.wrap(tcp).await?);
                greeting(&mut client).await?;
                client
            }
            Tls::StartTls => {
                let mut client = async_imap::Client::new(Conn::Plain(tcp));
                greeting(&mut client).await?;
                within("STARTTLS", async {
                    client
                        .run_command_and_check_ok("STARTTLS", None)
                        .await
                        .map_err(|e| ImapError::Tls(format!("STARTTLS refused: {e}")))
                })
                .await?;
                let Conn::Plain(tcp) = client.into_inner() else {
                    return Err(ImapError::Tls("STARTTLS on a TLS connection".into()));
                };
                async_imap::Client::new(self.wrap(tcp).await?)
            }
            Tls::None => {
                let mut client = async_imap::Client::new(Conn::Plain(tcp));
                greeting(&mut client).await?;
                client
            }
        };
        let password = s.password.read()?;
        let login = within("LOGIN", async {
            client
                .login(&s.username, &password)
                .await
                .map_err(|(e, _)| ImapError::Login {
                    user: s.username.clone(),
                    reason: e.to_string(),
                })
        })
        .await;
        drop(password);
        let mut session = login?;
        let caps = within("CAPABILITY", session.capabilities()).await?;
        let idle = caps.has_str("IDLE");
        let can_move = caps.has_str("MOVE");
        let uidplus = caps.has_str("UIDPLUS");
        for folder in [&s.processed_folder, &s.quarantine_folder] {
            ensure_folder(&mut session, folder).await?;
        }
        let selected = within("SELECT", session.select(&s.folder)).await?;
        Ok(Mailbox {
            session,
            idle,
            can_move,
            uidplus,
            poll_interval: s.poll_interval,
            batch: s.fetch_batch,
            announced: Announced {
                exists: selected.exists,
                grown: false,
            },
        })
    }

    async fn wrap(&self, tcp: TcpStream) -> Result<Conn, ImapError> {
        let name = ServerName::try_from(self.settings.host.clone())
            .map_err(|e| ImapError::Tls(format!("{}: {e}", self.settings.host)))?;
        let tls = within("the TLS handshake", async {
            tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| ImapError::Tls(e.to_string()))
        })
        .await?;
        Ok(Conn::Tls(Box::new(tls)))
    }
}

async fn greeting(client: &mut async_imap::Client<Conn>) -> Result<(), ImapError> {
    let response = within("the greeting", async {
        Ok::<_, ImapError>(client.read_response().await)
    })
    .await?;
    match response {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Protocol(
            "connection closed before the greeting".into(),
        )),
        Err(e) => Err(ImapError::Protocol(format!("reading the greeting: {e}"))),
    }
}

async fn ensure_folder(session: &mut Session, folder: &str) -> Result<(), ImapError> {
    let exists = within("LIST", async {
        let names: Vec<_> = session
            .list(None, Some(folder))
            .await?
            .try_collect()
            .await?;
        Ok::<_, async_imap::error::Error>(!names.is_empty())
    })
    .await?;
    if !exists {
        within("CREATE", session.create(folder)).await?;
        tracing::info!(folder, "created IMAP folder");
    }
    Ok(())
}

fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is no reason to refuse the rest.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A logged-in session with the watched folder selected.
pub struct Mailbox {
    session: Session,
    idle: bool,
    can_move: bool,
    uidplus: bool,
    poll_interval: Duration,
    batch: u32,
    /// What the server announced about the folder's size.
    announced: Announced,
}

/// The folder's size as the server announces it beside its answers. A message that
/// arrives while a pass runs (issue 18) is announced with an EXISTS in the answer to
/// one of the pass's commands (a search's view of the folder is the one before that
/// answer), which async-imap queues aside; the server has then told us, and says
/// nothing more once IDLE starts: unless noticed here, the message waited for the IDLE
/// refresh, minutes. The queue is bounded (100) and drops what does not fit, so it is
/// drained at every step.
#[derive(Debug, Clone, Copy, Default)]
struct Announced {
    /// The message count as last announced (EXISTS, less one per EXPUNGE).
    exists: u32,
    /// Whether the count grew since the last [`Mailbox::list`]: mail the pass did not
    /// see.
    grown: bool,
}

impl Announced {
    fn absorb(&mut self, queue: impl Iterator<Item = async_imap::types::UnsolicitedResponse>) {
        use async_imap::types::UnsolicitedResponse;
        for response in queue {
            match response {
                UnsolicitedResponse::Exists(n) => {
                    self.grown |= n > self.exists;
                    self.exists = n;
                }
                UnsolicitedResponse::Expunge(_) => self.exists = self.exists.saturating_sub(1),
                _ => {}
            }
        }
    }
}

impl Mailbox {
    pub fn has_idle(&self) -> bool {
        self.idle
    }

    /// UIDs and sizes of every message in the folder, oldest first, asked for in
    /// batches so a large mailbox is never one huge response.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, ImapError> {
        // What was announced before the search is in its answer; what comes with the
        // answer is not (the server adds it to the session's view only then).
        let queue = self.session.unsolicited_responses.clone();
        let pending = || std::iter::from_fn(|| queue.try_recv().ok());
        self.announced.absorb(pending());
        self.announced.grown = false;
        // Messages someone marked \Deleted are on their way out; not ours to handle.
        let mut uids: Vec<u32> = within("UID SEARCH", self.session.uid_search("UNDELETED"))
            .await?
            .into_iter()
            .collect();
        self.announced.absorb(pending());
        uids.sort_unstable();
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(usize::try_from(self.batch).unwrap_or(100).max(1)) {
            let set = chunk
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let session = &mut self.session;
            let fetches: Vec<_> = within("UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID RFC822.SIZE)")
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            for f in fetches {
                if let Some(uid) = f.uid {
                    out.push((uid, u64::from(f.size.unwrap_or(0))));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The raw message, without setting \Seen (it is only seen once handled).
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let session = &mut self.session;
        within("UID FETCH", async {
            let mut stream = session
                .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await?;
            let mut body = None;
            while let Some(f) = stream.try_next().await? {
                if f.uid == Some(uid) {
                    body = f.body().map(<[u8]>::to_vec);
                }
            }
            Ok::<_, async_imap::error::Error>(body)
        })
        .await
    }

    /// Moves a message to `folder` (marked \Seen).
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), ImapError> {
        let set = uid.to_string();
        self.add_flag(&set, "\\Seen").await?;
        if self.can_move {
            within("UID MOVE", self.session.uid_mv(&set, folder)).await?;
            return Ok(());
        }
        within("UID COPY", self.session.uid_copy(&set, folder)).await?;
        self.add_flag(&set, "\\Deleted").await?;
        // Without UIDPLUS the only EXPUNGE removes every message marked \Deleted,
        // including ones another client marked and may still want: leave the copy
        // marked (it is skipped from now on) rather than risk anyone's mail.
        if self.uidplus {
            self.expunge(&set).await?;
        }
        Ok(())
    }

    async fn expunge(&mut self, set: &str) -> Result<(), ImapError> {
        let session = &mut self.session;
        within("UID EXPUNGE", async {
            let done: Vec<_> = session.uid_expunge(set).await?.try_collect().await?;
            drop(done);
            Ok::<_, async_imap::error::Error>(())
        })
        .await
    }

    async fn add_flag(&mut self, set: &str, flag: &str) -> Result<(), ImapError> {
        let session = &mut self.session;
        within("UID STORE", async {
            let updates: Vec<_> = session
                .uid_store(set, format!("+FLAGS.SILENT ({flag})"))
                .await?
                .try_collect()
                .await?;
            drop(updates);
            Ok::<_, async_imap::error::Error>(())
        })
        .await
    }

    /// Waits for new mail: IDLE when the server has it, else the poll interval.
    /// Returns early when `shutdown` changes.
    pub async fn wait(
        mut self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Mailbox, Woke), ImapError> {
        if *shutdown.borrow() {
            return Ok((self, Woke::Shutdown));
        }
        let queue = self.session.unsolicited_responses.clone();
        let pending = || std::iter::from_fn(|| queue.try_recv().ok());
        self.announced.absorb(pending());
        if self.announced.grown {
            // Mail came during the pass: another pass, now.
            return Ok((self, Woke::NewData));
        }
        if !self.idle {
            let woke = tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => Woke::NewData,
                _ = shutdown.changed() => Woke::Shutdown,
            };
            return Ok((self, woke));
        }
        let Mailbox {
            session,
            idle,
            can_move,
            uidplus,
            poll_interval,
            batch,
            mut announced,
        } = self;
        let mut handle = session.idle();
        within("IDLE", handle.init()).await?;
        // IDLE is accepted: whatever the server announced up to now is in the queue.
        // Compare with what the pass saw before waiting on the server's next word.
        announced.absorb(pending());
        let woke = if announced.grown {
            Woke::NewData
        } else {
            let (wait, interrupt) = handle.wait_with_timeout(IDLE_REFRESH);
            tokio::select! {
                r = wait => match r? {
                    async_imap::extensions::idle::IdleResponse::NewData(response) => {
                        if let async_imap::imap_proto::Response::MailboxData(
                            async_imap::imap_proto::MailboxDatum::Exists(n),
                        ) = response.parsed()
                        {
                            announced.exists = *n;
                        }
                        Woke::NewData
                    }
                    async_imap::extensions::idle::IdleResponse::Timeout => Woke::Timeout,
                    async_imap::extensions::idle::IdleResponse::ManualInterrupt => Woke::Shutdown,
                },
                _ = shutdown.changed() => {
                    drop(interrupt);
                    Woke::Shutdown
                }
            }
        };
        let session = within("DONE", handle.done()).await?;
        Ok((
            Mailbox {
                session,
                idle,
                can_move,
                uidplus,
                poll_interval,
                batch,
                announced,
            },
            woke,
        ))
    }

    /// Moves the message `which` from `from` back to `to`, for `quarantine retry`,
    /// and returns its content's SHA-256 (hex); `None` when it is not in `from`.
    /// Leaves `from` selected.
    pub async fn put_back(
        &mut self,
        from: &str,
        to: &str,
        which: &Which,
    ) -> Result<Option<String>, ImapError> {
        use sha2::Digest;
        within("SELECT", self.session.select(from)).await?;
        let uids: Vec<u32> = within("UID SEARCH", self.session.uid_search("UNDELETED"))
            .await?
            .into_iter()
            .collect();
        let sizes: Vec<(u32, u64)> = if let (Which::Size(_), false) = (which, uids.is_empty()) {
            let set = uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let session = &mut self.session;
            let fetches: Vec<_> = within("UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID RFC822.SIZE)")
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            fetches
                .iter()
                .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
                .collect()
        } else {
            Vec::new()
        };
        for uid in uids {
            let candidate = match which {
                Which::Sha256(_) => true,
                // Unread messages (too large) are known by size only: the one of that
                // exact size, or none (a choice between two would be a guess).
                Which::Size(size) => {
                    let same: Vec<u32> = sizes
                        .iter()
                        .filter(|(_, s)| s == size)
                        .map(|(u, _)| *u)
                        .collect();
                    same == [uid]
                }
            };
            if !candidate {
                continue;
            }
            let Some(raw) = self.fetch(uid).await? else {
                continue;
            };
            let sha256 = hex::encode(sha2::Sha256::digest(&raw));
            if matches!(which, Which::Size(_)) || Which::Sha256(sha256.clone()) == *which {
                let set = uid.to_string();
                if self.can_move {
                    within("UID MOVE", self.session.uid_mv(&set, to)).await?;
                } else {
                    within("UID COPY", self.session.uid_copy(&set, to)).await?;
                    self.add_flag(&set, "\\Deleted").await?;
                    if self.uidplus {
                        self.expunge(&set).await?;
                    }
                }
                return Ok(Some(sha256));
            }
        }
        Ok(None)
    }

    /// Says goodbye; errors do not matter any more.
    pub async fn logout(mut self) {
        let _ = within("LOGOUT", self.session.logout()).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A server that took a command and says nothing more: the exchange ends at
    /// the bound with an error that names the command (on tokio's paused clock).
    #[tokio::test(start_paused = true)]
    async fn an_exchange_without_an_answer_ends_at_its_bound() {
        let started = tokio::time::Instant::now();
        let silent = std::future::pending::<Result<(), ImapError>>();
        let err = within("UID FETCH", silent).await.unwrap_err();
        assert_eq!(started.elapsed(), COMMAND_TIMEOUT);
        assert_eq!(
            err.to_string(),
            "IMAP: no answer to UID FETCH within 90 s; reconnecting"
        );
        // An answer in time is passed through, errors converted.
        let answered = within_for(Duration::from_secs(1), "NOOP", async {
            Err::<(), _>(async_imap::error::Error::Bad("no".into()))
        })
        .await;
        assert!(
            matches!(answered, Err(ImapError::Protocol(_))),
            "{answered:?}"
        );
    }
    use async_imap::types::UnsolicitedResponse::{Exists, Expunge, Recent};

    #[test]
    fn announced_growth_is_new_mail_and_our_own_moves_are_not() {
        let mut a = Announced {
            exists: 3,
            grown: false,
        };
        // Our moves: three expunges, the server repeats the count.
        a.absorb([Expunge(1), Expunge(1), Recent(0), Exists(1)].into_iter());
        assert_eq!(a.exists, 1);
        assert!(!a.grown);
        a.absorb([Exists(1)].into_iter());
        assert!(!a.grown, "the same count again is no news");
        // A message arrived.
        a.absorb([Exists(2)].into_iter());
        assert!(a.grown && a.exists == 2);
    }
}
