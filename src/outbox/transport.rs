//! How queued mail leaves the gateway: a directory of `.eml` files, an SMTP relay or a
//! local sendmail. Built once at start; each send says whether a failure is final.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lettre::Transport as _;

use super::{OutboxError, file};
use crate::config::Outbox as OutboxSettings;

/// How queued mail leaves the gateway.
pub enum Transport {
    File(file::FileOutbox),
    Smtp(Box<lettre::SmtpTransport>),
    Sendmail(Sendmail),
}

/// A local sendmail-compatible program, run once per message with a deadline.
pub struct Sendmail {
    command: std::path::PathBuf,
    timeout: Duration,
}

impl Transport {
    /// Builds the transport once at start; the SMTP password is read here, so a
    /// missing or unsafe password file stops the start-up with a clear message.
    pub fn from_settings(settings: &OutboxSettings) -> Result<Transport, OutboxError> {
        match settings {
            OutboxSettings::File { path } => file::FileOutbox::open(path)
                .map(Transport::File)
                .map_err(|e| OutboxError::Setup(e.to_string())),
            OutboxSettings::Smtp(smtp) => {
                smtp_transport(smtp).map(|t| Transport::Smtp(Box::new(t)))
            }
            OutboxSettings::Sendmail { command, timeout } => Ok(Transport::Sendmail(Sendmail {
                command: command.clone(),
                timeout: *timeout,
            })),
        }
    }

    /// Sends one message. `from` is the envelope sender (where bounces go); `None` is
    /// the null return path `<>` (RFC 3834 answers that want no bounce back).
    pub(super) fn send(
        &self,
        from: Option<&str>,
        to: &str,
        bytes: &[u8],
    ) -> Result<(), OutboxError> {
        let from: Option<lettre::Address> = from
            .map(str::parse)
            .transpose()
            .map_err(|e: lettre::address::AddressError| OutboxError::Compose(e.to_string()))?;
        let to: lettre::Address = to
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::BadRecipient(e.to_string()))?;
        let envelope = lettre::address::Envelope::new(from, vec![to])
            .map_err(|e| OutboxError::Compose(e.to_string()))?;
        match self {
            // The file transport has no envelope: the headers say who it is for.
            // Its directory is synced once per batch (`Transport::sync`).
            Transport::File(t) => t
                .send_unsynced(bytes)
                .map(|_| ())
                .map_err(|e| OutboxError::Transport(e.to_string())),
            Transport::Smtp(t) => t.send_raw(&envelope, bytes).map(|_| ()).map_err(|e| {
                // Only a 5xx reply is final; a dropped connection, a timeout or a 4xx
                // may go through later.
                if e.is_permanent() {
                    OutboxError::Rejected(e.to_string())
                } else {
                    OutboxError::Transport(e.to_string())
                }
            }),
            Transport::Sendmail(t) => t.send(&envelope, bytes),
        }
    }
}

impl Transport {
    /// Makes what [`Transport::send`] accepted durable where that is the gateway's
    /// job: the file transport's directory. A relay has the message once it answered.
    pub(super) fn sync(&self) -> Result<(), OutboxError> {
        match self {
            Transport::File(t) => t.sync().map_err(|e| OutboxError::Transport(e.to_string())),
            Transport::Smtp(_) | Transport::Sendmail(_) => Ok(()),
        }
    }
}

impl Sendmail {
    /// Hands one message to the program (`-i -f FROM -- TO`, as lettre's sendmail
    /// transport does). Any failure is temporary: an exit status other than 0, or a
    /// run longer than the deadline, after which the program is killed.
    fn send(&self, envelope: &lettre::address::Envelope, bytes: &[u8]) -> Result<(), OutboxError> {
        let shown = self.command.display();
        let mut cmd = Command::new(&self.command);
        cmd.arg("-i");
        match envelope.from() {
            Some(from) => cmd.arg("-f").arg(from),
            // The null return path, as sendmail-compatible programs take it.
            None => cmd.arg("-f").arg("<>"),
        };
        cmd.arg("--")
            .args(envelope.to().iter().map(ToString::to_string))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A group of its own, so that the kill at the deadline reaches what it
        // started too (a shell script's children, a queue runner).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(|e| OutboxError::Transport(format!("cannot run sendmail {shown}: {e}")))?;
        // Written and read on threads of their own: a program that reads nothing or
        // writes much must not block us before the deadline is checked.
        let feed = child.stdin.take().map(|mut stdin| {
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            })
        });
        let said = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.take(2048).read_to_string(&mut text);
                text
            })
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    let group = rustix::process::Pid::from_child(&child);
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(OutboxError::Transport(format!(
                        "sendmail {shown} did not finish within {} s (outbox.timeout); killed",
                        self.timeout.as_secs_f64()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    let _ = child.kill();
                    return Err(OutboxError::Transport(format!("sendmail {shown}: {e}")));
                }
            }
        };
        if let Some(feed) = feed {
            let _ = feed.join();
        }
        let said = said.and_then(|t| t.join().ok()).unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(OutboxError::Transport(format!(
                "sendmail {shown} ended with {status}: {}",
                said.trim()
            )))
        }
    }
}

fn smtp_transport(s: &crate::config::SmtpSettings) -> Result<lettre::SmtpTransport, OutboxError> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let setup = |e: lettre::transport::smtp::Error| OutboxError::Setup(e.to_string());
    let mut params = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| OutboxError::Setup(format!("{}: {e}", ca.display())))?;
        params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(setup)?);
    }
    let params = params.build_rustls().map_err(setup)?;
    let tls = match s.tls {
        crate::config::Tls::Implicit => Tls::Wrapper(params),
        crate::config::Tls::StartTls => Tls::Required(params),
        crate::config::Tls::None => {
            tracing::warn!(host = %s.host, "SMTP without TLS: mail and password cross the network in clear text");
            Tls::None
        }
    };
    let mut builder = lettre::SmtpTransport::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout));
    if let Some((user, secret)) = &s.auth {
        builder = builder.credentials(Credentials::new(user.clone(), secret.read()?));
    }
    Ok(builder.build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn script(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("sendmail");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn transport(command: std::path::PathBuf, timeout: Duration) -> Transport {
        Transport::from_settings(&OutboxSettings::Sendmail { command, timeout }).unwrap()
    }

    const MAIL: &[u8] = b"Subject: hi\r\n\r\nbody\r\n";

    /// A sendmail that never returns is killed at the deadline: a temporary failure
    /// that says so, well before the program's own end.
    #[test]
    fn a_sendmail_that_never_returns_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child-pid");
        let t = transport(
            script(
                dir.path(),
                &format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
            ),
            Duration::from_millis(500),
        );
        let started = Instant::now();
        let err = t
            .send(Some("gw@example.org"), "rita@example.net", MAIL)
            .unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(took >= Duration::from_millis(500), "took {took:?}");
        assert!(!err.is_permanent());
        let text = err.to_string();
        assert!(text.contains("did not finish within 0.5 s"), "{text}");
        // What the script started was killed with it (gone, or a zombie not yet
        // reaped by init).
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        let alive = || {
            std::fs::read_to_string(&stat)
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        };
        let waited = Instant::now();
        while alive() {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the script's child {} still runs 5 s after the kill",
                pid.trim()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The program gets the envelope and the message; its failure is temporary and
    /// names what it said.
    #[test]
    fn sendmail_gets_the_envelope_and_its_failure_is_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let t = transport(
            script(
                dir.path(),
                &format!("echo \"$@\" > {0}; cat >> {0}", out.display()),
            ),
            Duration::from_secs(20),
        );
        t.send(Some("gw@example.org"), "rita@example.net", MAIL)
            .unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(
            got.starts_with("-i -f gw@example.org -- rita@example.net\n"),
            "{got}"
        );
        assert!(got.contains("Subject: hi"), "{got}");
        // The null return path of an answer that wants no bounce.
        t.send(None, "rita@example.net", MAIL).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(got.starts_with("-i -f <> -- rita@example.net\n"), "{got}");

        let t = transport(
            script(dir.path(), "cat >/dev/null; echo 'queue full' >&2; exit 75"),
            Duration::from_secs(20),
        );
        let err = t
            .send(Some("gw@example.org"), "rita@example.net", MAIL)
            .unwrap_err();
        assert!(!err.is_permanent());
        assert!(err.to_string().contains("queue full"), "{err}");
    }
}
