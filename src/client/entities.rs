//! Entities from the client: signal an operation (now or at a time), read an entity's state,
//! list entities.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{check_json, Client, Error, Result};
use crate::backend::{EntityFilter, InstanceQuery};
use crate::core::entity::{EntityState, RequestMessage};
use crate::core::{
    EntityId, EventKind, HistoryEvent, OrchestrationInstance, TaskMessage, Timestamp,
};

/// An entity as stored: its id, its state (JSON text) and when it last changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityView {
    /// `@name@key`.
    pub id: String,
    /// The entity name (lowercased).
    pub name: String,
    /// The entity key.
    pub key: String,
    /// The state as JSON text; `None` when the entity does not exist (or was deleted).
    pub state: Option<String>,
    /// When the entity last processed an operation batch (the Instances `CreatedTime`, as DTFx
    /// reports it).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_modified: Option<Timestamp>,
}

impl Client {
    /// Sends a one-way operation to an entity, delivered no earlier than `at` if given.
    pub async fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &str,
        input: Option<&str>,
        at: Option<Timestamp>,
    ) -> Result<()> {
        if operation.trim().is_empty() {
            return Err(Error::InvalidInput("operation name is empty".into()));
        }
        if let Some(i) = input {
            check_json(i, "the operation input")?;
        }
        let now = self.hub.clock().now();
        let request = RequestMessage {
            operation: operation.to_string(),
            is_signal: true,
            input: input.map(str::to_string),
            id: crate::entropy::uuid().to_string(),
            parent_instance_id: None,
            parent_execution_id: None,
            timestamp: Some(now),
            predecessor: None,
            scheduled_time: at,
            ..Default::default()
        };
        let message = TaskMessage {
            instance: OrchestrationInstance::new(entity.to_string(), None),
            event: HistoryEvent::new(
                now,
                EventKind::EventRaised {
                    name: request.event_name(),
                    input: Some(request.to_json()),
                },
            ),
            visible_at: at,
        };
        self.creating_hub(|| async { Ok(self.hub.send(&message, None, None).await?) })
            .await?;
        Ok(())
    }

    /// An entity's stored state; `None` when it has never been written.
    pub async fn entity(&self, entity: &EntityId) -> Result<Option<EntityView>> {
        let id = entity.to_string();
        let Some((status, _)) = self.hub.instances().read(&id, true).await? else {
            return Ok(None);
        };
        let state = EntityState::from_input(status.input.as_deref()).map_err(|e| {
            Error::Backend(crate::backend::Error::Corrupt(format!(
                "state of {id}: {e}"
            )))
        })?;
        Ok(Some(EntityView {
            id,
            name: entity.name().to_string(),
            key: entity.key().to_string(),
            state: state.state,
            last_modified: status.created_time,
        }))
    }

    /// Signals an operation whose input is any value that serializes to JSON.
    pub async fn signal<T: Serialize + ?Sized>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &T,
    ) -> Result<()> {
        let json = super::encode("the operation input", input)?;
        self.signal_entity(entity, operation, Some(&json), None)
            .await
    }

    /// An entity's state read as `T`; `None` when the entity has no state.
    pub async fn entity_state<T: DeserializeOwned>(&self, entity: &EntityId) -> Result<Option<T>> {
        match self.entity(entity).await? {
            Some(EntityView {
                state: Some(state), ..
            }) => super::decode(&format!("the state of {entity}"), Some(&state)).map(Some),
            _ => Ok(None),
        }
    }

    /// Entities whose state exists, optionally only those of one entity name.
    pub async fn list_entities(&self, name: Option<&str>) -> Result<Vec<EntityView>> {
        let query = InstanceQuery {
            entities: EntityFilter::Only,
            instance_id_prefix: name.map(|n| format!("@{}@", n.to_lowercase())),
            show_input: true,
            ..InstanceQuery::default()
        };
        let rows = self.hub.instances().query_all(&query).await?;
        let mut out = Vec::new();
        for row in rows {
            let Ok(id) = EntityId::parse(&row.instance_id) else {
                continue;
            };
            let Ok(state) = EntityState::from_input(row.input.as_deref()) else {
                continue;
            };
            if state.state.is_none() {
                continue;
            }
            out.push(EntityView {
                id: row.instance_id.clone(),
                name: id.name().to_string(),
                key: id.key().to_string(),
                state: state.state,
                last_modified: row.created_time,
            });
        }
        Ok(out)
    }
}
