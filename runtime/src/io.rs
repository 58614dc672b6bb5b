//! The byte stream under a served WebSocket: the standalone server's own TCP stream, the
//! standalone server's TLS stream over it (feature `tls`), or any other (hyper's upgraded
//! connection under axum or tower), boxed; and the bytes read from it ahead of the WebSocket
//! layer.
//!
//! An enum rather than a trait object throughout, so that the standalone server's reads and
//! writes stay direct calls on its `TcpStream`.
//!
//! # Reading ahead
//!
//! Once the handshake is done ([`Io::read_ahead`]), every read from the stream goes into a
//! buffer of our own, never zero-filled, and the WebSocket layer takes what it needs from there:
//! whole frames it decodes itself ([`Io::buffered`], [`Io::consume`]), everything else handed on
//! to tungstenite through `AsyncRead` (tungstenite zero-fills the part of its own buffer it reads
//! into before every read; that buffer is kept small, see `Limits::websocket_config`).
//!
//! A read asks for [`Limits::read_buffer`](crate::Limits::read_buffer) bytes, twice as many after
//! every read that fills the buffer, up to [`MAX_READ_AHEAD`] (or the read buffer, if larger),
//! and half as many (down to the read buffer) after a read that used less than a quarter of it.
//!
//! Once the stream has nothing more for now (a read came back short, or would wait) and every
//! byte has been taken, the buffer is freed: an idle connection holds none of it. Freed means
//! kept as its thread's spare (one per thread, at most [`MAX_READ_AHEAD`] bytes), which the
//! next connection of that thread to read with a buffer of that size takes instead of
//! allocating: a thread whose connections each send one message at a time reuses one buffer,
//! still in cache, instead of allocating and freeing one per message. The standalone server's
//! TCP stream takes a buffer only once the stream has data; a TLS or boxed stream, which cannot
//! say so, takes it before the read and gives it back if the read would wait.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most a connection reads from its stream at once, unless `Limits::read_buffer` is larger.
pub(crate) const MAX_READ_AHEAD: usize = 64 * 1024;

/// What a boxed stream must offer.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

/// A served connection's stream.
enum Stream {
    /// The standalone server's connection.
    Tcp(TcpStream),
    /// The standalone server's connection under TLS (boxed: a rustls connection is large, and
    /// an `Io` lives in every connection's task).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Anything else: hyper's upgraded connection.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Boxed(Box<dyn Transport>),
}

/// A served connection's stream, and what was read from it and not yet handed on.
pub(crate) struct Io {
    stream: Stream,
    ahead: ReadAhead,
    /// Bytes written to the stream so far: whether the peer took anything since a write began
    /// to wait (the socket's write timeout).
    written: u64,
}

/// Bytes read from the stream ahead of the reader.
#[derive(Debug, Default)]
struct ReadAhead {
    /// Read and not yet taken: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// How much the next read from the stream asks for; 0 while reads go straight into the
    /// reader's buffer (before [`Io::read_ahead`], and after the end of the stream).
    size: usize,
    /// The smallest size.
    first: usize,
    /// The largest size.
    max: usize,
    /// The last read from the stream came back short: it had no more for now.
    drained: bool,
}

thread_local! {
    /// The read-ahead buffer a connection of this thread gave back last, emptied: the next one
    /// that reads ahead with a buffer of that size takes it instead of allocating one.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer of `size` bytes' capacity: this thread's spare if it has that size, else a
/// new one (the spare stays for another size).
fn buffer(size: usize) -> Vec<u8> {
    let spare = SPARE.try_with(Cell::take).unwrap_or_default();
    if spare.capacity() == size {
        return spare;
    }
    let _ = SPARE.try_with(|slot| slot.set(spare));
    Vec::with_capacity(size)
}

/// Keeps `buf` as this thread's spare (freeing the one before); one larger than
/// [`MAX_READ_AHEAD`] is freed instead, so that a thread keeps at most that much.
fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_READ_AHEAD {
        return;
    }
    buf.clear();
    let _ = SPARE.try_with(|slot| slot.set(buf));
}

impl ReadAhead {
    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Hands on as much as `out` takes.
    fn hand_on(&mut self, out: &mut ReadBuf<'_>) {
        let available = self.buf.get(self.pos..).unwrap_or_default();
        let n = available.len().min(out.remaining());
        out.put_slice(&available[..n]);
        self.consume(n);
    }

    /// Drops the first `n` bytes not yet taken; frees the buffer once it is empty and the stream
    /// had no more (or nothing is read ahead: then it held only what `Io::unread` put there).
    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
            if self.drained || self.size == 0 {
                self.free();
            }
        }
    }

    /// Frees the buffer, as this thread's spare if it is a read-ahead's (reading ahead goes on,
    /// into a new one).
    fn free(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if self.size > 0 {
            give_back(buf);
        }
        self.pos = 0;
        self.drained = false;
    }

    /// Frees the buffer for good: the stream has ended, and reads go straight to it.
    fn release(&mut self) {
        self.free();
        self.size = 0;
    }
}

impl Io {
    /// The standalone server's connection.
    pub(crate) fn tcp(stream: TcpStream) -> Self {
        Io::new(Stream::Tcp(stream))
    }

    /// The standalone server's connection under TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(stream: Box<tokio_rustls::server::TlsStream<TcpStream>>) -> Self {
        Io::new(Stream::Tls(stream))
    }

    /// Any other stream (hyper's upgraded connection).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn boxed(stream: Box<dyn Transport>) -> Self {
        Io::new(Stream::Boxed(stream))
    }

    fn new(stream: Stream) -> Self {
        Io {
            stream,
            ahead: ReadAhead::default(),
            written: 0,
        }
    }

    /// Bytes written to the stream so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Counts what a write wrote.
    fn count(&mut self, polled: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = polled {
            self.written = self.written.wrapping_add(*n as u64);
        }
    }

    /// Reads ahead from now on (see the module's documentation), `first` bytes at a time to
    /// begin with; 0 never does. Until this is called every read goes straight into the
    /// reader's buffer (the request head is read that way).
    pub(crate) fn read_ahead(&mut self, first: usize) {
        self.ahead.first = first;
        self.ahead.size = first;
        self.ahead.max = first.max(MAX_READ_AHEAD);
    }

    /// Whether reads go through the read-ahead buffer: after [`Io::read_ahead`] with a size
    /// above 0, until the end of the stream.
    pub(crate) fn reads_ahead(&self) -> bool {
        self.ahead.size > 0
    }

    /// What was read from the stream and not yet taken.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.ahead.buf.get(self.ahead.pos..).unwrap_or_default()
    }

    /// Takes the first `n` bytes of [`Io::buffered`].
    pub(crate) fn consume(&mut self, n: usize) {
        self.ahead.consume(n);
    }

    /// Reads from the stream if nothing is buffered and reads go ahead; ready with nothing
    /// buffered at the end of the stream. Cancel safe: what a read brings stays buffered.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ahead.is_empty() && self.ahead.size > 0 && ready!(self.fill(cx))? == 0 {
            self.ahead.release();
        }
        Poll::Ready(Ok(()))
    }

    /// Puts `bytes` (what the client sent after its handshake request, already read) in front
    /// of whatever is read from now on: in a buffer of the read-ahead's size (this thread's
    /// spare, if it has one that size), or, without reading ahead, in their own, freed once
    /// taken.
    pub(crate) fn unread(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let mut buf = if self.ahead.size > 0 {
            let mut buf = buffer(self.ahead.size.max(bytes.len()));
            buf.extend_from_slice(&bytes);
            buf
        } else {
            bytes
        };
        // Nothing is buffered this early; were it, it was read after `bytes`.
        buf.extend_from_slice(self.buffered());
        let before = std::mem::replace(&mut self.ahead.buf, buf);
        self.ahead.pos = 0;
        give_back(before);
    }

    /// Reads from the stream into the read-ahead buffer, without zero-filling it.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let ahead = &mut self.ahead;
        ahead.buf.clear();
        ahead.pos = 0;
        if ahead.buf.capacity() < ahead.size {
            // A connection waiting for its client allocates nothing until there is data.
            if let Stream::Tcp(stream) = &self.stream {
                ready!(stream.poll_read_ready(cx))?;
            }
            // Nothing to keep: another buffer rather than a reallocation that copies.
            give_back(std::mem::replace(&mut ahead.buf, buffer(ahead.size)));
        }
        let asked = ahead.buf.capacity();
        let read = std::pin::pin!(self.stream.read_buf(&mut ahead.buf));
        match read.poll(cx) {
            Poll::Pending => {
                // The connection is quiet: it keeps no buffer while it waits.
                ahead.free();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => {
                if n == asked {
                    ahead.size = ahead.size.saturating_mul(2).min(ahead.max);
                } else {
                    ahead.drained = true;
                    if n < asked / 4 {
                        ahead.size = (ahead.size / 2).max(ahead.first);
                    }
                }
                Poll::Ready(Ok(n))
            }
        }
    }
}

/// Cancel safety: a read either hands bytes on or keeps them for the next one; none is lost
/// when a read is dropped while pending.
impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.ahead.is_empty() {
            if this.ahead.size == 0 {
                return Pin::new(&mut this.stream).poll_read(cx, out);
            }
            if ready!(this.fill(cx))? == 0 {
                // The end of the stream.
                this.ahead.release();
                return Poll::Ready(Ok(()));
            }
        }
        this.ahead.hand_on(out);
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Boxed(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Boxed(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Stream::Boxed(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => stream.is_write_vectored(),
            Stream::Boxed(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Boxed(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Boxed(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// Writes go straight to the stream.
impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = self.get_mut();
        let polled = Pin::new(&mut io.stream).poll_write(cx, buf);
        io.count(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let io = self.get_mut();
        let polled = Pin::new(&mut io.stream).poll_write_vectored(cx, bufs);
        io.count(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads bytes `from..to` of the test pattern through `io` in reads of at most `chunk`,
    /// checking every byte.
    async fn read_all(io: &mut Io, from: usize, to: usize, chunk: usize) {
        let (mut got, total) = (from, to);
        let mut out = vec![0u8; chunk];
        while got < total {
            let want = chunk.min(total - got);
            let n = io.read(&mut out[..want]).await.expect("read");
            assert!(n > 0, "the stream ended after {got} of {total} bytes");
            for (i, byte) in out[..n].iter().enumerate() {
                assert_eq!(*byte, ((got + i) % 251) as u8, "byte {}", got + i);
            }
            got += n;
        }
        assert_eq!(got, total);
    }

    /// Reads with nothing sent: the read waits, and meanwhile the connection keeps no buffer.
    async fn goes_quiet(io: &mut Io) {
        let mut out = [0u8; 16];
        let read = tokio::time::timeout(std::time::Duration::from_millis(20), io.read(&mut out));
        assert!(read.await.is_err(), "nothing was sent");
        assert_eq!(
            io.ahead.buf.capacity(),
            0,
            "a quiet connection keeps no buffer"
        );
    }

    #[tokio::test]
    async fn reads_ahead_while_data_waits_and_frees_the_buffer_when_quiet() {
        let (mut peer, stream) = tokio::io::duplex(256 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(8 * 1024);
        let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
        peer.write_all(&data).await.expect("write");
        read_all(&mut io, 0, 100_000, 1024).await;
        // Every read from the stream came back full: the read-ahead grew to its largest.
        assert_eq!(io.ahead.size, MAX_READ_AHEAD);
        read_all(&mut io, 100_000, data.len(), 1024).await;
        // Nothing more is waiting: the next read finds that out and frees the buffer.
        goes_quiet(&mut io).await;
        assert!(io.reads_ahead(), "reading ahead goes on");
        // A small message is read ahead too, into a buffer freed once it is taken.
        peer.write_all(&data[..20]).await.expect("write");
        read_all(&mut io, 0, 20, 1024).await;
        assert_eq!(io.ahead.buf.capacity(), 0);
        assert!(
            io.ahead.size < MAX_READ_AHEAD,
            "a read that used less than a quarter halves the next one"
        );
        // Small reads shrink it down to the first size, never below.
        for _ in 0..8 {
            peer.write_all(&data[..20]).await.expect("write");
            read_all(&mut io, 0, 20, 1024).await;
        }
        assert_eq!(io.ahead.size, 8 * 1024);
        // The end of the stream is the end, with or without reading ahead.
        peer.write_all(&data[..5000]).await.expect("write");
        drop(peer);
        read_all(&mut io, 0, 5000, 1024).await;
        assert_eq!(io.read(&mut [0u8; 16]).await.expect("read"), 0);
        assert!(
            !io.reads_ahead(),
            "after the end, reads go straight to the stream"
        );
    }

    #[tokio::test]
    async fn what_is_buffered_can_be_taken_in_place_and_the_rest_is_read_after_it() {
        let (mut peer, stream) = tokio::io::duplex(64 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(8 * 1024);
        // What followed the handshake request comes first.
        io.unread((0..10).map(|i| (i % 251) as u8).collect());
        assert_eq!(io.buffered().len(), 10);
        let data: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
        peer.write_all(&data[10..]).await.expect("write");
        // Nothing is read while something is buffered.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(io.poll_fill(&mut cx).is_ready());
        assert_eq!(io.buffered(), &data[..10]);
        io.consume(4);
        read_all(&mut io, 4, 10, 1024).await;
        // Once it is all taken, a fill reads the rest into the buffer, where it can be taken.
        std::future::poll_fn(|cx| io.poll_fill(cx))
            .await
            .expect("fill");
        assert_eq!(io.buffered(), &data[10..]);
        io.consume(1000);
        read_all(&mut io, 1010, data.len(), 512).await;
        assert!(io.buffered().is_empty());
        // At the end of the stream a fill is ready with nothing buffered.
        drop(peer);
        std::future::poll_fn(|cx| io.poll_fill(cx))
            .await
            .expect("fill");
        assert!(io.buffered().is_empty());
        assert!(!io.reads_ahead());
    }

    /// The capacity of this thread's spare read-ahead buffer.
    fn spare() -> usize {
        SPARE.with(|slot| {
            let spare = slot.take();
            let capacity = spare.capacity();
            slot.set(spare);
            capacity
        })
    }

    #[test]
    fn a_buffer_given_back_serves_the_next_read_ahead_of_its_size_on_this_thread() {
        let mut given = Vec::with_capacity(8 * 1024);
        given.extend_from_slice(b"stale");
        let at = given.as_ptr();
        give_back(given);
        assert_eq!(spare(), 8 * 1024);
        // Another size gets a new buffer and leaves the spare where it is.
        let other = buffer(16 * 1024);
        assert_eq!(other.capacity(), 16 * 1024);
        assert_ne!(other.as_ptr(), at);
        assert_eq!(spare(), 8 * 1024);
        let same = buffer(8 * 1024);
        assert_eq!(same.as_ptr(), at, "the spare is reused");
        assert!(same.is_empty(), "and handed out empty");
        assert_eq!(spare(), 0, "and is gone from the slot");
        // Giving back replaces the spare; one larger than a read-ahead ever is not kept.
        give_back(other);
        assert_eq!(spare(), 16 * 1024);
        give_back(Vec::with_capacity(MAX_READ_AHEAD + 1));
        assert_eq!(spare(), 16 * 1024);
        give_back(Vec::new());
        assert_eq!(spare(), 16 * 1024);
    }

    #[tokio::test]
    async fn a_quiet_connection_gives_its_buffer_to_the_next_one_that_reads_ahead() {
        let data: Vec<u8> = (0..20_000).map(|i| (i % 251) as u8).collect();
        let mut ends = Vec::new();
        for _ in 0..2 {
            let (peer, stream) = tokio::io::duplex(64 * 1024);
            let mut io = Io::boxed(Box::new(stream));
            io.read_ahead(8 * 1024);
            ends.push((peer, io));
        }
        let [(mut peer_a, mut a), (mut peer_b, mut b)] = <[_; 2]>::try_from(ends)
            .map_err(|_| "two")
            .expect("two connections");
        // A reads ahead, then goes quiet.
        peer_a.write_all(&data[..3000]).await.expect("write");
        read_all(&mut a, 0, 3000, 1024).await;
        goes_quiet(&mut a).await;
        let size = spare();
        assert!(
            size >= 8 * 1024,
            "its buffer is this thread's spare ({size})"
        );
        // B reads ahead with a buffer of that size: it takes the spare, allocating nothing.
        peer_b.write_all(&data[..1024]).await.expect("write");
        read_all(&mut b, 0, 1024, 1024).await;
        peer_b.write_all(&data[1024..]).await.expect("write");
        read_all(&mut b, 1024, 1024 + 512, 512).await;
        assert_eq!(b.ahead.buf.capacity(), size);
        assert_eq!(spare(), 0, "B took the spare");
        read_all(&mut b, 1024 + 512, data.len(), 1024).await;
    }

    /// A stream that counts the reads that brought data.
    struct Counting {
        inner: tokio::io::DuplexStream,
        reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl AsyncRead for Counting {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            if buf.filled().len() > before {
                self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Counting {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn a_message_larger_than_the_readers_buffer_takes_one_read() {
        let (mut peer, stream) = tokio::io::duplex(64 * 1024);
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut io = Io::boxed(Box::new(Counting {
            inner: stream,
            reads: std::sync::Arc::clone(&reads),
        }));
        io.read_ahead(8 * 1024);
        // A 1 KiB text message with its 8-byte header, read by a 1 KiB reader.
        let data: Vec<u8> = (0..1032).map(|i| (i % 251) as u8).collect();
        for _ in 0..10 {
            let before = reads.load(std::sync::atomic::Ordering::SeqCst);
            // One message at a time, as a client waiting for each reply sends them.
            peer.write_all(&data).await.expect("write");
            read_all(&mut io, 0, data.len(), 1024).await;
            let mut out = [0u8; 1];
            let quiet =
                tokio::time::timeout(std::time::Duration::from_millis(5), io.read(&mut out)).await;
            assert!(quiet.is_err(), "nothing more was sent");
            assert_eq!(
                io.ahead.buf.capacity(),
                0,
                "no buffer is kept between messages"
            );
            assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst) - before, 1);
        }
    }

    #[tokio::test]
    async fn what_was_read_with_the_handshake_is_freed_once_taken_and_keeps_the_spare() {
        let (_peer, stream) = tokio::io::duplex(64 * 1024);
        let data: Vec<u8> = (0..4000).map(|i| (i % 251) as u8).collect();
        // Without reading ahead: the leftover's own buffer, freed once taken.
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(0);
        io.unread(data.clone());
        read_all(&mut io, 0, data.len(), 1024).await;
        goes_quiet(&mut io).await;
        // Reading ahead: a buffer of the read-ahead's size, the thread's spare, given back.
        give_back(Vec::with_capacity(8 * 1024));
        let (_peer, stream) = tokio::io::duplex(64 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        io.read_ahead(8 * 1024);
        io.unread(data[..100].to_vec());
        assert_eq!(io.ahead.buf.capacity(), 8 * 1024);
        assert_eq!(spare(), 0, "the spare holds the leftover");
        read_all(&mut io, 0, 100, 1024).await;
        goes_quiet(&mut io).await;
        assert_eq!(spare(), 8 * 1024, "and is the spare again");
    }

    #[tokio::test]
    async fn without_read_ahead_every_read_goes_to_the_reader() {
        let (mut peer, stream) = tokio::io::duplex(64 * 1024);
        let mut io = Io::boxed(Box::new(stream));
        let data: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
        peer.write_all(&data).await.expect("write");
        read_all(&mut io, 0, data.len(), 1000).await;
        assert_eq!(io.ahead.buf.capacity(), 0);
        assert_eq!(io.ahead.size, 0);
    }
}
