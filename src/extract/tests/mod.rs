//! End-to-end extraction tests, one module per topic; the report builders and the table-case
//! checker shared by them live here.
//!
//! - `shapes`: one test per report shape (key-value, Markdown, numbered, prose, HTML, mixed).
//! - `robustness`: line endings, non-ASCII text, empty and huge inputs, pathological repetition.
//! - `severity`: CVSS versions end to end, stated severities.
//! - `content`: what is not a field (quotes, signatures, code, unknown keys).
//! - `api`: `Fields` and `FieldName` as other modules use them.
//! - `issue24`: the failure kinds of issue 24 (ranges, boundaries, advisory labels, severity
//!   in prose and scores, titles under generic subjects, table and platform layouts).
//! - `ranges24`: the affected and fixed versions of real bulletins (fixing sentences, fix
//!   sections, product lists, platform sentences, whole-number releases), two languages or
//!   more per rule.
//! - `prose24`: issue 24's severity, type, credit and contact as real reports state them
//!   (levels in sentences and header lines, type headings, contact lines with a name).

mod api;
mod content;
mod issue24;
mod prose24;
mod ranges24;
mod robustness;
mod severity;
mod shapes;

use super::*;

const V31_CRIT: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
const V31_MED: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N";

/// Expected values for one report; `None` means "must be absent", fields not listed in `some`
/// are not checked.
struct Case {
    name: &'static str,
    subject: Option<&'static str>,
    text: String,
    expect: Vec<(FieldName, Option<&'static str>)>,
}

fn check(case: &Case) -> Fields {
    let fields = extract(case.subject, &case.text);
    for (name, want) in &case.expect {
        assert_eq!(
            fields.get(*name).as_deref(),
            *want,
            "case {:?}, field {}\nall fields: {fields:#?}",
            case.name,
            name.as_str()
        );
    }
    fields
}

fn key_value_report() -> String {
    format!(
        "Title: SQL injection in login
Vulnerability type: SQLi
Affected component: auth/login.php
Affected versions: 2.0 - 2.3.1
Severity: High
CVSS: {V31_CRIT}
Credit: Jane Doe
Contact: jane@example.org

Description:
The login form concatenates the username into a query.

Any user can log in as admin.

Steps to reproduce:
1. Open /login
2. Enter ' OR 1=1-- as the username
Step 3: submit

Impact:
Full database read.

Suggested fix:
Use prepared statements.
"
    )
}

fn markdown_report() -> String {
    format!(
        "# Stored XSS in comment preview

## Summary

Comments are rendered **without** escaping.

## Affected versions

- 3.0
- 3.1

### Steps to Reproduce

1. Post a comment containing the payload.
2. Open the preview.

```html
<script>alert(document.domain)</script>
```

## Proof of Concept

```
curl -d 'c=<script>' https://x/comment
```

**Impact**

Session theft. CVSS vector: `{V31_MED}`

## References

- https://owasp.org/xss
- Impact: this line is under References and must not leak.

## Remediation

Escape on output.
"
    )
}

fn prose_report() -> String {
    format!(
        "Hello security team,

I found that the image proxy can be abused for server-side request forgery.
It affects versions 1.2.3 through 1.4.0. I'd say this is a critical issue.

To reproduce:
1. Request /proxy?url=http://169.254.169.254/
2. Observe the metadata in the response.

My vector is {V31_CRIT}.

Thanks,
Jane
-- 
Jane Doe | PGP 0xDEADBEEF
Impact: signature lines must not be parsed
"
    )
}
