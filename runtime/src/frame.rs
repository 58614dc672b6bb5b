//! The frames a served connection decodes itself, ahead of tungstenite.
//!
//! A whole frame at the front of the connection's read-ahead buffer that is final, masked, text
//! or binary, with no reserved bit set and within the limits, is a message on its own: its
//! payload is copied into the message's own buffer and unmasked there ([`decode`]), without
//! tungstenite's zero-fill before a read, its copy into its read buffer, or its per-frame
//! bookkeeping. Any other
//! frame (a control frame, a fragment, one not all read yet, one that breaks a rule, text that
//! is not UTF-8) goes to tungstenite byte for byte, and tungstenite decides and reports as it
//! always does.
//!
//! That split holds only at a frame boundary where tungstenite holds no part of a message:
//! [`Boundary`] follows the bytes handed to tungstenite, hands it no byte past the end of the
//! frame it is reading (so its buffer is empty between frames), and knows whether a fragmented
//! message is open, a ping's pong is owed, or the close handshake has begun.

use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

const FIN: u8 = 0x80;
const RESERVED: u8 = 0x70;
const OPCODE: u8 = 0x0F;
const MASKED: u8 = 0x80;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// The longest payload decoded here. Small frames are where tungstenite's per-frame work (the
/// zero-fill before its read, the copy into its buffer, its bookkeeping) weighs most; a larger
/// one goes to tungstenite, whose buffer holds it as the stream brought it. (Copies of more
/// than about 2 KiB are `rep movsb` in glibc, which on some x86 processors runs many times
/// slower when the destination lies a few bytes past the source modulo 64: where a large
/// payload sits decides the speed of its copy into the outgoing frame, so large payloads keep
/// the placement tungstenite gives them. See docs/design.md.)
pub(crate) const LARGEST_DECODED: u64 = 2 * 1024;

/// The longest frame header: two bytes, an eight-byte length and a mask.
const LONGEST_HEADER: usize = 14;

/// How many bytes the header whose second byte is `second` takes.
fn header_size(second: u8) -> usize {
    let length = match second & !MASKED {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & MASKED != 0 { 4 } else { 0 };
    2 + length + mask
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// FIN, the reserved bits and the opcode.
    first: u8,
    /// The payload's length.
    len: u64,
    mask: Option<[u8; 4]>,
    /// The header's own length.
    size: usize,
}

impl Header {
    /// The header at the front of `bytes`, if it is all there.
    fn parse(bytes: &[u8]) -> Option<Header> {
        let (&first, &second) = (bytes.first()?, bytes.get(1)?);
        let size = header_size(second);
        let rest = bytes.get(2..size)?;
        let (len, at) = match second & !MASKED {
            126 => (
                u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
                2,
            ),
            127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
            n => (u64::from(n), 0),
        };
        let mask = match rest.get(at..) {
            Some(&[a, b, c, d]) => Some([a, b, c, d]),
            _ => None,
        };
        Some(Header {
            first,
            len,
            mask,
            size,
        })
    }

    fn opcode(&self) -> u8 {
        self.first & OPCODE
    }

    fn fin(&self) -> bool {
        self.first & FIN != 0
    }
}

/// The message of the whole, simple frame at the front of `bytes` (see the module's
/// documentation), with the frame's length; `None` leaves the frame to tungstenite. `max_len`
/// is the largest payload accepted (the smaller of the frame and message limits).
pub(crate) fn decode(bytes: &[u8], max_len: u64) -> Option<(Message, usize)> {
    let header = Header::parse(bytes)?;
    let mask = header.mask?;
    if header.first & (FIN | RESERVED) != FIN || header.len > max_len {
        return None;
    }
    let end = header.size.checked_add(usize::try_from(header.len).ok()?)?;
    let payload = bytes.get(header.size..end)?;
    let message = match header.opcode() {
        TEXT => Message::Text(Utf8Bytes::try_from(Bytes::from(unmask(payload, mask))).ok()?),
        BINARY => Message::Binary(Bytes::from(unmask(payload, mask))),
        _ => return None,
    };
    Some((message, end))
}

/// `payload` unmasked with `mask`, in a buffer of its own: copied, then unmasked eight bytes at
/// a time (two passes the compiler vectorizes, several times faster than one that pushes each
/// word).
fn unmask(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut out = payload.to_vec();
    let mut words = out.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // Every word is a multiple of four bytes long: the rest starts at the mask's first byte.
    for (byte, m) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= m;
    }
    out
}

/// Where the bytes handed to tungstenite stand in the frames they make up.
#[derive(Debug, Default)]
pub(crate) struct Boundary {
    /// The header of the frame being handed on, as far as it has been.
    head: [u8; LONGEST_HEADER],
    /// How much of it: 0 between frames, and once a header is complete.
    have: usize,
    /// The payload bytes of the frame being handed on still to come.
    left: u64,
    /// A text or binary frame without FIN was handed on, and no final continuation since: a
    /// fragmented message is open in tungstenite.
    fragmented: bool,
    /// A ping was handed on: tungstenite owes its pong, which it writes on its next read or
    /// flush.
    pub(crate) pong_owed: bool,
    /// A close was handed on or sent: the close handshake has begun, and tungstenite handles
    /// every frame from now on.
    pub(crate) close_begun: bool,
}

impl Boundary {
    /// Whether a frame starting at the next byte may be decoded without tungstenite: it starts
    /// a frame, tungstenite holds no part of a message, and no close has been handed on or sent.
    pub(crate) fn between_messages(&self) -> bool {
        self.have == 0 && self.left == 0 && !self.fragmented && !self.close_begun
    }

    /// The most bytes tungstenite may be handed next, `ahead` being what is buffered: the rest
    /// of the frame it is reading, or of the next one if its header is all buffered (then the
    /// frame reaches tungstenite as a read straight from the stream would bring it, header and
    /// payload together); else no more than the rest of the header.
    pub(crate) fn room(&self, ahead: &[u8]) -> usize {
        if self.have == 0
            && self.left == 0
            && let Some(header) = Header::parse(ahead)
        {
            let len = usize::try_from(header.len).unwrap_or(usize::MAX);
            return header.size.saturating_add(len);
        }
        self.part()
    }

    /// The rest of the header or payload being handed on.
    fn part(&self) -> usize {
        if self.left > 0 {
            usize::try_from(self.left).unwrap_or(usize::MAX)
        } else if self.have < 2 {
            2 - self.have
        } else {
            header_size(self.head[1]).saturating_sub(self.have)
        }
    }

    /// Follows `bytes`, handed to tungstenite.
    pub(crate) fn pass(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.part().min(bytes.len());
            if n == 0 {
                break;
            }
            if self.left > 0 {
                // `n` is no more than `left`.
                self.left -= n as u64;
            } else {
                self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                if let Some(header) = Header::parse(&self.head[..self.have]) {
                    self.have = 0;
                    self.left = header.len;
                    self.saw(header);
                }
            }
            bytes = &bytes[n..];
        }
    }

    /// Notes what a frame handed on does to the state of the connection.
    fn saw(&mut self, header: Header) {
        match header.opcode() {
            TEXT | BINARY => self.fragmented = !header.fin(),
            CONTINUATION if header.fin() => self.fragmented = false,
            CLOSE => self.close_begun = true,
            PING => self.pong_owed = true,
            _ => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A client frame: `first` (FIN, reserved bits, opcode), masked with `mask` if given.
    pub(crate) fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![first];
        let masked = if mask.is_some() { MASKED } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(masked | n as u8),
            n if n <= 0xFFFF => {
                out.push(masked | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(masked | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(mask) => {
                out.extend_from_slice(&mask);
                out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

    #[test]
    fn a_whole_final_masked_data_frame_is_decoded_at_every_length() {
        for len in [
            0usize, 1, 3, 4, 7, 8, 9, 15, 16, 17, 125, 126, 127, 1024, 65535, 65536,
        ] {
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let mut bytes = frame(FIN | TEXT, text.as_bytes(), MASK);
            let size = bytes.len();
            bytes.extend_from_slice(b"\x81\x80next");
            let (message, taken) = decode(&bytes, u64::MAX).expect("decoded");
            assert_eq!(message, Message::text(text.clone()), "length {len}");
            assert_eq!(taken, size, "length {len}");
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let (message, _) =
                decode(&frame(FIN | BINARY, &data, MASK), u64::MAX).expect("decoded");
            assert_eq!(message, Message::binary(data), "length {len}");
        }
    }

    #[test]
    fn every_other_frame_is_left_to_tungstenite() {
        let whole = frame(FIN | TEXT, b"hello", MASK);
        for cut in 0..whole.len() {
            assert_eq!(decode(&whole[..cut], u64::MAX), None, "cut at {cut}");
        }
        let left = [
            ("unmasked", frame(FIN | TEXT, b"hello", None)),
            ("not final", frame(TEXT, b"hello", MASK)),
            ("continuation", frame(FIN | CONTINUATION, b"hello", MASK)),
            ("ping", frame(FIN | PING, b"hello", MASK)),
            ("close", frame(FIN | CLOSE, b"\x03\xe8", MASK)),
            ("reserved opcode", frame(FIN | 0x3, b"hello", MASK)),
            ("rsv1", frame(FIN | 0x40 | TEXT, b"hello", MASK)),
            ("rsv3", frame(FIN | 0x10 | BINARY, b"hello", MASK)),
            ("not UTF-8", frame(FIN | TEXT, b"\xff\xfe", MASK)),
            ("a surrogate", frame(FIN | TEXT, b"\xed\xa0\x80", MASK)),
        ];
        for (what, bytes) in left {
            assert_eq!(decode(&bytes, u64::MAX), None, "{what}");
        }
        // Over the limit by one byte, and at it.
        let bytes = frame(FIN | BINARY, &[1; 100], MASK);
        assert_eq!(decode(&bytes, 99), None);
        assert!(decode(&bytes, 100).is_some());
        // A length no buffer holds.
        let mut huge = vec![FIN | BINARY, MASKED | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(decode(&huge, u64::MAX), None);
    }

    /// Hands `bytes` on the way the connection does: in pieces of at most `piece` bytes and
    /// never past [`Boundary::room`]; returns where each frame ended.
    fn hand_on(boundary: &mut Boundary, bytes: &[u8], piece: usize) -> Vec<usize> {
        let (mut at, mut ends) = (0, Vec::new());
        while at < bytes.len() {
            let n = boundary.room(&bytes[at..]).min(piece).min(bytes.len() - at);
            assert!(n > 0);
            boundary.pass(&bytes[at..at + n]);
            at += n;
            if boundary.have == 0 && boundary.left == 0 {
                ends.push(at);
            }
        }
        ends
    }

    #[test]
    fn the_boundary_follows_frames_of_every_header_shape_handed_on_in_any_pieces() {
        let frames = [
            frame(FIN | TEXT, b"", MASK),
            frame(FIN | TEXT, &[b'a'; 125], MASK),
            frame(FIN | BINARY, &[7; 126], MASK),
            frame(FIN | BINARY, &[7; 70_000], MASK),
            frame(FIN | PING, b"p", None),
            frame(FIN | BINARY, &[9; 300], None),
        ];
        let stream: Vec<u8> = frames.concat();
        let mut expected = Vec::new();
        let mut end = 0;
        for f in &frames {
            end += f.len();
            expected.push(end);
        }
        for piece in [1, 2, 3, 5, 13, 14, 1000, usize::MAX] {
            let mut boundary = Boundary::default();
            assert_eq!(
                hand_on(&mut boundary, &stream, piece),
                expected,
                "pieces of {piece}"
            );
            assert!(boundary.pong_owed);
            assert!(boundary.between_messages());
        }
    }

    #[test]
    fn a_fragmented_message_a_ping_and_a_close_are_followed() {
        let mut boundary = Boundary::default();
        assert!(boundary.between_messages());
        boundary.pass(&frame(TEXT, b"frag", MASK));
        assert!(!boundary.between_messages(), "a fragmented message is open");
        boundary.pass(&frame(FIN | PING, b"", MASK));
        assert!(boundary.pong_owed);
        boundary.pass(&frame(CONTINUATION, b"ment", MASK));
        assert!(!boundary.between_messages(), "still open");
        boundary.pass(&frame(FIN | CONTINUATION, b"ed", MASK));
        assert!(
            boundary.between_messages(),
            "the final continuation closes it"
        );
        // Half a header: not between frames.
        boundary.pass(&[FIN | TEXT]);
        assert!(!boundary.between_messages());
        assert_eq!(boundary.room(&[]), 1);
        boundary.pass(&[MASKED | 5]);
        assert_eq!(boundary.room(&[]), 4, "the mask");
        boundary.pass(&[1, 2, 3, 4]);
        assert_eq!(boundary.room(&[]), 5, "the payload");
        boundary.pass(&[0; 5]);
        assert!(boundary.between_messages());
        boundary.pass(&frame(FIN | CLOSE, b"", MASK));
        assert!(
            !boundary.between_messages(),
            "after a close, tungstenite has every frame"
        );
    }
}
