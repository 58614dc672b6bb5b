//! Leaf types that connections, hubs, outboxes and backplanes all name: a connection's
//! [`SessionId`] and why a push to it failed ([`SendError`]). Kept apart so that none of those
//! modules imports another only for these.

use std::sync::atomic::{AtomicU64, Ordering};

/// A unique id for one connection, also across the nodes of a cluster: the upper 20 bits are a
/// random tag chosen once per process ([`SessionId::node`]), the lower 33 bits count the
/// process's connections from a random start. Every id is below 2^53, so it survives
/// JavaScript's numbers. Two nodes share ids only if they drew the same tag (odds around one
/// in a million per pair) and their counters overlap, or after 2^33 connections to one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

impl SessionId {
    pub(crate) fn next() -> Self {
        static NEXT: std::sync::LazyLock<AtomicU64> =
            std::sync::LazyLock::new(|| AtomicU64::new(random_bits() >> 31));
        let count = NEXT.fetch_add(1, Ordering::Relaxed) & COUNTER;
        // 0 is never an id (some clients treat it as "none").
        let count = count.max(1);
        SessionId((u64::from(node_tag()) << 33) | count)
    }

    /// The tag of the process (node) the session is connected to.
    pub fn node(self) -> u32 {
        // The tag has 20 bits, so this never truncates.
        (self.0 >> 33) as u32
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The bits of a session id that count connections.
const COUNTER: u64 = (1 << 33) - 1;

/// 64 random bits: `RandomState` is seeded from the OS; the time and the pid make two draws in
/// one process differ anyway.
pub(crate) fn random_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// This process's node tag: 20 random bits (never 0), chosen once.
pub(crate) fn node_tag() -> u32 {
    static TAG: std::sync::LazyLock<u32> =
        std::sync::LazyLock::new(|| ((random_bits() & 0xF_FFFF) as u32).max(1));
    *TAG
}

impl From<u64> for SessionId {
    /// A session id received from elsewhere (a message, a URL), to address the hub with.
    fn from(id: u64) -> Self {
        SessionId(id)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a push to a connection was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection has ended.
    #[error("the connection is closed")]
    Closed,
    /// The connection's bounded outbound queue is full: the peer is not reading fast enough.
    /// The message was not queued; under the default slow-consumer policy the connection is
    /// also being closed (see [`crate::SlowConsumer`]).
    #[error("the connection's outbound queue is full")]
    QueueFull,
}

#[cfg(test)]
mod tests {
    //! A session id names its node: backplanes route sends by id with it.

    use super::*;

    #[test]
    fn an_id_carries_the_tag_of_the_process_that_made_it() {
        let ids: Vec<SessionId> = (0..1000).map(|_| SessionId::next()).collect();
        assert!(ids.iter().all(|id| id.node() == node_tag()));
        assert!(ids.iter().all(|id| id.get() < 1 << 53 && id.get() != 0));
        assert!(node_tag() > 0 && node_tag() < 1 << 20);
        // An id from elsewhere (a message, a URL) names the node in its upper 20 bits.
        let theirs = SessionId::from((0xabcde << 33) | 5);
        assert_eq!(theirs.node(), 0xabcde);
        assert_eq!(SessionId::from(5).node(), 0);
    }
}
