//! Identity-based storage connections: no account key, Microsoft Entra ID tokens instead.
//!
//! Owns what such a connection says, as plain data: [`Credential`] (which token source),
//! [`TokenAuth`] (that plus a user-assigned identity's client id) and [`IdentityConnection`]
//! (Durable Functions' `AzureWebJobsStorage__accountName`, `__blobServiceUri`,
//! `__queueServiceUri`, `__tableServiceUri`, `__credential`, `__clientId` settings). The token
//! credentials themselves are built next to the Azure clients (`azure/token.rs`, the `identity`
//! feature), the only code that names the Azure crates' types. Nothing here holds a secret.

use super::account::{bad, looks_like_a_name, StorageAccount};
use super::error::Result;
use std::fmt;

/// Where an identity-based connection gets its tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Credential {
    /// No `credential` setting, as in Durable Functions: the first that works of the
    /// environment (workload identity, or a service principal's `AZURE_CLIENT_ID`/
    /// `AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`), a managed identity, the Azure CLI's login.
    #[default]
    Chain,
    /// `managedidentity`: the App Service / Functions / Container Apps endpoint
    /// (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`) when set, else the VM's instance metadata
    /// service; user-assigned with a client id.
    ManagedIdentity,
    /// `workloadidentity`: a Kubernetes service account's federated token
    /// (`AZURE_FEDERATED_TOKEN_FILE`, `AZURE_TENANT_ID`, and `AZURE_CLIENT_ID` unless a client id
    /// is given).
    WorkloadIdentity,
    /// `azurecli`: the signed-in Azure CLI (`az account get-access-token`), for development.
    AzureCli,
}

impl Credential {
    /// The setting's value for this credential (`managedidentity`…); `default` for the chain.
    pub fn name(self) -> &'static str {
        match self {
            Credential::Chain => "default",
            Credential::ManagedIdentity => "managedidentity",
            Credential::WorkloadIdentity => "workloadidentity",
            Credential::AzureCli => "azurecli",
        }
    }

    /// Parses a `credential` setting (case and spaces ignored: `ManagedIdentity`, `Azure CLI`).
    /// `what` names the setting in the error.
    pub fn parse(value: &str, what: &str) -> Result<Credential> {
        let v: String = value
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        [
            Credential::Chain,
            Credential::ManagedIdentity,
            Credential::WorkloadIdentity,
            Credential::AzureCli,
        ]
        .into_iter()
        .find(|c| c.name() == v)
        .ok_or_else(|| {
            let shown = if looks_like_a_name(&v) {
                format!(" `{v}`")
            } else {
                String::new()
            };
            bad(format!(
                "{what} names an unknown credential{shown} (expected managedidentity, \
                 workloadidentity, azurecli or default)"
            ))
        })
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The token source of an identity-based connection: the credential, and the client id of the
/// identity to use (a user-assigned managed identity, a workload identity's app).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenAuth {
    /// Which credential.
    pub credential: Credential,
    /// The identity's client (application) id; `None` for a system-assigned managed identity or
    /// the credential's own default.
    pub client_id: Option<String>,
}

impl TokenAuth {
    /// From a `credential` and a `clientId` setting, as given. `what` names the credential
    /// setting in errors.
    pub(super) fn new(
        credential: Option<&str>,
        client_id: Option<&str>,
        what: &str,
    ) -> Result<TokenAuth> {
        let credential = match credential {
            Some(c) => Credential::parse(c, what)?,
            None => Credential::Chain,
        };
        if credential == Credential::AzureCli && client_id.is_some() {
            return Err(bad(
                "a client id does not apply to the Azure CLI credential (it uses the signed-in account)",
            ));
        }
        Ok(TokenAuth {
            credential,
            client_id: client_id.map(str::to_string),
        })
    }
}

impl fmt::Display for TokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A client id is an identifier, not a secret (it is in Azure's portal and in app settings).
        match &self.client_id {
            Some(id) => write!(f, "{}, client id {id}", self.credential),
            None => write!(f, "{}", self.credential),
        }
    }
}

/// An identity-based connection as Durable Functions configures one: the `{name}__…` settings of
/// a connection `name` (by default `AzureWebJobsStorage`). Build the account with
/// [`StorageAccount::identity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityConnection {
    /// `__accountName`: derives the three endpoints (`https://{name}.blob.core.windows.net`…).
    pub account_name: Option<String>,
    /// `__blobServiceUri`, e.g. `https://acct.blob.core.windows.net`.
    pub blob_service_uri: Option<String>,
    /// `__queueServiceUri`.
    pub queue_service_uri: Option<String>,
    /// `__tableServiceUri`.
    pub table_service_uri: Option<String>,
    /// `__credential`: `managedidentity`, `workloadidentity`, `azurecli`; `None` for the chain.
    pub credential: Option<String>,
    /// `__clientId`: a user-assigned identity's client id.
    pub client_id: Option<String>,
}

/// (canonical connection-string key, Durable Functions setting suffix).
const SETTINGS: &[(&str, &str)] = &[
    ("AccountName", "accountName"),
    ("BlobEndpoint", "blobServiceUri"),
    ("QueueEndpoint", "queueServiceUri"),
    ("TableEndpoint", "tableServiceUri"),
    ("Credential", "credential"),
    ("ClientId", "clientId"),
];

/// The Durable Functions setting suffix for a connection-string key (`BlobEndpoint` →
/// `blobServiceUri`).
pub(super) fn settings_name(key: &str) -> &str {
    SETTINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, s)| s)
}

impl IdentityConnection {
    /// The `{name}__…` settings among `settings`; `None` when there are none.
    pub fn from_settings<K, V>(
        name: &str,
        settings: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Option<IdentityConnection>>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut c = IdentityConnection::default();
        let mut any = false;
        for (key, value) in settings {
            let key = key.as_ref().replace(':', "__");
            let Some(suffix) = key
                .get(..name.len() + 2)
                .filter(|p| p.eq_ignore_ascii_case(&format!("{name}__")))
                .map(|_| &key[name.len() + 2..])
            else {
                continue;
            };
            let slot = match SETTINGS
                .iter()
                .find(|(_, s)| s.eq_ignore_ascii_case(suffix))
                .map(|(k, _)| *k)
            {
                Some("AccountName") => &mut c.account_name,
                Some("BlobEndpoint") => &mut c.blob_service_uri,
                Some("QueueEndpoint") => &mut c.queue_service_uri,
                Some("TableEndpoint") => &mut c.table_service_uri,
                Some("Credential") => &mut c.credential,
                Some("ClientId") => &mut c.client_id,
                _ => {
                    return Err(bad(if looks_like_a_name(suffix) {
                        format!(
                            "`{name}__{suffix}` is not a setting taskhub knows (accountName, \
                             blobServiceUri, queueServiceUri, tableServiceUri, credential, clientId)"
                        )
                    } else {
                        format!("a `{name}__…` setting is not one taskhub knows")
                    }))
                }
            };
            let value = value.as_ref().trim();
            if value.is_empty() {
                return Err(bad(format!("`{key}` has no value")));
            }
            if slot.is_some() {
                return Err(bad(format!("`{key}` is given twice")));
            }
            *slot = Some(value.to_string());
            any = true;
        }
        Ok(any.then_some(c))
    }

    /// The account, errors naming a setting with `named` (its canonical key in, how the user
    /// wrote it out).
    pub(super) fn to_account(&self, named: &dyn Fn(&str) -> String) -> Result<StorageAccount> {
        let fields: Vec<(&'static str, &str)> = [
            ("AccountName", &self.account_name),
            ("BlobEndpoint", &self.blob_service_uri),
            ("QueueEndpoint", &self.queue_service_uri),
            ("TableEndpoint", &self.table_service_uri),
            ("Credential", &self.credential),
            ("ClientId", &self.client_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_deref()?)))
        .collect();
        if !fields.iter().any(|(k, _)| {
            matches!(
                *k,
                "AccountName" | "BlobEndpoint" | "QueueEndpoint" | "TableEndpoint"
            )
        }) {
            return Err(bad(format!(
                "{} is missing (or give the three service URIs)",
                named("AccountName")
            )));
        }
        // No key or SAS among the fields: `from_fields` makes it identity-based, with the chain
        // when neither credential nor client id is set.
        StorageAccount::from_fields(&fields, named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Option<StorageAccount>> {
        StorageAccount::from_settings("AzureWebJobsStorage", pairs.iter().copied())
    }

    #[test]
    fn account_name_alone_derives_https_endpoints_and_the_chain() {
        let a = from(&[
            ("AzureWebJobsStorage__accountName", "acct"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.account_name(), "acct");
        assert_eq!(a.blob_endpoint(), "https://acct.blob.core.windows.net");
        assert_eq!(a.table_endpoint(), "https://acct.table.core.windows.net");
        assert_eq!(a.token_auth(), Some(&TokenAuth::default()));
    }

    #[test]
    fn service_uris_credential_and_client_id_case_insensitively() {
        let a = from(&[
            (
                "AZUREWEBJOBSSTORAGE__BLOBSERVICEURI",
                "https://127.0.0.1:1/devstoreaccount1",
            ),
            (
                "AzureWebJobsStorage:queueServiceUri",
                "https://127.0.0.1:2/devstoreaccount1",
            ),
            (
                "AzureWebJobsStorage__tableServiceUri",
                "https://127.0.0.1:3/devstoreaccount1",
            ),
            ("AzureWebJobsStorage__credential", "ManagedIdentity"),
            ("AzureWebJobsStorage__clientId", "1234-abcd"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.account_name(), "devstoreaccount1");
        assert_eq!(a.queue_endpoint(), "https://127.0.0.1:2/devstoreaccount1");
        let auth = a.token_auth().unwrap();
        assert_eq!(auth.credential, Credential::ManagedIdentity);
        assert_eq!(auth.client_id.as_deref(), Some("1234-abcd"));
        assert!(format!("{a:?}").contains("TokenCredential(managedidentity, client id 1234-abcd)"));
    }

    #[test]
    fn no_settings_of_the_connection_is_none() {
        assert!(
            from(&[("AzureWebJobsStorageX__accountName", "a"), ("HOME", "/")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_settings_are_one_clear_line() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("AzureWebJobsStorage__credential", "managedidentity")],
                "`AzureWebJobsStorage__accountName` is missing",
            ),
            (
                &[
                    ("AzureWebJobsStorage__accountName", "acct"),
                    ("AzureWebJobsStorage__credential", "magic"),
                ],
                "`AzureWebJobsStorage__credential` names an unknown credential `magic`",
            ),
            (
                &[("AzureWebJobsStorage__blobServiceUri", "not a url")],
                "`AzureWebJobsStorage__blobServiceUri` is not a URL",
            ),
            (
                &[(
                    "AzureWebJobsStorage__blobServiceUri",
                    "http://127.0.0.1:1/devstoreaccount1",
                )],
                "`AzureWebJobsStorage__blobServiceUri` must be https",
            ),
            (
                &[("AzureWebJobsStorage__clientSecret", "s3cr3t")],
                "`AzureWebJobsStorage__clientSecret` is not a setting taskhub knows",
            ),
            (
                &[
                    ("AzureWebJobsStorage__accountName", "acct"),
                    ("AzureWebJobsStorage__credential", "azurecli"),
                    ("AzureWebJobsStorage__clientId", "x"),
                ],
                "a client id does not apply to the Azure CLI credential",
            ),
        ];
        for (settings, expected) in cases {
            let e = from(settings).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains('\n') && !e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn connection_string_form() {
        let a = StorageAccount::parse(
            "AccountName=acct;Credential=workloadidentity;ClientId=app-1;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(a.blob_endpoint(), "https://acct.blob.core.chinacloudapi.cn");
        assert_eq!(
            a.token_auth().map(|t| t.credential),
            Some(Credential::WorkloadIdentity)
        );
        // No key and no SAS: the credential chain.
        let a = StorageAccount::parse("AccountName=acct").unwrap();
        assert_eq!(a.token_auth(), Some(&TokenAuth::default()));
        for (s, expected) in [
            (
                "AccountName=acct;DefaultEndpointsProtocol=http",
                "the blob endpoint must be https",
            ),
            (
                "AccountName=acct;AccountKey=YWJj;Credential=managedidentity",
                "`Credential` and `ClientId` are for a connection without `AccountKey`",
            ),
            ("AccountName=acct;Credential=kerberos", "unknown credential"),
        ] {
            let e = StorageAccount::parse(s).unwrap_err().to_string();
            assert!(e.contains(expected), "{s}: {e}");
        }
    }
}
