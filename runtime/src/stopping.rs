//! The graceful-shutdown signal: a server begins a shutdown once ([`Trigger::begin`]), and
//! every one of its connections sees it ([`Shutdown`]).
//!
//! A connection spends most of its life waiting for its client, and it waits once per message.
//! So that such a wait registers nothing shared (no lock per message, however many
//! connections and cores), a connection enrols its outbox's waker here once, for its whole
//! life ([`Shutdown::enrol`]), and the trigger wakes every enrolled outbox when the shutdown
//! begins. The waits that need the shutdown's deadlines (a write that has to wait, a close
//! handshake, a handler busy in a callback) are rare, and use a `watch` channel as before.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::outbox::Outbox;

/// A graceful shutdown in progress, as every connection task sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopping {
    /// Until when a handler busy in a callback (not waiting on its socket) may go on before
    /// its run is stopped and the connection closed with 1001.
    pub grace_until: Instant,
    /// When writes and close handshakes are cut off, so that every connection has ended
    /// before the server's shutdown timeout.
    pub close_by: Instant,
}

/// What a trigger and its connections share.
#[derive(Debug)]
struct Shared {
    /// The deadlines, once a shutdown has begun.
    deadlines: watch::Sender<Option<Stopping>>,
    /// A shutdown has begun, or the server is gone (its trigger dropped).
    begun: AtomicBool,
    /// The outboxes of the connections that are open, by enrolment.
    enrolled: Mutex<Enrolled>,
}

#[derive(Debug, Default)]
struct Enrolled {
    next: u64,
    outboxes: HashMap<u64, Weak<Outbox>>,
}

impl Shared {
    fn enrolled(&self) -> MutexGuard<'_, Enrolled> {
        // Nothing runs user code under this lock, so a poisoned lock still holds a sound map.
        self.enrolled.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the shutdown begun, then wakes every enrolled connection. A connection that
    /// enrols after this sees `begun` at its first wait.
    fn wake_all(&self) {
        self.begun.store(true, Ordering::SeqCst);
        let outboxes: Vec<Arc<Outbox>> = self
            .enrolled()
            .outboxes
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for outbox in outboxes {
            outbox.wake();
        }
    }
}

/// The server's side of the signal. Dropping it (the server is gone without a graceful
/// shutdown) counts as a shutdown without deadlines: waiting connections close with 1001.
#[derive(Debug)]
pub(crate) struct Trigger {
    shared: Arc<Shared>,
}

impl Trigger {
    /// A trigger and the signal its connections watch.
    pub(crate) fn new() -> (Trigger, Shutdown) {
        let shared = Arc::new(Shared {
            deadlines: watch::Sender::new(None),
            begun: AtomicBool::new(false),
            enrolled: Mutex::default(),
        });
        let shutdown = Shutdown {
            shared: Arc::clone(&shared),
        };
        (Trigger { shared }, shutdown)
    }

    /// Begins the graceful shutdown: every connection sees it, now or at its next wait.
    pub(crate) fn begin(&self, stopping: Stopping) {
        // `begun` before the deadlines: a task the channel wakes must find it set (see
        // `Shutdown::when`).
        self.shared.begun.store(true, Ordering::SeqCst);
        self.shared.deadlines.send_replace(Some(stopping));
        self.shared.wake_all();
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.shared.wake_all();
    }
}

/// The signal of a graceful shutdown, as connections see it.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    shared: Arc<Shared>,
}

impl Shutdown {
    /// Whether a shutdown has begun (or the server is gone). One atomic load: the socket asks
    /// at every wait.
    pub(crate) fn begun(&self) -> bool {
        self.shared.begun.load(Ordering::SeqCst)
    }

    /// The shutdown's deadlines, once one has begun.
    pub(crate) fn stopping(&self) -> Option<Stopping> {
        *self.shared.deadlines.borrow()
    }

    /// Resolves at the instant `pick` chooses once a graceful shutdown has begun; never before
    /// (nor when the server is gone without one: nothing cuts the connection off then).
    ///
    /// The connection task polls this at every wake-up (it races the handler's run against
    /// the grace period), so after its first poll it looks at the deadlines' channel again
    /// only once the shutdown has begun (one atomic load) or it is polled with another waker.
    /// A poll of the channel's waiting future takes the lock its waiters share, which every
    /// connection of the server would otherwise take once per message. Nothing is missed:
    /// the waiting future stays registered with the last waker, and `begun` is set before the
    /// channel wakes it.
    pub(crate) async fn when(&self, pick: fn(Stopping) -> Instant) {
        // Unconstrained: a poll that finds the task's cooperative budget spent (the handler
        // raced against this used it up) would return `Pending` without registering with the
        // channel, and the polls after it are skipped.
        let mut deadline = std::pin::pin!(tokio::task::unconstrained(self.deadline(pick)));
        let mut polled_with: Option<Waker> = None;
        std::future::poll_fn(|cx| {
            let same_waker = polled_with
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()));
            if same_waker && !self.begun() {
                return Poll::Pending;
            }
            if !same_waker {
                polled_with = Some(cx.waker().clone());
            }
            deadline.as_mut().poll(cx)
        })
        .await
    }

    /// [`Shutdown::when`]'s wait, polled whenever it is.
    async fn deadline(&self, pick: fn(Stopping) -> Instant) {
        let mut deadlines = self.shared.deadlines.subscribe();
        let at = match deadlines.wait_for(Option::is_some).await {
            Ok(stopping) => (*stopping).map(pick),
            Err(_) => None,
        };
        drop(deadlines);
        match at {
            // Boxed: only a shutdown needs the timer, and this future waits in every connection.
            Some(at) => Box::pin(tokio::time::sleep_until(at)).await,
            None => std::future::pending().await,
        }
    }

    /// Enrols a connection's outbox: the trigger wakes it when the shutdown begins, until the
    /// returned enrolment is dropped.
    pub(crate) fn enrol(&self, outbox: &Arc<Outbox>) -> Enrolment {
        let mut enrolled = self.shared.enrolled();
        let key = enrolled.next;
        enrolled.next += 1;
        enrolled.outboxes.insert(key, Arc::downgrade(outbox));
        drop(enrolled);
        Enrolment {
            shutdown: self.clone(),
            key,
        }
    }
}

/// A connection's place among those the trigger wakes; dropping it leaves.
#[derive(Debug)]
pub(crate) struct Enrolment {
    shutdown: Shutdown,
    key: u64,
}

/// An enrolled connection reads the signal through its enrolment.
impl std::ops::Deref for Enrolment {
    type Target = Shutdown;

    fn deref(&self) -> &Shutdown {
        &self.shutdown
    }
}

impl Drop for Enrolment {
    fn drop(&mut self) {
        let mut enrolled = self.shutdown.shared.enrolled();
        let outboxes = &mut enrolled.outboxes;
        outboxes.remove(&self.key);
        // After a peak of connections, give most of the map back.
        if outboxes.capacity() > 1024 && outboxes.len() < outboxes.capacity() / 4 {
            outboxes.shrink_to(outboxes.len() * 2);
        }
    }
}

#[cfg(all(test, feature = "axum"))]
impl Shutdown {
    /// How many outboxes are enrolled: the connections that are open.
    pub(crate) fn enrolled_count(&self) -> usize {
        self.shared.enrolled().outboxes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stopping() -> Stopping {
        let now = Instant::now();
        Stopping {
            grace_until: now + Duration::from_secs(1),
            close_by: now + Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn beginning_wakes_every_enrolled_outbox_and_is_seen_by_later_ones() {
        let (trigger, shutdown) = Trigger::new();
        let outboxes: Vec<Arc<Outbox>> = (0..3).map(|_| Arc::new(Outbox::new(4, true))).collect();
        let enrolments: Vec<Enrolment> = outboxes.iter().map(|o| shutdown.enrol(o)).collect();
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for outbox in &outboxes {
            outbox.register(&crate::outbox::tests::counting_waker(&woken));
        }
        assert!(!shutdown.begun());
        assert_eq!(shutdown.stopping(), None);
        trigger.begin(stopping());
        assert_eq!(
            woken.load(Ordering::SeqCst),
            3,
            "every enrolled outbox is woken"
        );
        assert!(shutdown.begun());
        assert!(shutdown.stopping().is_some());
        // One enrolled after the shutdown began sees it at its first wait.
        let late = Arc::new(Outbox::new(4, true));
        let _late = shutdown.enrol(&late);
        assert!(enrolments[0].begun());
        drop(enrolments);
        assert_eq!(
            shutdown.shared.enrolled().outboxes.len(),
            1,
            "a drop leaves"
        );
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_begun_without_deadlines() {
        let (trigger, shutdown) = Trigger::new();
        let outbox = Arc::new(Outbox::new(4, true));
        let _enrolment = shutdown.enrol(&outbox);
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        outbox.register(&crate::outbox::tests::counting_waker(&woken));
        drop(trigger);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(shutdown.begun());
        assert_eq!(shutdown.stopping(), None);
        let deadline =
            tokio::time::timeout(Duration::from_millis(50), shutdown.when(|s| s.close_by));
        assert!(
            deadline.await.is_err(),
            "no deadline without a graceful shutdown"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn when_resolves_at_the_picked_deadline() {
        let (trigger, shutdown) = Trigger::new();
        let waiting = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.when(|s| s.grace_until).await }
        });
        tokio::task::yield_now().await;
        let stopping = stopping();
        trigger.begin(stopping);
        waiting.await.expect("the wait ends");
        assert!(Instant::now() >= stopping.grace_until);
        assert!(Instant::now() < stopping.close_by);
    }

    /// The first poll of `when` can find the task's cooperative budget spent (the handler it
    /// is raced against used it up): the channel's wait must register all the same, since
    /// the polls after it are skipped until the shutdown begins.
    #[tokio::test]
    async fn when_first_polled_with_the_coop_budget_spent_still_sees_the_shutdown() {
        let (trigger, shutdown) = Trigger::new();
        let waiting = tokio::spawn(async move {
            let mut when = std::pin::pin!(shutdown.when(|s| s.grace_until));
            std::future::poll_fn(|cx| {
                // Spend the budget (as 128 ready channel receives would), then poll `when`
                // for the first time in the same task poll.
                while std::pin::pin!(tokio::task::consume_budget())
                    .poll(cx)
                    .is_ready()
                {}
                assert!(when.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            when.await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Instant::now();
        trigger.begin(Stopping {
            grace_until: now,
            close_by: now,
        });
        let ended = tokio::time::timeout(Duration::from_secs(2), waiting).await;
        assert!(ended.is_ok(), "the shutdown never woke the waiting task");
    }

    #[tokio::test(start_paused = true)]
    async fn when_polled_again_with_another_waker_wakes_that_one() {
        let (trigger, shutdown) = Trigger::new();
        let mut when = Box::pin(shutdown.when(|s| s.grace_until));
        let first = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let second = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let first_waker = crate::outbox::tests::counting_waker(&first);
        let second_waker = crate::outbox::tests::counting_waker(&second);
        assert!(
            when.as_mut()
                .poll(&mut std::task::Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            when.as_mut()
                .poll(&mut std::task::Context::from_waker(&second_waker))
                .is_pending()
        );
        trigger.begin(stopping());
        assert_eq!(
            second.load(Ordering::SeqCst),
            1,
            "the waker of the last poll is woken"
        );
        // Woken, the future looks at the channel again and arms the grace timer.
        assert!(
            when.as_mut()
                .poll(&mut std::task::Context::from_waker(&second_waker))
                .is_pending()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            when.as_mut()
                .poll(&mut std::task::Context::from_waker(&second_waker))
                .is_ready()
        );
    }

    #[tokio::test]
    async fn when_is_woken_by_a_shutdown_after_many_quiet_polls() {
        let (trigger, shutdown) = Trigger::new();
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waker = crate::outbox::tests::counting_waker(&woken);
        let mut cx = std::task::Context::from_waker(&waker);
        let mut when = Box::pin(shutdown.when(|s| s.grace_until));
        for _ in 0..100 {
            assert!(when.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(woken.load(Ordering::SeqCst), 0);
        trigger.begin(Stopping {
            grace_until: Instant::now(),
            close_by: Instant::now(),
        });
        assert!(
            woken.load(Ordering::SeqCst) >= 1,
            "the shutdown wakes the waiting task"
        );
        // The grace period has already run out: the next poll (or the one after the timer's
        // wake-up) resolves.
        let resolved = tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| when.as_mut().poll(cx)),
        );
        assert!(resolved.await.is_ok());
    }
}
