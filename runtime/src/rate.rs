//! A per-connection limit on how fast a client may send messages: a token bucket that refills
//! at `per_second` up to `burst`, one token per data message. Memory per client is bounded by
//! the other limits; this bounds the handler work one client can cause.

use tokio::time::Instant;

/// How fast one connection may send data messages (pings and pongs do not count): `burst` at
/// once, then `per_second` on average. What happens to a message over the rate is
/// [`MessageRate::exceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRate {
    /// The average rate allowed, in messages per second (at least 1).
    pub per_second: u32,
    /// How many messages may arrive at once after a quiet period (at least 1).
    pub burst: u32,
    /// What happens to a message over the rate.
    pub exceeded: RateExceeded,
}

/// What happens to a message that arrives over a connection's [`MessageRate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateExceeded {
    /// Close the connection with 1008 (policy violation).
    #[default]
    Close,
    /// Drop the message before it reaches the handler, and count it
    /// (`wsgen_messages_over_rate_total`); the connection stays.
    Drop,
}

impl MessageRate {
    /// `per_second` on average with bursts of `burst`, closing a connection that goes over
    /// (0 counts as 1 in both).
    pub const fn new(per_second: u32, burst: u32) -> Self {
        MessageRate {
            per_second: if per_second == 0 { 1 } else { per_second },
            burst: if burst == 0 { 1 } else { burst },
            exceeded: RateExceeded::Close,
        }
    }

    /// The same rate, with `exceeded` as what happens to a message over it.
    pub const fn on_exceeded(mut self, exceeded: RateExceeded) -> Self {
        self.exceeded = exceeded;
        self
    }
}

/// One connection's bucket: full at the start.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: MessageRate,
    /// Tokens left, in millionths of a message, so that refills need no floating point.
    tokens: u64,
    refilled: Instant,
}

/// A whole message in the bucket's units.
const ONE: u64 = 1_000_000;

impl Bucket {
    pub(crate) fn new(rate: MessageRate) -> Self {
        Bucket {
            rate,
            tokens: u64::from(rate.burst.max(1)) * ONE,
            refilled: Instant::now(),
        }
    }

    /// What happens to a message over the rate.
    pub(crate) fn exceeded(&self) -> RateExceeded {
        self.rate.exceeded
    }

    /// Takes a token for a message arriving `now`; `false` when the message is over the rate.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled);
        // Microseconds times messages per second is millionths of a message: exact, and far
        // from overflowing (u64 microseconds is 584,000 years; saturating anyway). Only the
        // whole microseconds counted move the clock on: the rest counts with the next message,
        // so that messages less than a microsecond apart still refill the bucket.
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.refilled = self
            .refilled
            .checked_add(std::time::Duration::from_micros(micros))
            .unwrap_or(now);
        let refill = micros.saturating_mul(u64::from(self.rate.per_second.max(1)));
        let full = u64::from(self.rate.burst.max(1)) * ONE;
        self.tokens = self.tokens.saturating_add(refill).min(full);
        if self.tokens >= ONE {
            self.tokens -= ONE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_refills_one_message_at_a_time() {
        let start = Instant::now();
        let mut bucket = Bucket::new(MessageRate::new(10, 3));
        bucket.refilled = start;
        assert!((0..3).all(|_| bucket.take(start)), "the burst");
        assert!(!bucket.take(start), "over the burst");
        // 10 per second: one message every 100 ms.
        assert!(!bucket.take(start + Duration::from_millis(99)));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
        // A long quiet period refills only up to the burst.
        let later = start + Duration::from_secs(3600);
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }

    #[test]
    fn messages_less_than_a_microsecond_apart_still_refill_the_bucket() {
        // 1,000 per second: in 2.7 ms of messages every 900 ns (a flood over the rate, most
        // dropped), the ones at 1 ms and 2 ms are within the rate. The fraction of a
        // microsecond between two messages was dropped each time, so none ever was.
        let start = Instant::now();
        let mut bucket = Bucket::new(MessageRate::new(1000, 1));
        bucket.refilled = start;
        assert!(bucket.take(start));
        let mut passed = 0;
        for i in 1..=3_000u64 {
            if bucket.take(start + Duration::from_nanos(i * 900)) {
                passed += 1;
            }
        }
        assert_eq!(passed, 2, "2.7 ms at 1,000 per second refill two messages");
    }

    #[test]
    fn extreme_rates_neither_overflow_nor_stall() {
        let start = Instant::now();
        let mut bucket = Bucket::new(MessageRate::new(u32::MAX, u32::MAX));
        bucket.refilled = start;
        assert!(bucket.take(start + Duration::from_secs(100 * 365 * 24 * 3600)));
        let mut zero = Bucket::new(MessageRate::new(0, 0));
        zero.refilled = start;
        assert!(zero.take(start), "0 counts as a burst of 1");
        assert!(!zero.take(start));
        assert!(zero.take(start + Duration::from_secs(1)), "and a rate of 1");
    }
}
