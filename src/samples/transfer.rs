//! Bank transfers between `account` entities, in critical sections.
//!
//! - the `account` entity holds a balance: `deposit` and `withdraw` (an amount; a withdrawal
//!   larger than the balance fails), `get`;
//! - `transfer` (`{"from": "a", "to": "b", "amount": 10}`) locks both accounts, and inside the
//!   critical section withdraws from one and deposits to the other, so no other orchestration
//!   that locks them sees the money in neither; it returns whether the money moved;
//! - `audit` (`["a", "b"]`) locks every account it names and returns the sum of their balances:
//!   while transfers run between those accounts, the sum never changes.

use serde::{Deserialize, Serialize};

use crate::core::entity::EntityContext;
use crate::core::{EntityId, Failure, OrchestrationContext, Registry};

/// The entity's name.
pub const ACCOUNT: &str = "account";
/// The transfer orchestrator's name.
pub const TRANSFER: &str = "transfer";
/// The audit orchestrator's name.
pub const AUDIT: &str = "audit";

/// The input of `transfer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// The account the money leaves (its entity key).
    pub from: String,
    /// The account the money goes to.
    pub to: String,
    /// How much.
    pub amount: i64,
}

/// Registers the `account` entity and the `transfer` and `audit` orchestrators.
pub fn register(r: &mut Registry) {
    r.add_entity(ACCOUNT, account);
    r.add_orchestrator(TRANSFER, |ctx: OrchestrationContext| async move {
        let t: Transfer = ctx.input()?;
        if t.amount <= 0 || t.from == t.to {
            return Err(Failure::new(
                "InvalidTransfer",
                "amount must be positive, accounts distinct",
            )
            .non_retriable());
        }
        let from = account_id(&t.from)?;
        let to = account_id(&t.to)?;
        let locks = ctx.lock_entities(&[from.clone(), to.clone()]).await?;
        let balance: i64 = ctx.call_entity(&from, "get", ()).await?;
        let moved = balance >= t.amount;
        if moved {
            ctx.call_entity::<i64>(&from, "withdraw", t.amount).await?;
            ctx.call_entity::<i64>(&to, "deposit", t.amount).await?;
        }
        locks.release();
        Ok::<_, Failure>(moved)
    });
    r.add_orchestrator(AUDIT, |ctx: OrchestrationContext| async move {
        let keys: Vec<String> = ctx.input()?;
        let ids = keys
            .iter()
            .map(|k| account_id(k))
            .collect::<Result<Vec<_>, _>>()?;
        let _locks = ctx.lock_entities(&ids).await?;
        let balances = ctx
            .all_of(ids.iter().map(|id| ctx.call_entity::<i64>(id, "get", ())))
            .await;
        let mut total = 0i64;
        for b in balances {
            total += b?;
        }
        Ok::<_, Failure>(total)
    });
}

fn account_id(key: &str) -> Result<EntityId, Failure> {
    EntityId::new(ACCOUNT, key)
        .map_err(|e| Failure::new("InvalidAccount", e.to_string()).non_retriable())
}

fn account(ctx: &mut EntityContext) -> Result<serde_json::Value, Failure> {
    let balance: i64 = ctx.state_or_default()?;
    let new_balance = match ctx.operation() {
        "get" => return Ok(serde_json::json!(balance)),
        "deposit" => {
            let n: i64 = ctx.input()?;
            balance
                .checked_add(n)
                .ok_or_else(|| Failure::new("Overflow", "the balance would overflow"))?
        }
        "withdraw" => {
            let n: i64 = ctx.input()?;
            if n > balance {
                return Err(Failure::new(
                    "InsufficientFunds",
                    format!("cannot withdraw {n} from a balance of {balance}"),
                ));
            }
            balance - n
        }
        _ => return Err(ctx.unknown_operation()),
    };
    ctx.set_state(&new_balance)?;
    Ok(serde_json::json!(new_balance))
}
