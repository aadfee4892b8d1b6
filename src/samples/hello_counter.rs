//! Hello with a counter entity — the seed's "hello" function app.
//!
//! - `message_orchestrator` calls `message_logger` twice (for `Tokyo` and `Seattle`, or the
//!   names in its input) and returns the greetings, `"Hello<name>!"`;
//! - the `session_handler` entity keeps a session: `add` (a number to the counter), `get` (the
//!   counter), `append` (a text added to the session log: enough of them push the state past
//!   what a table row can hold, so it moves to a blob), `log_size`, `reset`.

use serde::{Deserialize, Serialize};

use crate::core::entity::EntityContext;
use crate::core::{Failure, OrchestrationContext, Registry};

/// The state of a `session_handler` entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The counter.
    pub count: i64,
    /// The session log: the texts appended, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

/// The orchestrator's name.
pub const ORCHESTRATOR: &str = "message_orchestrator";
/// The entity's name.
pub const ENTITY: &str = "session_handler";

/// Registers `message_orchestrator`, `message_logger` and the `session_handler` entity.
pub fn register(r: &mut Registry) {
    r.add_orchestrator(ORCHESTRATOR, |ctx: OrchestrationContext| async move {
        let names: Option<Vec<String>> = ctx.input()?;
        let names = names.unwrap_or_else(|| vec!["Tokyo".into(), "Seattle".into()]);
        let mut greetings = Vec::new();
        for name in names.iter().take(2) {
            let g: String = ctx.call_activity("message_logger", name).await?;
            greetings.push(g);
        }
        Ok::<_, Failure>(greetings)
    });
    r.add_activity("message_logger", |_ctx, name: String| async move {
        let greeting = format!("Hello{name}!");
        tracing::info!("{greeting}");
        Ok::<_, Failure>(greeting)
    });
    r.add_entity(ENTITY, session_handler);
}

fn session_handler(ctx: &mut EntityContext) -> Result<serde_json::Value, Failure> {
    let mut session: Session = ctx.state_or_default()?;
    match ctx.operation() {
        "add" => {
            let n: i64 = ctx.input()?;
            session.count = session
                .count
                .checked_add(n)
                .ok_or_else(|| Failure::new("Overflow", "the counter would overflow"))?;
            ctx.set_state(&session)?;
            Ok(serde_json::json!(session.count))
        }
        "get" => Ok(serde_json::json!(session.count)),
        "append" => {
            let text: String = ctx.input()?;
            session.log.push(text);
            ctx.set_state(&session)?;
            Ok(serde_json::json!(session.log.len()))
        }
        "log_size" => Ok(serde_json::json!(session
            .log
            .iter()
            .map(String::len)
            .sum::<usize>())),
        "reset" => {
            ctx.delete_state();
            Ok(serde_json::Value::Null)
        }
        _ => Err(ctx.unknown_operation()),
    }
}
