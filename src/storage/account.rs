//! Storage connection strings.
//!
//! Owns [`StorageAccount`]: parsing `UseDevelopmentStorage=true` (optionally with
//! `DevelopmentStorageProxyUri`), the explicit form with per-service endpoints (Azurite, docker
//! hostnames such as `http://azurite:10000/devstoreaccount1`), and real accounts
//! (`DefaultEndpointsProtocol`/`AccountName`/`AccountKey`/`EndpointSuffix`, or a
//! `SharedAccessSignature`, or neither: an identity-based connection, `Credential`/`ClientId`
//! naming the Microsoft Entra ID credential, see `identity.rs`). We parse ourselves rather than with `azure_storage::ConnectionString`
//! because its errors quote the whole string, key included. `Debug` and every error here redact the
//! key and the SAS.

use super::error::{Error, Result};
use super::identity::{settings_name, IdentityConnection, TokenAuth};
use azure_core::Url;
use azure_storage::StorageCredentials;
use std::fmt;

/// The well-known Azurite / storage emulator account.
pub const DEV_ACCOUNT_NAME: &str = "devstoreaccount1";
/// The well-known (public) key of the emulator account.
pub const DEV_ACCOUNT_KEY: &str = azure_storage::EMULATOR_ACCOUNT_KEY;
/// The development connection string, the default everywhere.
pub const DEV_CONNECTION_STRING: &str = "UseDevelopmentStorage=true";

#[derive(Clone)]
enum Secret {
    Key(String),
    Sas(String),
    /// No secret of its own: tokens from a Microsoft Entra ID credential.
    Token(TokenAuth),
}

/// A parsed storage connection string: the account, its credentials and its three endpoints.
#[derive(Clone)]
pub struct StorageAccount {
    name: String,
    secret: Secret,
    blob: Url,
    queue: Url,
    table: Url,
    dev_default: bool,
}

impl fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageAccount")
            .field("account_name", &self.name)
            .field(
                "credentials",
                &match &self.secret {
                    Secret::Key(_) => "AccountKey(redacted)".to_string(),
                    Secret::Sas(_) => "SharedAccessSignature(redacted)".to_string(),
                    Secret::Token(auth) => format!("TokenCredential({auth})"),
                },
            )
            .field("blob_endpoint", &self.blob.as_str())
            .field("queue_endpoint", &self.queue.as_str())
            .field("table_endpoint", &self.table.as_str())
            .field("development_default", &self.dev_default)
            .finish()
    }
}

/// Which service an endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The blob service (`blob` endpoint; Azurite's port 10000).
    Blob,
    /// The queue service (`queue` endpoint; Azurite's port 10001).
    Queue,
    /// The table service (`table` endpoint; Azurite's port 10002).
    Table,
}

impl Service {
    fn subdomain(self) -> &'static str {
        match self {
            Service::Blob => "blob",
            Service::Queue => "queue",
            Service::Table => "table",
        }
    }

    fn dev_port(self) -> u16 {
        match self {
            Service::Blob => 10000,
            Service::Queue => 10001,
            Service::Table => 10002,
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "AccountName",
    "AccountKey",
    "SharedAccessSignature",
    "DefaultEndpointsProtocol",
    "EndpointSuffix",
    "UseDevelopmentStorage",
    "DevelopmentStorageProxyUri",
    "BlobEndpoint",
    "QueueEndpoint",
    "TableEndpoint",
    "FileEndpoint",
    "BlobSecondaryEndpoint",
    "QueueSecondaryEndpoint",
    "TableSecondaryEndpoint",
    "FileSecondaryEndpoint",
    // Identity-based connections (no key): which Microsoft Entra ID credential, and the client
    // id of a user-assigned managed identity.
    "Credential",
    "ClientId",
];

/// Whether `s` is short letters and digits, so naming it in an error cannot echo a secret.
pub(super) fn looks_like_a_name(s: &str) -> bool {
    s.len() <= 30 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(super) fn bad(msg: impl Into<String>) -> Error {
    Error::ConnectionString(msg.into())
}

impl StorageAccount {
    /// Parses a connection string. Keys are matched case-insensitively; unknown keys are refused
    /// (by name only: no value is ever echoed).
    pub fn parse(s: &str) -> Result<StorageAccount> {
        let mut fields: Vec<(&'static str, &str)> = Vec::new();
        for (i, segment) in s.split(';').enumerate() {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            let Some((k, v)) = segment.split_once('=') else {
                return Err(bad(format!(
                    "segment {} has no `=` (expected Key=Value pairs separated by `;`)",
                    i + 1
                )));
            };
            let (k, v) = (k.trim(), v.trim());
            let Some(key) = KNOWN_KEYS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(k))
            else {
                // Name the key only when it looks like a key name: a pasted secret must not echo.
                return Err(if looks_like_a_name(k) {
                    bad(format!("unknown key `{k}` in segment {}", i + 1))
                } else {
                    bad(format!("segment {} does not start with a known key", i + 1))
                });
            };
            if v.is_empty() {
                return Err(bad(format!("`{key}` has no value")));
            }
            if fields.iter().any(|(seen, _)| seen == key) {
                return Err(bad(format!("`{key}` is given twice")));
            }
            fields.push((key, v));
        }
        if fields.is_empty() {
            return Err(bad("it is empty"));
        }
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);

        match get("UseDevelopmentStorage") {
            Some(v) if v.eq_ignore_ascii_case("true") => {
                return Self::development(get("DevelopmentStorageProxyUri"))
            }
            Some(v) if v.eq_ignore_ascii_case("false") => {}
            Some(_) => return Err(bad("`UseDevelopmentStorage` must be true or false")),
            None => {}
        }
        Self::from_fields(&fields, &|key| format!("`{key}`"))
    }

    /// An identity-based connection (no key: Microsoft Entra ID tokens), as Durable Functions'
    /// `AzureWebJobsStorage__accountName` / `__blobServiceUri` / … settings describe it. Endpoints
    /// not given are derived from the account name (`https://{name}.blob.core.windows.net`…);
    /// without an account name, it is read from the endpoints. Sends nothing: the credential asks
    /// for its first token with the first storage request.
    pub fn identity(connection: &IdentityConnection) -> Result<StorageAccount> {
        connection.to_account(&|key| format!("`{key}`"))
    }

    /// Durable Functions' identity-based connection named `name` (e.g. `AzureWebJobsStorage`)
    /// from `settings` (environment variables, a local.settings.json's `Values`): the
    /// `{name}__accountName`, `__blobServiceUri`, `__queueServiceUri`, `__tableServiceUri`,
    /// `__credential` and `__clientId` settings, names matched case-insensitively (and `:` taken
    /// for `__`, as .NET configuration does). `Ok(None)` when no `{name}__…` setting is present; an
    /// unknown one is refused by name.
    pub fn from_settings<K, V>(
        name: &str,
        settings: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Option<StorageAccount>>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let Some(connection) = IdentityConnection::from_settings(name, settings)? else {
            return Ok(None);
        };
        connection
            .to_account(&|key| format!("`{name}__{}`", settings_name(key)))
            .map(Some)
    }

    /// The account from connection-string fields (canonical key names), `named` saying how the
    /// user wrote a key (a connection-string key or a Durable Functions setting name).
    pub(super) fn from_fields(
        fields: &[(&'static str, &str)],
        named: &dyn Fn(&str) -> String,
    ) -> Result<StorageAccount> {
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let explicit = |svc: Service| -> Option<&str> {
            get(match svc {
                Service::Blob => "BlobEndpoint",
                Service::Queue => "QueueEndpoint",
                Service::Table => "TableEndpoint",
            })
        };

        let token = match (get("Credential"), get("ClientId")) {
            (None, None) => None,
            (credential, client_id) => {
                Some(TokenAuth::new(credential, client_id, &named("Credential"))?)
            }
        };
        let secret = match (get("AccountKey"), get("SharedAccessSignature"), token) {
            (None, None, token) => Secret::Token(token.unwrap_or_default()),
            (_, _, Some(_)) => {
                return Err(bad(format!(
                "{} and {} are for a connection without `AccountKey` or `SharedAccessSignature`",
                named("Credential"),
                named("ClientId")
            )))
            }
            (_, Some(sas), None) => Secret::Sas(sas.trim_start_matches('?').to_string()),
            (Some(key), None, None) => {
                if azure_core::base64::decode(key).is_err() {
                    return Err(bad("`AccountKey` is not valid base64"));
                }
                Secret::Key(key.to_string())
            }
        };

        let protocol = match get("DefaultEndpointsProtocol") {
            None => "https",
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            Some(_) => return Err(bad("`DefaultEndpointsProtocol` must be http or https")),
        };
        let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");

        let name = match get("AccountName") {
            Some(n) => n.to_string(),
            None => match (
                &secret,
                [Service::Blob, Service::Queue, Service::Table]
                    .into_iter()
                    .find_map(|svc| Some((svc, explicit(svc)?))),
            ) {
                (Secret::Sas(_) | Secret::Token(_), Some((svc, ep))) => account_from_endpoint(
                    &parse_endpoint(&named(&format!("{}Endpoint", capitalized(svc))), ep)?,
                )
                .ok_or_else(|| {
                    bad(format!(
                        "{} is missing and cannot be read from the endpoints",
                        named("AccountName")
                    ))
                })?,
                _ => return Err(bad(format!("{} is missing", named("AccountName")))),
            },
        };
        if matches!(secret, Secret::Key(_)) && name.is_empty() {
            return Err(bad("`AccountName` is missing"));
        }

        let endpoint = |svc: Service| -> Result<Url> {
            let (what, url) = match explicit(svc) {
                Some(ep) => (
                    named(&format!("{}Endpoint", capitalized(svc))),
                    parse_endpoint(&named(&format!("{}Endpoint", capitalized(svc))), ep)?,
                ),
                None => (
                    format!("the {} endpoint", svc.subdomain()),
                    parse_endpoint(
                        &format!("the {} endpoint", svc.subdomain()),
                        &format!("{protocol}://{name}.{}.{suffix}", svc.subdomain()),
                    )?,
                ),
            };
            // A bearer token is as good as a key until it expires: never over plain HTTP (Azure
            // and Azurite refuse it there anyway).
            if matches!(secret, Secret::Token(_)) && url.scheme() != "https" {
                return Err(bad(format!(
                    "{what} must be https for a connection without a key (tokens are never sent in clear)"
                )));
            }
            Ok(url)
        };
        Ok(StorageAccount {
            blob: endpoint(Service::Blob)?,
            queue: endpoint(Service::Queue)?,
            table: endpoint(Service::Table)?,
            name,
            secret,
            dev_default: false,
        })
    }

    fn development(proxy: Option<&str>) -> Result<StorageAccount> {
        let (scheme, host) = match proxy {
            None => ("http".to_string(), "127.0.0.1".to_string()),
            Some(p) => {
                let url = parse_endpoint("`DevelopmentStorageProxyUri`", p)?;
                let host = url.host_str().unwrap_or("127.0.0.1").to_string();
                (url.scheme().to_string(), host)
            }
        };
        let ep = |svc: Service| {
            parse_endpoint(
                "the development endpoint",
                &format!("{scheme}://{host}:{}/{DEV_ACCOUNT_NAME}", svc.dev_port()),
            )
        };
        Ok(StorageAccount {
            name: DEV_ACCOUNT_NAME.to_string(),
            secret: Secret::Key(DEV_ACCOUNT_KEY.to_string()),
            blob: ep(Service::Blob)?,
            queue: ep(Service::Queue)?,
            table: ep(Service::Table)?,
            dev_default: proxy.is_none(),
        })
    }

    /// The explicit connection string for the emulator account on 127.0.0.1 with these ports.
    pub fn emulator_connection_string(blob_port: u16, queue_port: u16, table_port: u16) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};\
             BlobEndpoint=http://127.0.0.1:{blob_port}/{DEV_ACCOUNT_NAME};\
             QueueEndpoint=http://127.0.0.1:{queue_port}/{DEV_ACCOUNT_NAME};\
             TableEndpoint=http://127.0.0.1:{table_port}/{DEV_ACCOUNT_NAME};"
        )
    }

    /// The account name, e.g. `devstoreaccount1`.
    pub fn account_name(&self) -> &str {
        &self.name
    }

    /// The blob service base URL without a trailing `/`, e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> &str {
        self.blob.as_str().trim_end_matches('/')
    }

    /// The queue service base URL without a trailing `/`.
    pub fn queue_endpoint(&self) -> &str {
        self.queue.as_str().trim_end_matches('/')
    }

    /// The table service base URL without a trailing `/`.
    pub fn table_endpoint(&self) -> &str {
        self.table.as_str().trim_end_matches('/')
    }

    /// True for `UseDevelopmentStorage=true` without a proxy: the CLI may start Azurite for it.
    pub fn is_development_default(&self) -> bool {
        self.dev_default
    }

    /// `host:port` of a service, for messages about unreachable storage.
    pub fn host_port(&self, svc: Service) -> String {
        let url = self.url(svc);
        format!(
            "{}:{}",
            url.host_str().unwrap_or("?"),
            url.port_or_known_default().unwrap_or(0)
        )
    }

    pub(crate) fn url(&self, svc: Service) -> &Url {
        match svc {
            Service::Blob => &self.blob,
            Service::Queue => &self.queue,
            Service::Table => &self.table,
        }
    }

    /// The same account with one service's endpoint replaced (the benchmarks' latency proxy).
    #[cfg(any(feature = "bench", test))]
    pub(crate) fn with_endpoint(mut self, svc: Service, url: Url) -> StorageAccount {
        match svc {
            Service::Blob => self.blob = url,
            Service::Queue => self.queue = url,
            Service::Table => self.table = url,
        }
        self.dev_default = false;
        self
    }

    /// The explicit connection string of this account: name, secret and the three endpoints;
    /// `None` for an identity-based connection (the benchmarks' proxy takes key or SAS only).
    /// It carries the key or SAS, like the string it was parsed from: for a child process's
    /// environment, never for a log or an error.
    #[cfg(any(feature = "bench", test))]
    pub(crate) fn to_connection_string(&self) -> Option<String> {
        let secret = match &self.secret {
            Secret::Key(k) => format!("AccountKey={k}"),
            Secret::Sas(s) => format!("SharedAccessSignature={s}"),
            Secret::Token(_) => return None,
        };
        Some(format!(
            "AccountName={};{secret};BlobEndpoint={};QueueEndpoint={};TableEndpoint={}",
            self.name,
            self.blob_endpoint(),
            self.queue_endpoint(),
            self.table_endpoint()
        ))
    }

    /// The Microsoft Entra ID credential of an identity-based connection; `None` for a key or SAS.
    pub fn token_auth(&self) -> Option<&TokenAuth> {
        match &self.secret {
            Secret::Token(auth) => Some(auth),
            _ => None,
        }
    }

    /// The key or SAS credentials; an identity-based connection has none (the caller builds its
    /// token credential, see [`Self::token_auth`]).
    pub(crate) fn credentials(&self) -> Result<StorageCredentials> {
        match &self.secret {
            Secret::Token(_) => Err(bad("an identity-based connection has no key or SAS")),
            Secret::Key(k) => Ok(StorageCredentials::access_key(
                self.name.clone(),
                azure_core::auth::Secret::new(k.clone()),
            )),
            Secret::Sas(s) => StorageCredentials::sas_token(s.as_str())
                .map_err(|_| bad("`SharedAccessSignature` is malformed")),
        }
    }
}

fn capitalized(svc: Service) -> &'static str {
    match svc {
        Service::Blob => "Blob",
        Service::Queue => "Queue",
        Service::Table => "Table",
    }
}

fn parse_endpoint(what: &str, s: &str) -> Result<Url> {
    let url = Url::parse(s).map_err(|e| bad(format!("{what} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("{what} must be an http or https URL")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{what} has no host")));
    }
    if url.query().is_some() {
        return Err(bad(format!(
            "{what} must not carry a query; put a SAS in `SharedAccessSignature`"
        )));
    }
    Ok(url)
}

/// `acct` from `https://acct.blob.core.windows.net` or `http://host:port/acct` (path style).
fn account_from_endpoint(url: &Url) -> Option<String> {
    if let Some(first) = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
    {
        return Some(first.to_string());
    }
    let host = url.host_str()?;
    let label = host.split('.').next()?;
    (host.contains('.') && !label.is_empty()).then(|| label.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_KEY: &str = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWstMDEyMzQ1Njc4OWFiY2RlZg==";

    #[test]
    fn development_default() {
        let a = StorageAccount::parse("UseDevelopmentStorage=true").unwrap();
        assert!(a.is_development_default());
        assert_eq!(a.account_name(), "devstoreaccount1");
        assert_eq!(a.blob_endpoint(), "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(
            a.queue_endpoint(),
            "http://127.0.0.1:10001/devstoreaccount1"
        );
        assert_eq!(
            a.table_endpoint(),
            "http://127.0.0.1:10002/devstoreaccount1"
        );
        assert_eq!(a.host_port(Service::Table), "127.0.0.1:10002");
    }

    #[test]
    fn development_with_proxy_is_not_the_default() {
        let a = StorageAccount::parse(
            "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite",
        )
        .unwrap();
        assert!(!a.is_development_default());
        assert_eq!(a.blob_endpoint(), "http://azurite:10000/devstoreaccount1");
    }

    #[test]
    fn explicit_emulator_form() {
        let s = StorageAccount::emulator_connection_string(1, 2, 3);
        let a = StorageAccount::parse(&s).unwrap();
        assert!(!a.is_development_default());
        assert_eq!(a.queue_endpoint(), "http://127.0.0.1:2/devstoreaccount1");
        assert_eq!(a.host_port(Service::Blob), "127.0.0.1:1");
    }

    #[test]
    fn the_explicit_connection_string_parses_back_to_the_same_account() {
        for c in [
            format!("AccountName=acct;AccountKey={REAL_KEY}"),
            "UseDevelopmentStorage=true".to_string(),
            "BlobEndpoint=https://acct.blob.core.windows.net;QueueEndpoint=https://acct.queue.core.windows.net;TableEndpoint=https://acct.table.core.windows.net;SharedAccessSignature=sv=2022-11-02&sig=S".to_string(),
        ] {
            let a = StorageAccount::parse(&c).unwrap();
            let again = StorageAccount::parse(&a.to_connection_string().unwrap()).unwrap();
            let without_default = format!("{a:?}").replace(
                "development_default: true",
                "development_default: false",
            );
            assert_eq!(format!("{again:?}"), without_default);
            match (&a.secret, &again.secret) {
                (Secret::Key(x), Secret::Key(y)) | (Secret::Sas(x), Secret::Sas(y)) => {
                    assert_eq!(x, y)
                }
                _ => panic!("the secret changed kind: {c}"),
            }
        }
    }

    #[test]
    fn with_endpoint_moves_one_service_only() {
        let a = StorageAccount::parse("UseDevelopmentStorage=true").unwrap();
        let url = Url::parse("http://127.0.0.1:4242/devstoreaccount1").unwrap();
        let b = a.with_endpoint(Service::Queue, url);
        assert_eq!(b.host_port(Service::Queue), "127.0.0.1:4242");
        assert_eq!(b.host_port(Service::Table), "127.0.0.1:10002");
        assert!(!b.is_development_default());
    }

    #[test]
    fn real_account_derives_endpoints() {
        let s = format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={REAL_KEY};EndpointSuffix=core.windows.net");
        let a = StorageAccount::parse(&s).unwrap();
        assert_eq!(a.blob_endpoint(), "https://acct.blob.core.windows.net");
        assert_eq!(
            a.host_port(Service::Queue),
            "acct.queue.core.windows.net:443"
        );
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(REAL_KEY) && dbg.contains("redacted"), "{dbg}");
    }

    #[test]
    fn sas_account_reads_name_from_endpoint() {
        let s = "BlobEndpoint=https://acct.blob.core.windows.net;QueueEndpoint=https://acct.queue.core.windows.net;TableEndpoint=https://acct.table.core.windows.net;SharedAccessSignature=sv=2022-11-02&ss=bqt&sig=SECRETSIG";
        let a = StorageAccount::parse(s).unwrap();
        assert_eq!(a.account_name(), "acct");
        assert!(!format!("{a:?}").contains("SECRETSIG"));
    }

    #[test]
    fn errors_name_the_problem_but_never_the_key() {
        let cases = [
            format!("AccountName=acct;AccountKey={REAL_KEY};Bogus=1"),
            format!("AccountName=acct;AccountKey={REAL_KEY};DefaultEndpointsProtocol=ftp"),
            format!("AccountKey={REAL_KEY}"),
            format!("AccountName=acct;AccountKey={REAL_KEY};BlobEndpoint=not a url"),
            format!("AccountName=acct;AccountKey={REAL_KEY}x;"),
            REAL_KEY.to_string(),
            format!("AccountName=acct;Credential={REAL_KEY}"),
            "".to_string(),
        ];
        for c in &cases {
            let e = StorageAccount::parse(c).unwrap_err();
            let msg = format!("{e} {e:?}");
            assert!(!msg.contains(REAL_KEY), "{msg}");
            assert!(!msg.contains("c2VjcmV0"), "{msg}");
            assert!(
                msg.starts_with("invalid storage connection string: "),
                "{msg}"
            );
        }
    }
}
