//! How queued mail leaves the gateway: a directory of `.eml` files, an SMTP relay or a
//! local sendmail. Built once at start; each send says whether a failure is final.

use lettre::Transport as _;

use super::{OutboxError, file};
use crate::config::Outbox as OutboxSettings;

/// How queued mail leaves the gateway.
pub enum Transport {
    File(file::FileOutbox),
    Smtp(Box<lettre::SmtpTransport>),
    Sendmail(lettre::SendmailTransport),
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
            OutboxSettings::Sendmail { command } => Ok(Transport::Sendmail(
                lettre::SendmailTransport::new_with_command(command.as_os_str()),
            )),
        }
    }

    pub(super) fn send(&self, from: &str, to: &str, bytes: &[u8]) -> Result<(), OutboxError> {
        let from: lettre::Address = from
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::Compose(e.to_string()))?;
        let to: lettre::Address = to
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::BadRecipient(e.to_string()))?;
        let envelope = lettre::address::Envelope::new(Some(from), vec![to])
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
            Transport::Sendmail(t) => t
                .send_raw(&envelope, bytes)
                .map_err(|e| OutboxError::Transport(e.to_string())),
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
