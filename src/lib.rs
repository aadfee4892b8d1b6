//! taskhub: the Durable Task Framework's classic Azure Storage task hub, in Rust.
