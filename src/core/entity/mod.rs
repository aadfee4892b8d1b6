//! Durable entities: the message formats orchestrations use to signal and call them.
//! (The entity runtime itself comes with the entities work.)

pub mod messages;
