//! A connection's bounded outbound queue: any number of pushers (handlers, the hub, background
//! tasks), one reader (the connection's socket). It allocates nothing until the first push, so an
//! idle connection costs a few dozen bytes here instead of a channel's pre-allocated block, and
//! it carries the slow-consumer signal with the same wake-up.
//!
//! The socket asks whether anything is queued, and whether the queue overflowed, several times
//! per message it handles; both answers are mirrored in atomics, so that only a push and the pop
//! that takes it lock the queue. The socket's waker is kept in an `AtomicWaker`: it registers
//! it at each wait (no lock; no clone while it is the same waker), and a push, an overflow or
//! a graceful shutdown (see `stopping`) wakes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures_util::task::AtomicWaker;
use tokio_tungstenite::tungstenite::Message;

use crate::session::SendError;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Message>,
    /// The connection has ended: pushes fail with `Closed`.
    closed: bool,
}

/// The queue, shared by the connection's senders and its socket.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The queue's length, written under the lock after every change, read without it.
    queued: AtomicUsize,
    /// A push found the queue full under a policy that closes the connection (set under the
    /// lock, once).
    overflowed: AtomicBool,
    /// The socket's waker: woken when something is pushed, the queue overflows, or a graceful
    /// shutdown begins.
    waker: AtomicWaker,
    capacity: usize,
    /// Whether a full queue closes the connection (else the push just fails).
    close_when_full: bool,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, close_when_full: bool) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            queued: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
            close_when_full,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing runs user code under this lock, so a poisoned lock still holds a sound queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` for the socket, or says why not.
    pub(crate) fn push(&self, message: Message) -> Result<(), SendError> {
        let mut state = self.state();
        if state.closed {
            return Err(SendError::Closed);
        }
        if state.queue.len() >= self.capacity {
            if self.close_when_full && !self.overflowed.swap(true, Ordering::AcqRel) {
                drop(state);
                self.waker.wake();
            }
            return Err(SendError::QueueFull);
        }
        state.queue.push_back(message);
        self.queued.store(state.queue.len(), Ordering::Release);
        drop(state);
        self.waker.wake();
        Ok(())
    }

    /// The oldest queued message.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut state = self.state();
        let message = state.queue.pop_front();
        self.queued.store(state.queue.len(), Ordering::Release);
        message
    }

    /// Whether nothing is queued, without taking the lock (a push that races with this is
    /// seen by the next call, after the wake-up it sends).
    pub(crate) fn is_empty(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0
    }

    /// Whether a push overflowed the queue under a closing policy (without taking the lock).
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Refuses pushes from now on (they fail with `Closed`) but keeps what was queued, for the
    /// socket to write before its close frame: a push accepted with `Ok` is written, and one
    /// that could not be is refused instead of acknowledged and then dropped.
    pub(crate) fn seal(&self) {
        self.state().closed = true;
    }

    /// Ends the queue: later pushes fail with `Closed`; what was queued is dropped.
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.queue = VecDeque::new();
        self.queued.store(0, Ordering::Release);
    }

    /// Registers the waker of the socket's wait. Level-triggered: the socket registers, then
    /// looks at the queue, so a push that came just before the registration is not missed.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Wakes the socket's wait, if one is registered (a graceful shutdown does this).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pushes_are_bounded_ordered_and_refused_after_close() {
        let outbox = Outbox::new(2, false);
        assert!(outbox.is_empty());
        assert_eq!(outbox.push(Message::text("a")), Ok(()));
        assert_eq!(outbox.push(Message::text("b")), Ok(()));
        assert_eq!(outbox.push(Message::text("c")), Err(SendError::QueueFull));
        assert!(!outbox.overflowed(), "the reject policy does not close");
        assert_eq!(outbox.pop(), Some(Message::text("a")));
        assert_eq!(outbox.push(Message::text("d")), Ok(()));
        assert_eq!(outbox.pop(), Some(Message::text("b")));
        assert_eq!(outbox.pop(), Some(Message::text("d")));
        assert_eq!(outbox.pop(), None);
        outbox.close();
        assert!(outbox.is_closed());
        assert_eq!(outbox.push(Message::text("e")), Err(SendError::Closed));
    }

    /// A waker that counts its wake-ups in `count`.
    pub(crate) fn counting_waker(count: &Arc<AtomicUsize>) -> std::task::Waker {
        struct Counting(Arc<AtomicUsize>);
        impl std::task::Wake for Counting {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        std::task::Waker::from(Arc::new(Counting(Arc::clone(count))))
    }

    #[test]
    fn a_push_and_an_overflow_under_a_closing_policy_wake_the_socket() {
        let woken = Arc::new(AtomicUsize::new(0));
        let outbox = Outbox::new(1, true);
        outbox.register(&counting_waker(&woken));
        assert_eq!(outbox.push(Message::text("a")), Ok(()));
        assert_eq!(woken.load(Ordering::SeqCst), 1, "the push wakes the socket");
        // A wake-up takes the waker: the socket registers again before it next waits.
        outbox.register(&counting_waker(&woken));
        assert_eq!(outbox.push(Message::text("b")), Err(SendError::QueueFull));
        assert_eq!(
            woken.load(Ordering::SeqCst),
            2,
            "the overflow wakes the socket"
        );
        assert!(outbox.overflowed());
        outbox.register(&counting_waker(&woken));
        assert_eq!(outbox.push(Message::text("c")), Err(SendError::QueueFull));
        assert_eq!(woken.load(Ordering::SeqCst), 2, "an overflow wakes once");
    }
}
