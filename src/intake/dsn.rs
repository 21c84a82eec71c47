//! Delivery status notifications (RFC 3464): a `multipart/report;
//! report-type=delivery-status` message, as Postfix, Exim and other MTAs send when a
//! message the gateway sent could not be delivered. What it says is read so that the
//! report the bounced message belonged to can record it; a notification is never
//! answered. Nothing in it is authenticated: anyone can write one.

use mail_parser::{Message, MimeHeaders};

use super::one_line;

/// What a delivery status notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dsn {
    /// The Message-ID of the message it is about (without angle brackets), from the
    /// returned headers (`text/rfc822-headers`) or message (`message/rfc822`).
    pub original_message_id: Option<String>,
    /// One entry per recipient the notification reports on.
    pub recipients: Vec<DsnRecipient>,
}

/// One recipient's fields of the `message/delivery-status` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DsnRecipient {
    /// `Final-Recipient`, without its address type.
    pub recipient: String,
    /// `Action`: failed, delayed, delivered, relayed or expanded.
    pub action: String,
    /// `Status`: the enhanced status code (5.1.1).
    pub status: String,
    /// `Diagnostic-Code`, without its type: what the remote server said.
    pub diagnostic: Option<String>,
}

impl Dsn {
    /// One line for a report's history: what failed (or was delayed) for whom.
    pub(crate) fn summary(&self) -> String {
        let lines: Vec<String> = self
            .recipients
            .iter()
            .map(|r| {
                let mut line = format!("{} for {}", r.action, r.recipient);
                if !r.status.is_empty() {
                    line.push_str(&format!(" (status {})", r.status));
                }
                if let Some(d) = &r.diagnostic {
                    line.push_str(&format!(": {d}"));
                }
                line
            })
            .collect();
        if lines.is_empty() {
            return "a delivery status notification without recipients".into();
        }
        one_line(&lines.join("; "), 500)
    }

    /// Whether the notification reports a failure (not only a delay or success).
    pub(crate) fn failed(&self) -> bool {
        self.recipients
            .iter()
            .any(|r| r.action.eq_ignore_ascii_case("failed"))
    }
}

/// The delivery status notification this message is, if it is one.
pub(crate) fn delivery_status(msg: &Message<'_>) -> Option<Dsn> {
    let ct = msg.root_part().content_type()?;
    let is_report = ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut dsn = Dsn {
        original_message_id: None,
        recipients: Vec::new(),
    };
    for part in msg.parts.iter() {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let (ctype, sub) = (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
        );
        let text = String::from_utf8_lossy(part.contents());
        match (ctype.as_str(), sub.as_str()) {
            ("message", "delivery-status") | ("message", "global-delivery-status")
                if dsn.recipients.is_empty() =>
            {
                dsn.recipients = recipients(&text);
            }
            ("text", "rfc822-headers") | ("message", "rfc822") | ("message", "global-headers")
                if dsn.original_message_id.is_none() =>
            {
                dsn.original_message_id = header_block(&text)
                    .into_iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("message-id"))
                    .map(|(_, v)| {
                        v.trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string()
                    })
                    .filter(|id| !id.is_empty());
            }
            _ => {}
        }
    }
    Some(dsn)
}

/// The fields of a header block (up to its first empty line), unfolded.
fn header_block(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if fields.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

/// The per-recipient groups of a `message/delivery-status` body (after the
/// per-message group), each unfolded.
fn recipients(text: &str) -> Vec<DsnRecipient> {
    let text = text.replace("\r\n", "\n");
    let mut out = Vec::new();
    for group in text.split("\n\n").filter(|g| !g.trim().is_empty()).skip(1) {
        let fields = header_block(group);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        // "rfc822; someone@example.net", "smtp; 550 5.1.1 ...": the value after the type.
        let typed = |v: String| match v.split_once(';') {
            Some((_, rest)) => rest.trim().to_string(),
            None => v.trim().to_string(),
        };
        let Some(recipient) = get("Final-Recipient").map(typed) else {
            continue;
        };
        out.push(DsnRecipient {
            recipient: one_line(&recipient, 200),
            action: one_line(&get("Action").unwrap_or_default(), 20).to_ascii_lowercase(),
            status: one_line(&get("Status").unwrap_or_default(), 20),
            diagnostic: get("Diagnostic-Code").map(typed).map(|d| one_line(&d, 300)),
        });
        if out.len() >= 16 {
            break;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Shaped like a Postfix bounce(8) notification: a human part, the delivery
    /// report, the returned headers.
    const POSTFIX: &str = "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: security@example.org\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary=\"7A1B2C3D4E.1796660000/mx.example.net\"\r
Message-Id: <20261207172000.0A1B2C3D4E@mx.example.net>\r
\r
This is a MIME-encapsulated message.\r
\r
--7A1B2C3D4E.1796660000/mx.example.net\r
Content-Description: Notification\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mx.example.net.\r
\r
<mutt@example.net>: host mail.example.net[192.0.2.7] said: 550 5.1.1\r
    <mutt@example.net>: Recipient address rejected: User unknown (in reply to\r
    RCPT TO command)\r
\r
--7A1B2C3D4E.1796660000/mx.example.net\r
Content-Description: Delivery report\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
X-Postfix-Queue-ID: 7A1B2C3D4E\r
Arrival-Date: Mon,  7 Dec 2026 17:19:58 +0000 (UTC)\r
\r
Final-Recipient: rfc822; mutt@example.net\r
Original-Recipient: rfc822;mutt@example.net\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mail.example.net\r
Diagnostic-Code: smtp; 550 5.1.1 <mutt@example.net>: Recipient address rejected:\r
    User unknown\r
\r
--7A1B2C3D4E.1796660000/mx.example.net\r
Content-Description: Undelivered Message Headers\r
Content-Type: text/rfc822-headers\r
\r
From: Example Security <security@example.org>\r
To: mutt@example.net\r
Subject: [VR-2026-0001] Received: encrypted report\r
Message-ID: <disclosured.7.1796660000@example.org>\r
\r
--7A1B2C3D4E.1796660000/mx.example.net--\r
";

    #[test]
    fn postfix_bounce_is_read() {
        let msg = crate::intake::parse(POSTFIX.as_bytes()).unwrap();
        let dsn = delivery_status(&msg).unwrap();
        assert_eq!(
            dsn.original_message_id.as_deref(),
            Some("disclosured.7.1796660000@example.org")
        );
        assert_eq!(dsn.recipients.len(), 1);
        let r = &dsn.recipients[0];
        assert_eq!(r.recipient, "mutt@example.net");
        assert_eq!(r.action, "failed");
        assert_eq!(r.status, "5.1.1");
        assert_eq!(
            r.diagnostic.as_deref(),
            Some("550 5.1.1 <mutt@example.net>: Recipient address rejected: User unknown")
        );
        assert!(dsn.failed());
        assert!(dsn.summary().contains("failed for mutt@example.net"));
    }

    #[test]
    fn other_reports_and_plain_mail_are_not_delivery_status() {
        let feedback =
            POSTFIX.replace("report-type=delivery-status", "report-type=feedback-report");
        let msg = crate::intake::parse(feedback.as_bytes()).unwrap();
        assert!(delivery_status(&msg).is_none());
        let plain = b"From: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n";
        let msg = crate::intake::parse(plain).unwrap();
        assert!(delivery_status(&msg).is_none());
    }
}
