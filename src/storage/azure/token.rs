//! Microsoft Entra ID token credentials for identity-based connections (the `identity` feature).
//!
//! Owns [`credential`]: the `azure_core` `TokenCredential` for a [`TokenAuth`], on the storage
//! clients' own HTTP client (so a private root certificate and the timeouts apply to token
//! requests too). Managed identity is ours: `azure_identity` 0.21 cannot ask for a user-assigned
//! identity (its client-id variant is private), and Durable Functions' `__clientId` needs one.
//! Workload identity, service principal and Azure CLI come from `azure_identity`. Every token is
//! an `azure_core` `Secret` (its `Debug` is redacted) and no error here carries one, nor the
//! App Service identity header.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azure_core::auth::{AccessToken, Secret, TokenCredential};
use azure_core::error::{Error as AzError, ErrorKind};
use azure_core::{HttpClient, Method, Request, Url};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, TokenCredentialOptions, WorkloadIdentityCredential,
};
use time::OffsetDateTime;

use crate::storage::error::{innermost_message, Error, Result};
use crate::storage::identity::{Credential, TokenAuth};

/// A token this close to its expiry is fetched anew (DefaultAzureCredential's margin too).
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);
/// The instance metadata service of an Azure VM (and of AKS nodes).
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// In the chain, how long the metadata service may take before the next credential is tried
/// (off Azure nothing answers there).
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const AZURE_PUBLIC_CLOUD: &str = "https://login.microsoftonline.com";

/// The token credential for `auth`, on `http`. Fails (one line) when the credential's settings
/// are incomplete, e.g. workload identity without `AZURE_TENANT_ID`.
pub(super) fn credential(
    auth: &TokenAuth,
    http: Arc<dyn HttpClient>,
) -> Result<Arc<dyn TokenCredential>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let client_id = auth.client_id.clone();
    Ok(match auth.credential {
        Credential::ManagedIdentity => Arc::new(ManagedIdentity::from_env(http, client_id, None)),
        Credential::WorkloadIdentity => {
            Arc::new(WorkloadIdentity::from_env(http, client_id)?.ok_or_else(|| {
                setup_error(
                    "workload identity needs AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and a \
                     client id (the connection's, or AZURE_CLIENT_ID)",
                )
            })?)
        }
        Credential::AzureCli => Arc::new(AzureCliCredential::new()),
        Credential::Chain => {
            let mut sources: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
            if let Some(w) = WorkloadIdentity::from_env(http.clone(), client_id.clone())? {
                sources.push(("workload identity", Arc::new(w)));
            }
            if env("AZURE_CLIENT_SECRET").is_some() {
                if let Ok(c) =
                    ClientSecretCredential::create(TokenCredentialOptions::from(http.clone()))
                {
                    sources.push(("service principal", Arc::new(c)));
                }
            }
            sources.push((
                "managed identity",
                Arc::new(ManagedIdentity::from_env(
                    http,
                    client_id,
                    Some(IMDS_PROBE_TIMEOUT),
                )),
            ));
            sources.push(("Azure CLI", Arc::new(AzureCliCredential::new())));
            Arc::new(Chain {
                sources,
                chosen: OnceLock::new(),
            })
        }
    })
}

fn setup_error(message: &str) -> Error {
    Error::Credential {
        operation: "setting up the storage credential".into(),
        message: message.into(),
    }
}

fn credential_error(message: String) -> AzError {
    AzError::message(ErrorKind::Credential, message)
}

/// The one resource a storage token is for: AAD v1 resources are the scope without `/.default`.
fn resource<'a>(scopes: &[&'a str]) -> azure_core::Result<&'a str> {
    match scopes {
        [scope] => Ok(scope.strip_suffix("/.default").unwrap_or(scope)),
        _ => Err(credential_error("exactly one scope is expected".into())),
    }
}

/// The last token, reused until [`REFRESH_MARGIN`] before it expires.
#[derive(Debug, Default)]
struct Cache(tokio::sync::Mutex<Option<AccessToken>>);

impl Cache {
    async fn get_or_fetch<F>(&self, fetch: F) -> azure_core::Result<AccessToken>
    where
        F: std::future::Future<Output = azure_core::Result<AccessToken>>,
    {
        // Held across the fetch: concurrent requests wait for one token instead of each asking.
        let mut slot = self.0.lock().await;
        if let Some(t) = slot.as_ref() {
            if t.expires_on > OffsetDateTime::now_utc() + REFRESH_MARGIN {
                return Ok(t.clone());
            }
        }
        let token = fetch.await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    async fn clear(&self) {
        *self.0.lock().await = None;
    }
}

/// Where a managed identity's tokens come from.
#[derive(Debug)]
enum Endpoint {
    /// App Service, Functions, Container Apps: `IDENTITY_ENDPOINT`, with `IDENTITY_HEADER` sent
    /// back as `X-IDENTITY-HEADER` (api-version 2019-08-01).
    AppService { url: Url, header: Secret },
    /// The VM's instance metadata service (api-version 2018-02-01, `Metadata: true`).
    Imds { url: Url, timeout: Option<Duration> },
}

/// A system- or user-assigned managed identity, in the REST protocol of
/// <https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>.
#[derive(Debug)]
struct ManagedIdentity {
    http: Arc<dyn HttpClient>,
    endpoint: Endpoint,
    client_id: Option<String>,
    cache: Cache,
}

impl ManagedIdentity {
    /// The App Service endpoint when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (and the
    /// endpoint is a URL), else the metadata service, given `imds_timeout` if any.
    fn from_env(
        http: Arc<dyn HttpClient>,
        client_id: Option<String>,
        imds_timeout: Option<Duration>,
    ) -> ManagedIdentity {
        let app_service = std::env::var("IDENTITY_ENDPOINT")
            .ok()
            .and_then(|e| Url::parse(&e).ok())
            .zip(std::env::var("IDENTITY_HEADER").ok());
        let endpoint = match app_service {
            Some((url, header)) => Endpoint::AppService {
                url,
                header: Secret::new(header),
            },
            None => Endpoint::Imds {
                url: Url::parse(IMDS_ENDPOINT).expect("a valid constant URL"),
                timeout: imds_timeout,
            },
        };
        ManagedIdentity {
            http,
            endpoint,
            client_id,
            cache: Cache::default(),
        }
    }

    async fn fetch(&self, resource: &str) -> azure_core::Result<AccessToken> {
        let (url, api_version, timeout) = match &self.endpoint {
            Endpoint::AppService { url, .. } => (url, "2019-08-01", None),
            Endpoint::Imds { url, timeout } => (url, "2018-02-01", *timeout),
        };
        let mut url = url.clone();
        url.query_pairs_mut()
            .append_pair("api-version", api_version)
            .append_pair("resource", resource);
        if let Some(id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", id);
        }
        let mut req = Request::new(url.clone(), Method::Get);
        match &self.endpoint {
            Endpoint::AppService { header, .. } => {
                req.insert_header("x-identity-header", header.secret().to_string())
            }
            Endpoint::Imds { .. } => req.insert_header("metadata", "true"),
        }
        let at = format!(
            "managed identity endpoint {}:{}",
            url.host_str().unwrap_or("?"),
            url.port_or_known_default().unwrap_or(0)
        );
        let sent = self.http.execute_request(&req);
        let rsp = match timeout {
            Some(t) => tokio::time::timeout(t, sent)
                .await
                .map_err(|_| credential_error(format!("{at} did not answer within {t:?}")))?,
            None => sent.await,
        }
        .map_err(|e| credential_error(format!("{at} could not be reached ({e})")))?;
        let (status, _headers, body) = rsp.deconstruct();
        let body = body
            .collect()
            .await
            .map_err(|e| credential_error(format!("{at}: reading its answer failed ({e})")))?;
        if !status.is_success() {
            // Its error JSON names the problem ("identity not found"); never echo more than that.
            let why = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    let s = v.get("error_description").or(v.get("error"))?;
                    Some(
                        s.as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(200)
                            .collect::<String>(),
                    )
                })
                .filter(|s| !s.is_empty())
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            return Err(credential_error(format!(
                "{at} answered {}{why}",
                u16::from(status)
            )));
        }
        parse_token_answer(&body).map_err(|e| credential_error(format!("{at}: {e}")))
    }
}

/// `{"access_token": …, "expires_on": "1700000000"}` (a string in App Service and IMDS; a number
/// elsewhere), or `expires_in` seconds.
fn parse_token_answer(body: &[u8]) -> std::result::Result<AccessToken, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "its answer is not JSON".to_string())?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("its answer has no access_token")?;
    let seconds = |key: &str| match v.get(key)? {
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        n => n.as_i64(),
    };
    let expires_on = match (seconds("expires_on"), seconds("expires_in")) {
        (Some(at), _) => OffsetDateTime::from_unix_timestamp(at).ok(),
        (None, Some(within)) => Some(OffsetDateTime::now_utc() + time::Duration::seconds(within)),
        _ => None,
    }
    .ok_or("its answer has no usable expires_on")?;
    Ok(AccessToken::new(Secret::new(token.to_string()), expires_on))
}

#[async_trait::async_trait]
impl TokenCredential for ManagedIdentity {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        let resource = resource(scopes)?;
        self.cache.get_or_fetch(self.fetch(resource)).await
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.cache.clear().await;
        Ok(())
    }
}

/// A Kubernetes workload identity: the projected service-account token exchanged for an Entra ID
/// token. The file is read again for every exchange, because the kubelet rotates it (the
/// `azure_identity` credential reads it once, and would fail once that copy expired).
#[derive(Debug)]
struct WorkloadIdentity {
    http: Arc<dyn HttpClient>,
    authority: Url,
    tenant_id: String,
    client_id: String,
    token_file: String,
    cache: Cache,
}

impl WorkloadIdentity {
    /// From `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST` and the
    /// client id (else `AZURE_CLIENT_ID`); `None` when one is missing.
    fn from_env(
        http: Arc<dyn HttpClient>,
        client_id: Option<String>,
    ) -> Result<Option<WorkloadIdentity>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (Some(tenant_id), Some(token_file), Some(client_id)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_FEDERATED_TOKEN_FILE"),
            client_id.or_else(|| env("AZURE_CLIENT_ID")),
        ) else {
            return Ok(None);
        };
        let authority = env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| AZURE_PUBLIC_CLOUD.into());
        let authority =
            Url::parse(&authority).map_err(|_| setup_error("AZURE_AUTHORITY_HOST is not a URL"))?;
        Ok(Some(WorkloadIdentity {
            http,
            authority,
            tenant_id,
            client_id,
            token_file,
            cache: Cache::default(),
        }))
    }

    async fn fetch(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        let assertion = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| {
                credential_error(format!(
                    "workload identity: reading AZURE_FEDERATED_TOKEN_FILE failed ({})",
                    e.kind()
                ))
            })?;
        WorkloadIdentityCredential::new(
            self.http.clone(),
            self.authority.clone(),
            self.tenant_id.clone(),
            self.client_id.clone(),
            assertion.trim().to_string(),
        )
        .get_token(scopes)
        .await
    }
}

#[async_trait::async_trait]
impl TokenCredential for WorkloadIdentity {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        self.cache.get_or_fetch(self.fetch(scopes)).await
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.cache.clear().await;
        Ok(())
    }
}

/// The first of `sources` that gives a token, remembered from then on (so a metadata service
/// that is not there is asked once, not before every request).
#[derive(Debug)]
struct Chain {
    sources: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: OnceLock<usize>,
}

#[async_trait::async_trait]
impl TokenCredential for Chain {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        if let Some(&i) = self.chosen.get() {
            return self.sources[i].1.get_token(scopes).await;
        }
        let mut why = Vec::new();
        for (i, (name, source)) in self.sources.iter().enumerate() {
            match source.get_token(scopes).await {
                Ok(token) => {
                    let _ = self.chosen.set(i);
                    tracing::info!(credential = name, "storage token obtained");
                    return Ok(token);
                }
                Err(e) => why.push(format!("{name}: {}", innermost_message(&e))),
            }
        }
        Err(credential_error(format!(
            "no credential gave a token (set `credential` to choose one): {}",
            why.join("; ")
        )))
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        for (_, source) in &self.sources {
            source.clear_cache().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_in_both_shapes() {
        let t = parse_token_answer(br#"{"access_token":"abc","expires_on":"1700000000"}"#).unwrap();
        assert_eq!(t.token.secret(), "abc");
        assert_eq!(t.expires_on.unix_timestamp(), 1_700_000_000);
        let t = parse_token_answer(br#"{"access_token":"abc","expires_in":3600}"#).unwrap();
        assert!(t.expires_on > OffsetDateTime::now_utc() + time::Duration::minutes(59));
        assert!(parse_token_answer(br#"{"expires_in":3600}"#).is_err());
        assert!(parse_token_answer(b"<html>").is_err());
        // The token never shows in Debug.
        assert!(!format!("{t:?}").contains("abc"));
    }
}
