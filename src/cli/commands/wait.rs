//! `taskhub wait <id>`: waits until the instance finishes, prints its final status, and says how
//! it ended in the exit code.

use super::status::{print_status, status_json};
use crate::cli::input::instance_id;
use crate::cli::output::{print_json, printable, status};
use crate::cli::{Context, ExitWith};
use crate::client::Error;
use crate::core::OrchestrationStatus;
use anyhow::Result;
use clap::Args;
use std::time::Duration;

/// Exit code for an instance that ended Failed, Terminated or Canceled.
pub const EXIT_NOT_COMPLETED: u8 = 2;
/// Exit code when the instance is still live at the timeout.
pub const EXIT_TIMEOUT: u8 = 3;

#[derive(Debug, Args)]
#[command(after_help = "Exit codes:\n  \
    0  the instance Completed\n  \
    1  error (no such instance, bad arguments, storage trouble)\n  \
    2  the instance Failed, was Terminated or Canceled\n  \
    3  still Pending, Running or Suspended when the timeout ran out")]
pub struct WaitArgs {
    /// The instance id.
    id: String,

    /// Give up after this many seconds (exit code 3). ContinuedAsNew is not an end: waiting
    /// goes on through new executions.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,

    /// Print the final status as JSON (as `taskhub status --json`).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: WaitArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let timeout = Duration::from_secs(args.timeout);
    match client.wait_for_completion(id, timeout).await {
        Ok(s) => {
            if args.json {
                print_json(&status_json(&s))?;
            } else {
                print_status(&s, false);
            }
            match s.runtime_status {
                OrchestrationStatus::Completed => Ok(()),
                _ => Err(ExitWith(EXIT_NOT_COMPLETED).into()),
            }
        }
        Err(Error::Timeout {
            id,
            status: current,
            seconds,
        }) => {
            status(format!(
                "timed out: instance '{}' is still {current} after {seconds:.1} s",
                printable(&id)
            ));
            Err(ExitWith(EXIT_TIMEOUT).into())
        }
        Err(e) => ctx.check(Err(e)).await,
    }
}
