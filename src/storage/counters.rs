//! Counts every storage request by kind.
//!
//! Owns [`OpKind`] and [`OpCounters`]. A counter is bumped once per HTTP attempt (so a retried call
//! counts twice and a query counts once per page); benchmarks divide these by work done. Plain
//! relaxed atomics: the numbers are statistics, not synchronisation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! op_kinds {
    ($($variant:ident => $name:literal, $verb:literal;)*) => {
        /// One kind of storage request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum OpKind {
            $(#[doc = $verb] $variant,)*
        }

        impl OpKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$variant,)*];

            /// Stable name used in snapshots and reports, e.g. `"QueuePut"`.
            pub fn as_str(self) -> &'static str {
                match self { $(OpKind::$variant => $name,)* }
            }

            /// Human wording used in error messages, e.g. `"queue put"`.
            pub fn verb(self) -> &'static str {
                match self { $(OpKind::$variant => $verb,)* }
            }
        }
    };
}

op_kinds! {
    QueueCreate => "QueueCreate", "queue create";
    QueueDeleteQueue => "QueueDeleteQueue", "queue delete";
    QueuePut => "QueuePut", "queue put to";
    QueueGet => "QueueGet", "queue get from";
    QueueUpdate => "QueueUpdate", "queue message update in";
    QueueDelete => "QueueDelete", "queue message delete from";
    QueuePeek => "QueuePeek", "queue peek at";
    QueueLength => "QueueLength", "queue length of";
    QueueClear => "QueueClear", "queue clear of";
    TableCreate => "TableCreate", "table create";
    TableDeleteTable => "TableDeleteTable", "table delete";
    TableExists => "TableExists", "table existence check of";
    TableRead => "TableRead", "table read from";
    TableQuery => "TableQuery", "table query on";
    TableInsert => "TableInsert", "table insert into";
    TableUpsert => "TableUpsert", "table upsert into";
    TableUpdate => "TableUpdate", "table update in";
    TableDelete => "TableDelete", "table delete from";
    TableBatch => "TableBatch", "table transaction on";
    ContainerCreate => "ContainerCreate", "container create";
    ContainerDelete => "ContainerDelete", "container delete";
    ContainerExists => "ContainerExists", "container existence check of";
    BlobPut => "BlobPut", "blob put";
    BlobGet => "BlobGet", "blob get";
    BlobProperties => "BlobProperties", "blob properties of";
    BlobDelete => "BlobDelete", "blob delete";
    BlobList => "BlobList", "blob list in";
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request counters, one per [`OpKind`]. Shared by every clone of a `Storage`.
#[derive(Debug)]
pub struct OpCounters {
    counts: Vec<AtomicU64>,
}

impl Default for OpCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl OpCounters {
    /// All counters at zero.
    pub fn new() -> Self {
        OpCounters {
            counts: OpKind::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one request of `kind`.
    pub fn record(&self, kind: OpKind) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests of one kind so far.
    pub fn get(&self, kind: OpKind) -> u64 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }

    /// Every kind with a non-zero count, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        OpKind::ALL
            .iter()
            .map(|k| (k.as_str(), self.get(*k)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_kind_and_totals() {
        let c = OpCounters::new();
        c.record(OpKind::QueuePut);
        c.record(OpKind::QueuePut);
        c.record(OpKind::TableBatch);
        assert_eq!(c.get(OpKind::QueuePut), 2);
        assert_eq!(c.total(), 3);
        let snap = c.snapshot();
        assert_eq!(snap.get("QueuePut"), Some(&2));
        assert_eq!(snap.get("TableBatch"), Some(&1));
        assert_eq!(snap.get("BlobGet"), None);
    }

    #[test]
    fn names_are_unique() {
        let names: std::collections::BTreeSet<_> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), OpKind::ALL.len());
    }
}
