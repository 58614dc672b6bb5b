//! Close conditions and the reasons a connection ends.

/// A spec's close condition: a fixed code and reason that a handler returns to end a connection,
/// and that the client receives back as the same typed value.
///
/// Generated close enums implement it; the codes are checked against RFC 6455 section 7.4 when
/// the spec is validated, so [`CloseCondition::code`] never returns a reserved code.
pub trait CloseCondition: Sized + Send + Sync + std::fmt::Debug + 'static {
    /// The close code sent in the close frame.
    fn code(&self) -> u16;
    /// The close reason sent in the close frame (cut to 123 bytes of UTF-8, at a character
    /// boundary, when sent).
    fn reason(&self) -> &str;
    /// The condition a received close frame stands for, if its code is one of the endpoint's;
    /// a condition whose reason the handler gives takes `reason`.
    fn from_close(code: u16, reason: &str) -> Option<Self>;
}

/// The close conditions of an endpoint that declares none. It has no values, so a handler of
/// such an endpoint ends normally or by a socket error, and its client never sees a typed close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoClose {}

impl CloseCondition for NoClose {
    fn code(&self) -> u16 {
        match *self {}
    }

    fn reason(&self) -> &str {
        match *self {}
    }

    fn from_close(_code: u16, _reason: &str) -> Option<Self> {
        None
    }
}

/// Why a connection ended, as passed to `on_disconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// The client sent a close frame.
    ClientClosed {
        /// The client's close code, if it sent one.
        code: Option<u16>,
        /// The client's close reason (empty if none).
        reason: String,
    },
    /// The server closed the connection: a handler returned a close condition, a message could
    /// not be decoded, or a handler panicked.
    ServerClosed {
        /// The code the server sent.
        code: u16,
        /// The reason the server sent.
        reason: String,
    },
    /// The connection broke without a close handshake (reset, protocol error, I/O error).
    Lost {
        /// What the transport reported.
        detail: String,
    },
}
