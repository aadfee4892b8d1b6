//! Entity-group transactions: up to 100 operations on one partition key, all or nothing.
//!
//! Owns [`Batch`] and the small pipeline policy that keeps a copy of the `$batch` response body.
//! The crate reports a failed transaction as `Ok` with one failing sub-status and drops the body
//! that says which operation failed and why; we check every sub-status and read the index
//! (`"value":"3:…"`) and the code from that body, so a failure becomes
//! [`Error::BatchOperationFailed`]. Limits that Azure enforces but Azurite does not (one partition
//! key, ≤ 100 operations) are checked here before anything is sent.

use super::entity::TableEntity;
use super::error::{Error, Result};
use super::escape::url_key;
use super::table::{entity_body, Etag, Table};
use super::{describe, OpKind, Service};
use azure_core::{Context, Policy, PolicyResult, Request, Response};
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The most operations one transaction may hold.
pub const MAX_BATCH_OPERATIONS: usize = 100;

enum Op {
    Insert(TableEntity),
    UpsertReplace(TableEntity),
    UpsertMerge(TableEntity),
    Update(TableEntity, Option<Etag>),
    Merge(TableEntity, Option<Etag>),
    Delete(Option<Etag>),
}

/// A transaction under construction. Add operations, then [`Batch::execute`].
pub struct Batch {
    table: Table,
    partition_key: String,
    ops: Vec<(String, Op)>,
    invalid: Option<String>,
}

impl Batch {
    pub(crate) fn new(table: Table, partition_key: &str) -> Batch {
        Batch {
            table,
            partition_key: partition_key.to_string(),
            ops: Vec::new(),
            invalid: None,
        }
    }

    /// Number of operations so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The partition key every operation must use.
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }

    fn push(
        &mut self,
        row_key: &str,
        entity: Option<&dyn ErasedSerialize>,
        make: impl FnOnce(TableEntity) -> Op,
    ) -> &mut Self {
        let op = match entity {
            Some(e) => match entity_body(&self.operation(), &self.partition_key, row_key, &e) {
                Ok(body) => make(body),
                Err(err) => {
                    // Remember the first problem; execute() reports it without sending anything.
                    self.invalid.get_or_insert(err.to_string());
                    return self;
                }
            },
            None => make(TableEntity::new()),
        };
        self.ops.push((row_key.to_string(), op));
        self
    }

    /// Adds an insert (fails the batch with 409 if the entity exists).
    pub fn insert(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push(row_key, Some(&Erased(entity)), Op::Insert)
    }

    /// Adds an insert-or-replace.
    pub fn upsert_replace(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push(row_key, Some(&Erased(entity)), Op::UpsertReplace)
    }

    /// Adds an insert-or-merge.
    pub fn upsert_merge(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push(row_key, Some(&Erased(entity)), Op::UpsertMerge)
    }

    /// Adds a replace guarded by `etag` (`None`: any version; 404 if missing).
    pub fn update(
        &mut self,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> &mut Self {
        let etag = etag.cloned();
        self.push(row_key, Some(&Erased(entity)), |b| Op::Update(b, etag))
    }

    /// Adds a merge guarded by `etag` (`None`: any version; 404 if missing).
    pub fn merge(
        &mut self,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> &mut Self {
        let etag = etag.cloned();
        self.push(row_key, Some(&Erased(entity)), |b| Op::Merge(b, etag))
    }

    /// Adds a delete guarded by `etag` (`None`: any version; 404 if missing).
    pub fn delete(&mut self, row_key: &str, etag: Option<&Etag>) -> &mut Self {
        let etag = etag.cloned();
        self.push(row_key, None, |_| Op::Delete(etag))
    }

    fn operation(&self) -> String {
        describe(OpKind::TableBatch, self.table.name())
    }

    fn check(&self) -> Result<()> {
        let invalid = |message: String| {
            Err(Error::InvalidRequest {
                operation: self.operation(),
                message,
            })
        };
        if let Some(m) = &self.invalid {
            return invalid(m.clone());
        }
        if self.ops.len() > MAX_BATCH_OPERATIONS {
            return invalid(format!(
                "{} operations, at most {MAX_BATCH_OPERATIONS} are allowed",
                self.ops.len()
            ));
        }
        let mut seen = HashSet::new();
        for (rk, _) in &self.ops {
            if !seen.insert(rk.as_str()) {
                return invalid(format!("row key `{rk}` appears twice"));
            }
        }
        Ok(())
    }

    /// Sends the transaction. Returns each operation's new ETag in order (`None` for deletes).
    /// If any operation fails, nothing is applied and the error is
    /// [`Error::BatchOperationFailed`] naming the operation's index, status and code.
    pub async fn execute(&self) -> Result<Vec<Option<Etag>>> {
        self.check()?;
        if self.ops.is_empty() {
            return Ok(Vec::new());
        }
        let operation = self.operation();
        let pk_client = self
            .table
            .client
            .partition_key_client(url_key(&self.partition_key));
        let storage = &self.table.storage;
        let endpoint = storage.endpoint(Service::Table);
        super::retry::retry(storage.retry_policy(), || {
            storage.counters().record(OpKind::TableBatch);
            let slot = CaptureSlot::default();
            let mut ctx = Context::new();
            ctx.insert(slot.clone());
            let built =
                self.ops
                    .iter()
                    .try_fold(pk_client.transaction().context(ctx), |tx, (rk, op)| {
                        let rk = url_key(rk);
                        match op {
                            Op::Insert(e) => tx.insert(e),
                            Op::UpsertReplace(e) => tx.insert_or_replace(rk, e),
                            Op::UpsertMerge(e) => tx.insert_or_merge(rk, e),
                            Op::Update(e, etag) => {
                                tx.update(rk, e, Some(Etag::condition(etag.as_ref())))
                            }
                            Op::Merge(e, etag) => {
                                tx.merge(rk, e, Some(Etag::condition(etag.as_ref())))
                            }
                            Op::Delete(etag) => tx.delete(rk, Some(Etag::condition(etag.as_ref()))),
                        }
                    });
            let operation = operation.clone();
            let n = self.ops.len();
            let is_delete: Vec<bool> = self
                .ops
                .iter()
                .map(|(_, op)| matches!(op, Op::Delete(_)))
                .collect();
            async move {
                let _slot = storage.request_slot().await;
                let resp = match built {
                    Ok(tx) => tx.await,
                    Err(e) => Err(e),
                }
                .map_err(|e| Error::from_azure(operation.clone(), endpoint, e))?;
                let statuses: Vec<u16> = resp
                    .operation_responses
                    .iter()
                    .map(|r| u16::from(r.status_code))
                    .collect();
                if let Some(pos) = statuses.iter().position(|s| *s >= 300) {
                    let body = slot.take();
                    let (index, code) = parse_failure(body.as_deref().unwrap_or_default());
                    return Err(Error::BatchOperationFailed {
                        operation,
                        index: index.unwrap_or(pos),
                        status: statuses[pos],
                        code,
                    });
                }
                if statuses.len() != n {
                    return Err(Error::Decode {
                        operation,
                        message: format!(
                            "{} operations sent but {} results received",
                            n,
                            statuses.len()
                        ),
                    });
                }
                Ok(resp
                    .operation_responses
                    .into_iter()
                    .zip(is_delete)
                    .map(|(r, del)| if del { None } else { r.etag.map(Etag::from) })
                    .collect())
            }
        })
        .await
    }
}

/// Reads the failing operation's index and error code from a changeset response body:
/// `{"odata.error":{"code":"EntityAlreadyExists","message":{…,"value":"1:The specified…"}}}`.
fn parse_failure(body: &[u8]) -> (Option<usize>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let code = text.find("\"code\":\"").and_then(|i| {
        let rest = &text[i + 8..];
        rest.find('"').map(|j| rest[..j].to_string())
    });
    let index = text.find("\"value\":\"").and_then(|i| {
        let rest = &text[i + 9..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        (!digits.is_empty() && rest[digits.len()..].starts_with(':'))
            .then(|| digits.parse().ok())
            .flatten()
    });
    (index, code)
}

/// Object-safe view of `&impl Serialize`, so `push` is not generic.
trait ErasedSerialize {
    fn to_json(&self) -> serde_json::Result<serde_json::Value>;
}

struct Erased<'a, T: Serialize>(&'a T);

impl<T: Serialize> ErasedSerialize for Erased<'_, T> {
    fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self.0)
    }
}

impl Serialize for &dyn ErasedSerialize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// Where [`BatchBodyCapture`] leaves the response body of one `$batch` call.
#[derive(Clone, Default)]
struct CaptureSlot(Arc<Mutex<Option<Bytes>>>);

impl CaptureSlot {
    fn take(&self) -> Option<Bytes> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// Table pipeline policy: when the request's context carries a [`CaptureSlot`], keep a copy of the
/// response body there and hand the crate an identical body.
#[derive(Debug)]
pub(crate) struct BatchBodyCapture;

#[async_trait::async_trait]
impl Policy for BatchBodyCapture {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let Some((first, rest)) = next.split_first() else {
            return Err(azure_core::Error::message(
                azure_core::error::ErrorKind::Other,
                "no transport policy",
            ));
        };
        let response = first.send(ctx, request, rest).await?;
        let Some(slot) = ctx.get::<CaptureSlot>() else {
            return Ok(response);
        };
        let (status, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        if let Ok(mut g) = slot.0.lock() {
            *g = Some(bytes.clone());
        }
        Ok(Response::new(
            status,
            headers,
            Box::pin(futures::stream::once(async move { Ok(bytes) })),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_failure;

    #[test]
    fn reads_index_and_code() {
        let body = br#"--changesetresponse_x
HTTP/1.1 409 Conflict
Content-ID: 2

{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity already exists."}}}"#;
        assert_eq!(
            parse_failure(body),
            (Some(1), Some("EntityAlreadyExists".into()))
        );
        assert_eq!(parse_failure(b"garbage"), (None, None));
    }
}
