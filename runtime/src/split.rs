//! A typed client split in two: a [`ClientReceiver`] for one task and a cloneable
//! [`ClientSender`] for any number of others, so that a program receives while it sends (a
//! chat client reading the keyboard, a bot on a timer).
//!
//! The halves talk to one task that owns the [`Client`]: it receives (answering pings, sending
//! the keepalive's), and between two receives it writes what the senders hand it, one message at
//! a time, so every rule of the whole client (timeouts, keepalive, close reporting, decoding)
//! holds for the halves unchanged. The task ends when the connection does, or when both halves
//! are gone (then it closes the connection normally first).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::PollSender;

use crate::client::{Client, ClientError};
use crate::close::CloseCondition;
use crate::message::WireMessage;

/// How many received messages wait for the receiver before the task stops reading (the
/// server's writes then wait on TCP), and how many messages wait for the task to write them.
const QUEUE: usize = 64;

/// What a sender asks of the connection's task.
enum Command<C: CloseCondition> {
    /// Write this message; answer when it is written (or why not) if asked.
    Send(Message, Option<oneshot::Sender<Result<(), ClientError<C>>>>),
    /// Close the connection normally (code 1000) and answer how it went.
    Close(oneshot::Sender<Result<(), ClientError<C>>>),
}

/// The receiving half of a split client: the server's messages, in order, then how the
/// connection ended.
///
/// It is a [`Stream`] of `Result<Rx, ClientError<C>>` that yields the connection's final error
/// (the server's close, or [`ClientError::Lost`]) and then ends; after a close asked for by the
/// sending half it just ends.
///
/// # Cancel safety
///
/// [`ClientReceiver::recv`] is cancel safe: a message that arrives while it is cancelled is
/// returned by the next call.
#[must_use = "dropping the receiver discards the server's messages"]
pub struct ClientReceiver<Rx, C: CloseCondition> {
    events: mpsc::Receiver<Result<Rx, ClientError<C>>>,
}

/// The sending half of a split client; clone it for every task that sends.
///
/// [`ClientSender::send`] returns once the message is written to the connection. As a
/// [`Sink`] it hands messages to the connection's task without waiting for the write: a failed
/// write then shows as the receiver's [`ClientError::Lost`] and later sends' errors.
#[must_use = "dropping every sender and the receiver closes the connection"]
pub struct ClientSender<Tx, C: CloseCondition> {
    commands: PollSender<Command<C>>,
    _message: std::marker::PhantomData<fn(Tx)>,
}

impl<Tx, C: CloseCondition> Clone for ClientSender<Tx, C> {
    fn clone(&self) -> Self {
        ClientSender {
            commands: self.commands.clone(),
            _message: std::marker::PhantomData,
        }
    }
}

impl<Rx, C: CloseCondition> std::fmt::Debug for ClientReceiver<Rx, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientReceiver").finish_non_exhaustive()
    }
}

impl<Tx, C: CloseCondition> std::fmt::Debug for ClientSender<Tx, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSender").finish_non_exhaustive()
    }
}

impl<Tx, Rx, C> Client<Tx, Rx, C>
where
    Tx: WireMessage,
    Rx: WireMessage + Send + 'static,
    C: CloseCondition + Send + 'static,
{
    /// Splits the client into a receiving half and a cloneable sending half, served by a task
    /// of their own (so this needs a tokio runtime). Dropping both halves closes the connection
    /// normally.
    pub fn split(self) -> (ClientReceiver<Rx, C>, ClientSender<Tx, C>) {
        let (events_tx, events) = mpsc::channel(QUEUE);
        let (commands_tx, commands) = mpsc::channel(QUEUE);
        tokio::spawn(drive(self, events_tx, commands));
        (
            ClientReceiver { events },
            ClientSender {
                commands: PollSender::new(commands_tx),
                _message: std::marker::PhantomData,
            },
        )
    }
}

/// The task behind the halves: receives into `events` and writes what `commands` ask, until the
/// connection ends or both halves are gone.
async fn drive<Tx, Rx, C>(
    mut client: Client<Tx, Rx, C>,
    events: mpsc::Sender<Result<Rx, ClientError<C>>>,
    mut commands: mpsc::Receiver<Command<C>>,
) where
    Tx: WireMessage,
    Rx: WireMessage,
    C: CloseCondition,
{
    let mut senders = true;
    // Room in the receiver's queue for the next message: reserved before reading, so a slow
    // receiver slows the server down (its writes wait on TCP) instead of growing memory. Once
    // the receiver is gone, reading goes on (discarding) to keep answering pings for senders.
    let mut room = None;
    loop {
        let receiver_gone = events.is_closed();
        // Unbiased: a sender that never pauses must not keep the server's messages (and its
        // pings) from being read, nor a server that never pauses keep the senders waiting.
        tokio::select! {
            command = commands.recv(), if senders => match command {
                Some(Command::Send(message, done)) => {
                    let written = client.write(message).await;
                    if let Some(done) = done {
                        let _ = done.send(written);
                    }
                }
                Some(Command::Close(done)) => {
                    let _ = done.send(client.close().await);
                    return;
                }
                None => senders = false,
            },
            () = events.closed(), if !senders => {
                // Nobody is left to send or receive: end the connection properly.
                let _ = client.close().await;
                return;
            }
            permit = events.reserve(), if room.is_none() && !receiver_gone => {
                room = permit.ok();
            }
            // Cancel safe: a command or a closing receiver may interrupt it without loss.
            received = client.recv(), if room.is_some() || receiver_gone => {
                let last = matches!(&received, Err(e) if e.ends_connection());
                if let Some(permit) = room.take() {
                    permit.send(received);
                }
                if last {
                    return;
                }
            }
        }
    }
}

impl<Rx, C: CloseCondition> ClientReceiver<Rx, C> {
    /// The next message, or how the connection ended; `None` once it has ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<Result<Rx, ClientError<C>>> {
        self.events.recv().await
    }
}

impl<Rx, C: CloseCondition> Stream for ClientReceiver<Rx, C> {
    type Item = Result<Rx, ClientError<C>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl<Tx: WireMessage, C: CloseCondition + Send + 'static> ClientSender<Tx, C> {
    /// Sends one message and waits until it is written to the connection (or why it was not:
    /// [`ClientError::Lost`] once the connection has ended).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cancelled, the message may or may not be written; never twice.
    pub async fn send(&self, message: Tx) -> Result<(), ClientError<C>> {
        let (done, written) = oneshot::channel();
        let sender = self.commands.get_ref().ok_or(ClientError::Lost)?;
        sender
            .send(Command::Send(message.encode(), Some(done)))
            .await
            .map_err(|_| ClientError::Lost)?;
        written.await.unwrap_or(Err(ClientError::Lost))
    }

    /// Closes the connection normally (code 1000) for both halves, and waits a bounded time
    /// for the server's answer; the receiver then ends.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as a request: cancelled after it was handed over, the close still happens.
    pub async fn close(&self) -> Result<(), ClientError<C>> {
        let (done, closed) = oneshot::channel();
        let sender = self.commands.get_ref().ok_or(ClientError::Lost)?;
        sender
            .send(Command::Close(done))
            .await
            .map_err(|_| ClientError::Lost)?;
        closed.await.unwrap_or(Err(ClientError::Lost))
    }
}

impl<Tx: WireMessage, C: CloseCondition + Send + 'static> Sink<Tx> for ClientSender<Tx, C> {
    type Error = ClientError<C>;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.commands
            .poll_reserve(cx)
            .map_err(|_| ClientError::Lost)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Tx) -> Result<(), Self::Error> {
        self.commands
            .send_item(Command::Send(message.encode(), None))
            .map_err(|_| ClientError::Lost)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Handed to the connection's task is as far as a sink's flush reaches.
        Poll::Ready(Ok(()))
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        // This sender stops; the connection closes when every half is gone.
        self.commands.close();
        Poll::Ready(Ok(()))
    }
}
