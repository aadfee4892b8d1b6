//! Hello cities: the smallest orchestration, a sequence of three activity calls.
//!
//! `HelloCities` takes an optional name prefix and returns `["Hello Tokyo!", "Hello Seattle!",
//! "Hello London!"]` from the `SayHello` activity.

use crate::core::{Failure, OrchestrationContext, Registry};

pub fn register(r: &mut Registry) {
    r.add_orchestrator("HelloCities", |ctx: OrchestrationContext| async move {
        let mut greetings = Vec::new();
        for city in ["Tokyo", "Seattle", "London"] {
            let g: String = ctx.call_activity("SayHello", city).await?;
            greetings.push(g);
        }
        Ok::<_, Failure>(greetings)
    });
    r.add_activity("SayHello", |_ctx, name: String| async move {
        Ok::<_, Failure>(format!("Hello {name}!"))
    });
}
