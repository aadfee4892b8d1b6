//! The `$batch` response body the crate drops: a pipeline policy keeps a copy, and
//! [`parse_failure`] reads which operation of a failed transaction failed, and why.

use std::sync::{Arc, Mutex};

use azure_core::{Context, Policy, PolicyResult, Request, Response};
use bytes::Bytes;

/// Reads the failing operation's index and error code from a changeset response body:
/// `{"odata.error":{"code":"EntityAlreadyExists","message":{…,"value":"1:The specified…"}}}`.
pub(super) fn parse_failure(body: &[u8]) -> (Option<usize>, Option<String>) {
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

/// Where [`BatchBodyCapture`] leaves the response body of one `$batch` call.
#[derive(Clone, Default)]
pub(super) struct CaptureSlot(Arc<Mutex<Option<Bytes>>>);

impl CaptureSlot {
    pub(super) fn take(&self) -> Option<Bytes> {
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
