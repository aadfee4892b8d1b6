//! What `terminate`, `suspend` and `resume` share: checking the id, sending the operation to
//! one instance or (`--recursive`) to its whole tree of sub-orchestrations, and saying what was
//! asked of the workers.

use crate::cli::input::instance_id;
use crate::cli::output::{printable, status};
use crate::cli::Context;
pub use crate::client::Control;
use anyhow::Result;

fn noun(op: Control) -> &'static str {
    match op {
        Control::Terminate => "termination",
        Control::Suspend => "suspension",
        Control::Resume => "resumption",
    }
}

/// Sends `op` to `id` (and, with `recursive`, to every live sub-orchestration below it).
pub async fn run(
    op: Control,
    id: &str,
    reason: Option<&str>,
    recursive: bool,
    ctx: &mut Context,
) -> Result<()> {
    let id = instance_id(id)?;
    let client = ctx.client().await?;
    if !recursive {
        ctx.check(client.control(op, id, reason).await).await?;
        status(format!(
            "{} of '{}' requested; a worker applies it",
            noun(op),
            printable(id)
        ));
        return Ok(());
    }
    let outcome = ctx
        .check(client.control_recursive(op, id, reason).await)
        .await?;
    let below = outcome.sent.len() - 1;
    status(format!(
        "{} of '{}' and {below} sub-orchestration{} below it requested; workers apply it",
        noun(op),
        printable(id),
        if below == 1 { "" } else { "s" }
    ));
    if !outcome.unsettled.is_empty() {
        status(format!(
            "warning: {} instance(s) had not applied it within 10 s (is a worker running?); sub-orchestrations they start later are not reached: {}",
            outcome.unsettled.len(),
            outcome.unsettled.iter().map(|i| printable(i)).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}
