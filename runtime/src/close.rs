//! Close conditions and the reasons a connection ends.

/// A spec's close condition: a fixed code and reason that a handler returns to end a connection,
/// and that the client receives back as the same typed value.
///
/// Generated close enums implement it; the codes are checked against RFC 6455 section 7.4 when
/// the spec is validated, so [`CloseCondition::code`] never returns a reserved code.
pub trait CloseCondition: Sized + Send + Sync + std::fmt::Debug + 'static {
    /// The close code sent in the close frame.
    fn code(&self) -> u16;
    /// The close reason sent in the close frame (at most 123 bytes of UTF-8).
    fn reason(&self) -> &'static str;
    /// The condition a received close code stands for, if it is one of the endpoint's.
    fn from_code(code: u16) -> Option<Self>;
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
