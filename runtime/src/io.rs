//! The byte stream under a served WebSocket: the standalone server's own TCP stream, the
//! standalone server's TLS stream over it (feature `tls`), or any other (hyper's upgraded
//! connection under axum or tower), boxed.
//!
//! An enum rather than a trait object throughout, so that the standalone server's reads and
//! writes stay direct calls on its `TcpStream`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a boxed stream must offer.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

/// A served connection's stream.
pub(crate) enum Io {
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

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Boxed(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Boxed(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Boxed(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Tcp(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => stream.is_write_vectored(),
            Io::Boxed(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => Pin::new(stream).poll_flush(cx),
            Io::Boxed(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Io::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Boxed(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
