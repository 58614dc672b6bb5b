//! The WebSocket protocol over a server connection's [`Io`]: tungstenite's `WebSocketContext`
//! driven with the polling task's own context, as a `Stream` of messages and a `Sink` for them.
//!
//! tokio-tungstenite's `WebSocketStream` does the same job for any stream, and the client still
//! uses it. On the server's per-message path it costs work that one task driving one
//! connection does not need: its `AllowStd` keeps a waker proxy per direction, registers the
//! task's waker in it on every poll (an atomic exchange, and a clone when the waker differs
//! from the last one), and reaches the socket through a second `Context` built on the proxy.
//! Here the task's context is lent to the socket for the length of one call ([`Bridge`]),
//! so a poll registers nothing unless the socket has to wait, and then registers the task's
//! waker with tokio directly. The protocol itself (framing, masking, UTF-8, limits, pings and
//! the close handshake) stays tungstenite's, but for one case: a whole, final, masked text or
//! binary frame within the limits, waiting in the connection's read-ahead buffer between
//! messages, is decoded here ([`crate::frame`]), without tungstenite's copy and zero-fill.
//! Every other frame reaches tungstenite byte for byte, never a byte past its end.
//!
//! The `Stream` and `Sink` behave as `WebSocketStream`'s do: the stream ends after the close
//! handshake or a fatal error has been returned once; `start_send` buffers and reports a
//! write that would block as accepted, leaving `poll_ready` to flush it; `poll_close` drives
//! the close handshake's write to completion.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, WebSocketContext,
};
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::frame::{self, Boundary};
use crate::io::Io;

/// One server connection after its handshake: the protocol state and the transport.
pub(crate) struct WebSocket {
    context: WebSocketContext,
    io: Io,
    /// A close or a fatal error has been returned: the stream yields nothing more.
    ended: bool,
    /// A close frame has been queued and its write would have blocked.
    closing: bool,
    /// The write buffer probably takes another frame: `false` once a write would have blocked,
    /// until a flush has gone through.
    ready: bool,
    /// Where the bytes handed to tungstenite stand: whether the next frame may be decoded here.
    boundary: Boundary,
    /// The longest payload decoded here: [`frame::LARGEST_DECODED`], or less if the frame or
    /// message limit is (longer ones go to tungstenite, which refuses those over a limit).
    max_len: u64,
}

/// The transport as tungstenite's blocking `Read` and `Write`, for the length of one call: a
/// poll that is not ready becomes `WouldBlock`, with the task's waker registered by the poll.
struct Bridge<'a, 'b> {
    io: &'a mut Io,
    cx: &'a mut Context<'b>,
    boundary: &'a mut Boundary,
}

fn would_block<T>(poll: Poll<io::Result<T>>) -> io::Result<T> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// While the transport reads ahead, a read hands on no byte past the end of the frame header or
/// payload tungstenite is reading, and the boundary follows every byte.
impl Read for Bridge<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Without reading ahead nothing is decoded here (see `WebSocket::poll_decoded`): no
        // boundary to keep, and reads as large as tungstenite asks.
        let kept = self.io.reads_ahead();
        let room = if kept {
            self.boundary.room(self.io.buffered()).min(buf.len())
        } else {
            buf.len()
        };
        let mut buf = ReadBuf::new(&mut buf[..room]);
        would_block(Pin::new(&mut *self.io).poll_read(self.cx, &mut buf))?;
        if kept {
            self.boundary.pass(buf.filled());
        }
        Ok(buf.filled().len())
    }
}

impl Write for Bridge<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        would_block(Pin::new(&mut *self.io).poll_write(self.cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        would_block(Pin::new(&mut *self.io).poll_flush(self.cx))
    }
}

/// A tungstenite result as a poll: `WouldBlock` is `Pending` (the waker was registered).
fn pending_on_block<T>(result: Result<T, Error>) -> Poll<Result<T, Error>> {
    match result {
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

impl WebSocket {
    /// The connection after the server's handshake; `leftover` is what the client sent after
    /// its request, already read.
    pub(crate) fn server(mut io: Io, leftover: Vec<u8>, config: WebSocketConfig) -> Self {
        let limit = |limit: Option<usize>| limit.map_or(u64::MAX, |n| n as u64);
        let max_len = limit(config.max_frame_size)
            .min(limit(config.max_message_size))
            .min(frame::LARGEST_DECODED);
        // In front of the stream, so that tungstenite's buffer starts empty.
        io.unread(leftover);
        WebSocket {
            context: WebSocketContext::new(Role::Server, Some(config)),
            io,
            ended: false,
            closing: false,
            ready: true,
            boundary: Boundary::default(),
            max_len,
        }
    }

    /// Runs one tungstenite call with the task's context lent to the transport.
    fn with<T>(
        &mut self,
        cx: &mut Context<'_>,
        call: impl FnOnce(&mut WebSocketContext, &mut Bridge<'_, '_>) -> T,
    ) -> T {
        let mut bridge = Bridge {
            io: &mut self.io,
            cx,
            boundary: &mut self.boundary,
        };
        call(&mut self.context, &mut bridge)
    }

    /// Writes the pong tungstenite owes for a ping handed to it, as its own read would before
    /// reading on: `Some` error if the write failed (the read fails with it, as tungstenite's
    /// would); a write that would block is tried again on every read until it goes through (as
    /// tungstenite does), while reading goes on.
    fn flush_owed_pong(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        if !self.boundary.pong_owed {
            return None;
        }
        // The flush takes the pong from tungstenite, which then no longer retries it itself.
        match self.with(cx, |ws, io| ws.flush(io)) {
            Ok(()) => {
                self.boundary.pong_owed = false;
                None
            }
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(e),
        }
    }

    /// The next message decoded here (see [`crate::frame`]), reading from the transport if
    /// nothing is buffered; `None` leaves the next frame to tungstenite. Only between messages,
    /// and only while the transport reads ahead (tungstenite's reads are kept to frame
    /// boundaries only then).
    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if !self.io.reads_ahead() || !self.boundary.between_messages() {
            return Poll::Ready(None);
        }
        if let Err(e) = std::task::ready!(self.io.poll_fill(cx)) {
            return Poll::Ready(Some(Err(Error::Io(e))));
        }
        Poll::Ready(
            frame::decode(self.io.buffered(), self.max_len).map(|(message, len)| {
                self.io.consume(len);
                Ok(message)
            }),
        )
    }

    /// Bytes written to the transport so far.
    pub(crate) fn written(&self) -> u64 {
        self.io.written()
    }

    /// The transport, to shut it down at the end.
    pub(crate) fn get_mut(&mut self) -> &mut Io {
        &mut self.io
    }

    /// Sends a close frame and flushes it.
    pub(crate) async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        futures_util::SinkExt::send(self, Message::Close(frame)).await
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let decoded = if let Some(e) = self.flush_owed_pong(cx) {
            Err(e)
        } else {
            match std::task::ready!(self.poll_decoded(cx)) {
                Some(decoded) => decoded,
                None => std::task::ready!(pending_on_block(self.with(cx, |ws, io| ws.read(io)))),
            }
        };
        match decoded {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(e) => {
                self.ended = true;
                if matches!(e, Error::AlreadyClosed | Error::ConnectionClosed) {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }
}

impl Sink<Message> for WebSocket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.ready {
            return Poll::Ready(Ok(()));
        }
        // A write blocked: flush the blockage away first.
        let flushed = std::task::ready!(pending_on_block(self.with(cx, |ws, io| ws.flush(io))));
        self.ready = true;
        Poll::Ready(flushed)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        if matches!(item, Message::Close(_)) {
            self.boundary.close_begun = true;
        }
        // No task context here: a write that would block leaves its bytes buffered and
        // `poll_ready` (which has a context) to flush them before the next frame.
        let mut cx = Context::from_waker(Waker::noop());
        match self.with(&mut cx, |ws, io| ws.write(io, item)) {
            Ok(()) => {
                self.ready = true;
                Ok(())
            }
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                // The frame was taken; the buffer has to drain before the next one.
                self.ready = false;
                Ok(())
            }
            Err(e) => {
                self.ready = true;
                Err(e)
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let flushed = std::task::ready!(pending_on_block(self.with(cx, |ws, io| ws.flush(io))));
        self.ready = true;
        match flushed {
            // The close handshake has just completed: flushed, not an error.
            Err(Error::ConnectionClosed) => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.ready = true;
        self.boundary.close_begun = true;
        let closing = self.closing;
        let result = self.with(cx, |ws, io| {
            if closing {
                // The close frame is queued: drive its write to completion.
                ws.flush(io)
            } else {
                ws.close(io, None)
            }
        });
        match result {
            Ok(()) | Err(Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.closing = true;
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::WebSocketStream;

    /// A served connection over an in-memory pipe of `capacity` bytes each way, and a client
    /// (tokio-tungstenite's) on the other end.
    async fn pair(capacity: usize) -> (WebSocket, WebSocketStream<tokio::io::DuplexStream>) {
        let (server, client) = tokio::io::duplex(capacity);
        let config = WebSocketConfig::default().write_buffer_size(0);
        let server = WebSocket::server(Io::boxed(Box::new(server)), Vec::new(), config);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        (server, client)
    }

    #[tokio::test]
    async fn a_frame_that_arrives_in_pieces_is_read_once_it_is_whole() {
        let (server_io, mut client) = tokio::io::duplex(1024);
        let mut server = WebSocket::server(
            Io::boxed(Box::new(server_io)),
            Vec::new(),
            WebSocketConfig::default(),
        );
        // A masked text frame "hello" (mask 1,2,3,4), written in two pieces.
        let mut frame = vec![0x81, 0x85, 1, 2, 3, 4];
        frame.extend(
            b"hello"
                .iter()
                .zip([1u8, 2, 3, 4].iter().cycle())
                .map(|(b, m)| b ^ m),
        );
        client.write_all(&frame[..4]).await.unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut server).poll_next(&mut cx).is_pending());
        client.write_all(&frame[4..]).await.unwrap();
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), server.next())
            .await
            .expect("the second piece wakes the reader");
        assert_eq!(message.unwrap().unwrap(), Message::text("hello"));
    }

    #[tokio::test]
    async fn a_write_that_would_block_is_finished_by_poll_ready_when_the_peer_reads() {
        // 1 KiB pipes and no write buffer: a frame goes to the pipe as it is fed, and a 4 KiB
        // one fills it while the client is not reading, so `start_send` (which has no task
        // context) leaves the rest for `poll_ready`.
        let (mut server, mut client) = pair(1024).await;
        let big = "x".repeat(4096);
        let feed = async {
            for _ in 0..3 {
                // Each feed after the first waits in `poll_ready` for the write the one before
                // left blocked: the task's waker must be registered there, or this hangs.
                server.feed(Message::text(big.clone())).await?;
            }
            server.flush().await
        };
        let read = async {
            let mut received = Vec::new();
            for _ in 0..3 {
                received.push(client.next().await.unwrap().unwrap());
            }
            received
        };
        let (fed, received) = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(feed, read)
        })
        .await
        .expect("the blocked writes are finished once the client reads");
        fed.unwrap();
        assert_eq!(received, vec![Message::text(big.clone()); 3]);
    }

    #[tokio::test]
    async fn the_close_handshake_ends_the_stream() {
        let (mut server, mut client) = pair(1024).await;
        client.send(Message::text("last")).await.unwrap();
        client.close(None).await.unwrap();
        assert_eq!(server.next().await.unwrap().unwrap(), Message::text("last"));
        assert!(matches!(server.next().await, Some(Ok(Message::Close(_)))));
        // tungstenite queued the echo of the close: flushing it completes the handshake.
        server.flush().await.unwrap();
        assert!(server.next().await.is_none());
        assert!(server.next().await.is_none(), "the stream stays ended");
        assert!(matches!(
            client.next().await,
            Some(Ok(Message::Close(_))) | None
        ));
    }

    /// One frame a client might send, or a run of them.
    #[derive(Debug, Clone)]
    enum Sent {
        /// A final frame: `first` is FIN, the reserved bits and the opcode.
        Frame {
            first: u8,
            payload: Vec<u8>,
            masked: bool,
        },
        /// A fragmented message (text or binary) in `pieces`, with a ping after the first.
        Fragmented { text: bool, pieces: Vec<Vec<u8>> },
    }

    /// Appends a client frame, masked if `masked`.
    fn encode(first: u8, payload: &[u8], masked: bool, out: &mut Vec<u8>) {
        let mask = masked.then_some([0x5a, 0x01, 0xc3, 0x7e]);
        out.extend(crate::frame::tests::frame(first, payload, mask));
    }

    impl Sent {
        fn bytes(&self, out: &mut Vec<u8>) {
            match self {
                Sent::Frame {
                    first,
                    payload,
                    masked,
                } => encode(*first, payload, *masked, out),
                Sent::Fragmented { text, pieces } => {
                    let last = pieces.len().saturating_sub(1);
                    for (i, piece) in pieces.iter().enumerate() {
                        let opcode = match (i, text) {
                            (0, true) => 0x1,
                            (0, false) => 0x2,
                            _ => 0x0,
                        };
                        let fin = if i == last { 0x80 } else { 0 };
                        encode(fin | opcode, piece, true, out);
                        if i == 0 {
                            encode(0x89, b"mid", true, out);
                        }
                    }
                }
            }
        }
    }

    fn payload() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(b'a'..=b'z', 0..130),
            (2040usize..2060).prop_map(|n| vec![b'q'; n]),
            (0usize..5000).prop_map(|n| "\u{e9}x".repeat(n / 3).into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    fn sent() -> impl proptest::strategy::Strategy<Value = Sent> {
        use proptest::prelude::*;
        let masked = prop_oneof![60 => Just(true), 1 => Just(false)];
        // Mostly what a client sends; now and then something tungstenite refuses.
        let first = prop_oneof![
            30 => Just(0x81u8),
            30 => Just(0x82u8),
            10 => Just(0x89u8),
            6 => Just(0x8au8),
            1 => Just(0x88u8),
            1 => Just(0xc1u8),
            1 => Just(0x80u8),
            1 => Just(0x01u8),
            1 => Just(0x83u8),
        ];
        prop_oneof![
            8 => (first, payload(), masked).prop_map(|(first, payload, masked)| {
                // A control frame carries at most 125 bytes.
                let payload = if first & 0x08 != 0 { payload.into_iter().take(125).collect() } else { payload };
                Sent::Frame { first, payload, masked }
            }),
            2 => (any::<bool>(), proptest::collection::vec(payload(), 1..4))
                .prop_map(|(text, pieces)| Sent::Fragmented { text, pieces }),
        ]
    }

    /// What a server connection makes of `bytes` (the first `leftover` of them already read
    /// with the handshake, the rest arriving in `pieces`): every message or error it yields,
    /// and everything it writes back. `ahead` reads ahead (and so decodes frames itself).
    async fn served(
        bytes: &[u8],
        leftover: usize,
        pieces: &[usize],
        ahead: bool,
    ) -> (Vec<String>, Vec<u8>) {
        let (peer, stream) = tokio::io::duplex(1 << 20);
        let mut io = Io::boxed(Box::new(stream));
        if ahead {
            io.read_ahead(8 * 1024);
        }
        // tungstenite's read buffer as small as the server's (`Limits::websocket_config`).
        let config = WebSocketConfig::default()
            .read_buffer_size(1024)
            .max_frame_size(Some(4000))
            .max_message_size(Some(6000));
        let leftover = leftover.min(bytes.len());
        let mut server = WebSocket::server(io, bytes[..leftover].to_vec(), config);
        let rest = bytes[leftover..].to_vec();
        let pieces = pieces.to_vec();
        let (mut peer_read, mut peer_write) = tokio::io::split(peer);
        let writer = async move {
            let mut at = 0;
            for piece in pieces.iter().cycle() {
                if at >= rest.len() {
                    break;
                }
                let end = (at + piece.max(&1)).min(rest.len());
                if peer_write.write_all(&rest[at..end]).await.is_err() {
                    // The server stopped reading (after an error) and is gone.
                    return peer_write;
                }
                at = end;
                tokio::task::yield_now().await;
            }
            let _ = peer_write.shutdown().await;
            peer_write
        };
        let reader = async {
            let mut seen = Vec::new();
            while let Some(item) = server.next().await {
                match item {
                    Ok(message) => seen.push(format!("{message:?}")),
                    Err(e) => {
                        seen.push(format!("error: {e}"));
                        break;
                    }
                }
            }
            let _ = server.flush().await;
            drop(server);
            seen
        };
        let (_writer, seen) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(writer, reader)
        })
        .await
        .expect("the connection neither hangs nor stops reading");
        let mut written = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            tokio::io::AsyncReadExt::read_to_end(&mut peer_read, &mut written),
        )
        .await;
        (seen, written)
    }

    #[tokio::test]
    async fn the_pong_a_ping_is_owed_goes_out_before_the_next_frame_is_decoded_here() {
        let (mut peer, stream) = tokio::io::duplex(64 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(8 * 1024);
        let mut server = WebSocket::server(io, Vec::new(), WebSocketConfig::default());
        let mut bytes = Vec::new();
        encode(0x89, b"are you there", true, &mut bytes);
        encode(0x81, b"after the ping", true, &mut bytes);
        peer.write_all(&bytes).await.expect("write");
        assert_eq!(
            server.next().await.expect("a message").expect("the ping"),
            Message::Ping(b"are you there".to_vec().into())
        );
        assert_eq!(
            server.next().await.expect("a message").expect("the text"),
            Message::text("after the ping")
        );
        // Nothing was flushed by hand: reading on wrote the pong, as tungstenite's read does.
        let mut pong = [0u8; 15];
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_exact(&mut peer, &mut pong),
        )
        .await
        .expect("the pong was written")
        .expect("read");
        assert_eq!(&pong[..2], &[0x8a, 13]);
        assert_eq!(&pong[2..], b"are you there");
    }

    #[tokio::test]
    async fn frames_handed_to_tungstenite_come_out_before_frames_read_after_them() {
        let (mut peer, stream) = tokio::io::duplex(64 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(8 * 1024);
        let config = WebSocketConfig::default().read_buffer_size(1024);
        let mut server = WebSocket::server(io, Vec::new(), config);
        // A ping (tungstenite's to read) with two small texts behind it, all in one read.
        let mut bytes = Vec::new();
        encode(0x89, b"", true, &mut bytes);
        encode(0x81, b"a", true, &mut bytes);
        encode(0x81, b"b", true, &mut bytes);
        peer.write_all(&bytes).await.expect("write");
        assert!(matches!(server.next().await, Some(Ok(Message::Ping(_)))));
        // Read after tungstenite's read: it must not overtake what tungstenite was given.
        let mut later = Vec::new();
        encode(0x81, b"c", true, &mut later);
        peer.write_all(&later).await.expect("write");
        let mut texts = Vec::new();
        for _ in 0..3 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), server.next());
            match next.await.expect("every text arrives") {
                Some(Ok(Message::Text(text))) => texts.push(text.to_string()),
                other => panic!("expected a text, got {other:?}"),
            }
        }
        assert_eq!(texts, ["a", "b", "c"]);
    }

    /// A transport whose reads work and whose every write fails.
    struct WritesFail(tokio::io::DuplexStream);

    impl AsyncRead for WritesFail {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for WritesFail {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_pong_whose_write_fails_fails_the_next_read_as_with_tungstenite_alone() {
        async fn run(ahead: bool) -> Vec<String> {
            let (mut peer, stream) = tokio::io::duplex(64 * 1024);
            let mut io = Io::boxed(Box::new(WritesFail(stream)));
            if ahead {
                io.read_ahead(8 * 1024);
            }
            let mut server = WebSocket::server(io, Vec::new(), WebSocketConfig::default());
            let mut bytes = Vec::new();
            encode(0x89, b"ping", true, &mut bytes);
            encode(0x81, b"after", true, &mut bytes);
            peer.write_all(&bytes).await.expect("write");
            let mut seen = Vec::new();
            for _ in 0..3 {
                let next =
                    tokio::time::timeout(std::time::Duration::from_millis(300), server.next());
                match next.await {
                    Ok(Some(Ok(m))) => seen.push(format!("{m:?}")),
                    Ok(Some(Err(e))) => {
                        seen.push(format!("error: {e}"));
                        break;
                    }
                    Ok(None) => {
                        seen.push("end".into());
                        break;
                    }
                    Err(_) => {
                        seen.push("waits".into());
                        break;
                    }
                }
            }
            seen
        }
        let alone = run(false).await;
        assert_eq!(
            alone.last().map(String::as_str),
            Some("error: IO error: broken pipe")
        );
        assert_eq!(run(true).await, alone);
    }

    #[tokio::test]
    async fn a_blocked_pong_goes_out_once_the_peer_reads_even_during_a_fragmented_message() {
        async fn run(ahead: bool) -> Vec<u8> {
            let (stream, mut peer) = tokio::io::duplex(64);
            let mut io = Io::boxed(Box::new(stream));
            if ahead {
                io.read_ahead(8 * 1024);
            }
            let config = WebSocketConfig::default().write_buffer_size(0);
            let mut server = WebSocket::server(io, Vec::new(), config);
            // Blocks: the pipe takes 64 bytes and nobody reads yet.
            Pin::new(&mut server)
                .start_send(Message::binary(vec![0u8; 1000]))
                .expect("accepted");
            let mut bytes = Vec::new();
            encode(0x89, b"ping", true, &mut bytes);
            encode(0x01, b"frag", true, &mut bytes);
            peer.write_all(&bytes).await.expect("write");
            let ping = tokio::time::timeout(std::time::Duration::from_secs(1), server.next()).await;
            assert!(matches!(ping, Ok(Some(Ok(Message::Ping(_))))), "{ping:?}");
            // The server keeps reading (a fragmented message is open) while the peer drains.
            let read = async {
                let next =
                    tokio::time::timeout(std::time::Duration::from_millis(500), server.next());
                let _ = next.await;
            };
            let drain = async {
                let mut got = Vec::new();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    tokio::io::AsyncReadExt::read_to_end(&mut peer, &mut got),
                )
                .await;
                got
            };
            let ((), got) = tokio::join!(read, drain);
            got
        }
        let alone = run(false).await;
        assert_eq!(alone.len(), 4 + 1000 + 6, "the message and the pong");
        assert_eq!(run(true).await, alone);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 300, ..Default::default() })]

        /// Frames decoded without tungstenite give what tungstenite alone gives, whatever the
        /// frames and however they arrive: the same messages, the same error, the same pongs
        /// and close replies written back.
        #[test]
        fn decoding_frames_here_changes_nothing_tungstenite_would_do(
            frames in proptest::collection::vec(sent(), 1..40),
            leftover in 0usize..40,
            pieces in proptest::collection::vec(
                proptest::prop_oneof![4 => 1usize..64, 4 => 64usize..600, 1 => 600usize..5000],
                1..8,
            ),
        ) {
            let mut bytes = Vec::new();
            for frame in &frames {
                frame.bytes(&mut bytes);
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let here = runtime.block_on(served(&bytes, leftover, &pieces, true));
            let tungstenite = runtime.block_on(served(&bytes, leftover, &pieces, false));
            proptest::prop_assert_eq!(here, tungstenite);
        }
    }
}
