//! The storage layer's error type and its classification.
//!
//! Owns [`Error`]: one line per failure naming the operation and its target, the HTTP status and the
//! storage error code (`x-ms-error-code`), or the endpoint that could not be reached. Converting an
//! `azure_core::Error` happens only here, and never copies the crate's own `Display` (it prints
//! response headers and bodies over several lines) nor a URL (a SAS token travels in the query).

use std::fmt;

/// A failed storage call, or a connection string that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error("{operation} failed: {status}{}", code_suffix(code))]
    Http {
        /// What was attempted and on what, e.g. `table insert into TestHubInstances`.
        operation: String,
        /// The HTTP status the service answered with.
        status: u16,
        /// The storage error code (`x-ms-error-code`), when the service sent one.
        code: Option<String>,
        /// The underlying cause, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Nothing answered at the endpoint (refused, reset, DNS failure, connect timeout).
    #[error("{operation} failed: storage at {endpoint} is unreachable")]
    Unreachable {
        /// What was attempted and on what.
        operation: String,
        /// The `host:port` that could not be reached.
        endpoint: String,
        /// Why it could not be reached (refused, reset, timed out...).
        #[source]
        source: Cause,
    },
    /// The request was sent but no answer came in time.
    #[error("{operation} failed: no answer from storage at {endpoint} in time")]
    Timeout {
        /// What was attempted and on what.
        operation: String,
        /// The `host:port` that did not answer.
        endpoint: String,
        /// The underlying cause.
        #[source]
        source: Cause,
    },
    /// Another I/O failure while talking to storage (for example a connection dropped mid-body).
    #[error("{operation} failed: I/O error talking to storage at {endpoint}")]
    Io {
        /// What was attempted and on what.
        operation: String,
        /// The `host:port` of the service.
        endpoint: String,
        /// The underlying I/O failure.
        #[source]
        source: Cause,
    },
    /// One operation of an entity-group transaction failed, so none was applied.
    #[error(
        "{operation} failed: operation {index} returned {status}{}",
        code_suffix(code)
    )]
    BatchOperationFailed {
        /// What was attempted and on what.
        operation: String,
        /// The position (0-based) of the failed operation in the transaction.
        index: usize,
        /// The HTTP status of the failed operation.
        status: u16,
        /// The storage error code of the failed operation, when the service sent one.
        code: Option<String>,
    },
    /// A request we refuse to send (too many batch operations, mixed partition keys, bad arguments).
    #[error("{operation}: {message}")]
    InvalidRequest {
        /// What was to be attempted and on what.
        operation: String,
        /// Why the request was refused.
        message: String,
    },
    /// The answer could not be understood (unexpected body, entity that does not fit the type).
    #[error("{operation} failed: {message}")]
    Decode {
        /// What was attempted and on what.
        operation: String,
        /// What could not be understood.
        message: String,
    },
    /// A connection string that cannot be parsed or used. Never contains the key or a SAS.
    #[error("invalid storage connection string: {0}")]
    ConnectionString(String),
    /// An identity-based connection could not get a Microsoft Entra ID token (or its
    /// credential could not be set up). Never contains a token or an endpoint's secret header.
    #[error("{operation} failed: no storage token: {message}")]
    Credential {
        /// What was attempted and on what.
        operation: String,
        /// Why there is no token (which credential, what its source answered).
        message: String,
    },
    /// Something else that went wrong in setting up or calling storage.
    #[error("{operation} failed: {message}")]
    Other {
        /// What was attempted and on what.
        operation: String,
        /// What went wrong.
        message: String,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    match code {
        Some(c) => format!(" {c}"),
        None => String::new(),
    }
}

/// The cause behind an [`Error`], as a sanitized one-line message (no URLs, no secrets).
#[derive(Debug, Clone)]
pub struct Cause(String);

impl Cause {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Cause(message.into())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

/// Result with the storage [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status, for answers from the service (including a failed batch operation).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } | Error::BatchOperationFailed { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The storage error code (`x-ms-error-code`), e.g. `EntityAlreadyExists`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Http { code, .. } | Error::BatchOperationFailed { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Worth retrying: 408, 429, 5xx, timeouts, refused or reset connections.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Timeout { .. } | Error::Io { .. } => true,
            _ => matches!(self.status(), Some(408 | 429 | 500..=599)),
        }
    }

    /// 404: the queue, table, container, entity, blob or message does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409: it already exists, or a lease or state conflict.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 412: an ETag or lease condition did not hold (someone else wrote first).
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// Converts an `azure_core` error. `operation` is e.g. `table insert into TestHubInstances`,
    /// `endpoint` the `host:port` of the service that was called.
    pub(crate) fn from_azure(operation: String, endpoint: &str, e: azure_core::Error) -> Error {
        use azure_core::error::ErrorKind;
        match e.kind() {
            ErrorKind::HttpResponse { status, error_code } => Error::Http {
                operation,
                status: u16::from(*status),
                code: error_code.clone(),
                source: None,
            },
            ErrorKind::Io => classify_io(operation, endpoint, &e),
            ErrorKind::DataConversion => Error::Decode {
                operation,
                message: innermost_message(&e),
            },
            // The token credentials (`azure/token.rs`) put their whole explanation in the
            // innermost message; the storage crates wrap it in "failed to get bearer token".
            ErrorKind::Credential => Error::Credential {
                operation,
                message: innermost_message(&e),
            },
            _ => Error::Other {
                operation,
                message: innermost_message(&e),
            },
        }
    }
}

fn classify_io(operation: String, endpoint: &str, e: &azure_core::Error) -> Error {
    let endpoint = endpoint.to_string();
    let mut timed_out = false;
    let mut connect = false;
    let mut io_kind = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            timed_out |= r.is_timeout();
            connect |= r.is_connect();
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        cur = err.source();
    }
    use std::io::ErrorKind as K;
    let cause = Cause::new(match io_kind {
        Some(K::ConnectionRefused) => "connection refused".to_string(),
        Some(K::ConnectionReset) => "connection reset".to_string(),
        Some(K::ConnectionAborted) => "connection aborted".to_string(),
        Some(K::TimedOut) => "timed out".to_string(),
        _ if timed_out => "timed out".to_string(),
        _ => {
            let m = innermost_message(e);
            // rustls' "invalid peer certificate: UnknownIssuer": say how to trust a private CA.
            if m.contains("certificate") {
                format!("{m} (a private CA or self-signed certificate must be trusted: --storage-ca-cert, StorageOptions::root_certificates)")
            } else {
                m
            }
        }
    });
    if connect {
        if timed_out {
            return Error::Unreachable {
                operation,
                endpoint,
                source: Cause::new("connect timed out"),
            };
        }
        return Error::Unreachable {
            operation,
            endpoint,
            source: cause,
        };
    }
    if timed_out {
        return Error::Timeout {
            operation,
            endpoint,
            source: cause,
        };
    }
    if matches!(io_kind, Some(K::ConnectionRefused)) {
        return Error::Unreachable {
            operation,
            endpoint,
            source: cause,
        };
    }
    Error::Io {
        operation,
        endpoint,
        source: cause,
    }
}

/// The deepest error message in the chain, made safe to show: one line, URLs cut off at the
/// query (a SAS token would be there), and the crate's multi-line HTTP error dump refused.
/// The deepest non-empty message of an error chain, sanitized to one line.
pub(crate) fn innermost_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let m = err.to_string();
        if !m.is_empty() {
            msg = m;
        }
        cur = err.source();
    }
    sanitize(&msg)
}

/// One line, and no query strings of URLs.
pub(crate) fn sanitize(msg: &str) -> String {
    let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(one_line.len());
    for word in one_line.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.contains("://") {
            match word.find('?') {
                Some(q) => {
                    out.push_str(&word[..q]);
                    out.push_str("?…");
                }
                None => out.push_str(word),
            }
        } else if word.to_ascii_lowercase().contains("sig=") || word.contains("AccountKey") {
            out.push('…');
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Success, or the one failure that means the wanted state already holds (a create that found the
/// resource there, a delete that found it gone).
pub(crate) fn already_so<T>(result: Result<T>, already: fn(&Error) -> bool) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if already(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_is_one_line_with_status_and_code() {
        let e = Error::Http {
            operation: "table insert into TestHubInstances".into(),
            status: 409,
            code: Some("EntityAlreadyExists".into()),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "table insert into TestHubInstances failed: 409 EntityAlreadyExists"
        );
        assert!(e.is_conflict() && !e.is_transient());
    }

    #[test]
    fn batch_failure_classifies_by_sub_status() {
        let e = Error::BatchOperationFailed {
            operation: "table transaction on H".into(),
            index: 3,
            status: 412,
            code: Some("UpdateConditionNotSatisfied".into()),
        };
        assert!(e.is_precondition_failed());
        assert_eq!(
            e.to_string(),
            "table transaction on H failed: operation 3 returned 412 UpdateConditionNotSatisfied"
        );
    }

    #[test]
    fn transient_statuses() {
        for (s, t) in [
            (500, true),
            (503, true),
            (408, true),
            (429, true),
            (404, false),
            (412, false),
        ] {
            let e = Error::Http {
                operation: "x".into(),
                status: s,
                code: None,
                source: None,
            };
            assert_eq!(e.is_transient(), t, "{s}");
        }
    }

    #[test]
    fn sanitize_cuts_queries_and_lines() {
        let s = sanitize("error sending request for url (http://h:1/a?sv=1&sig=abc)\nmore");
        assert_eq!(s, "error sending request for url (http://h:1/a?… more");
        assert!(!s.contains("sig"));
    }
}
