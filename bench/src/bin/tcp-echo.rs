//! The practical limit of the machine: after the upgrade, read client frames, unmask them and
//! write them back as server frames, with no protocol checks at all (no UTF-8, no limits, no
//! control frames). Whatever a real server does costs more than this.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    wsgen_bench::serve(handle).await
}

/// Serves one connection. Reads land in the spare capacity of one buffer (never zero-filled,
/// never copied), and the replies of everything a read brought go out in one write.
async fn handle(mut stream: tokio::net::TcpStream) {
    if wsgen_bench::upgrade(&mut stream).await.is_err() {
        return;
    }
    let mut input: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(64 * 1024);
    // Where the first unhandled byte of `input` is.
    let mut start = 0;
    loop {
        if input.capacity() - input.len() < 16 * 1024 {
            // Keep only the partial frame, at the front, and make room after it.
            input.drain(..start);
            start = 0;
            input.reserve(64 * 1024);
        }
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some((opcode, at, len, mask)) = header(&input[start..]) {
            let payload = &input[start + at..start + at + len];
            output.push(0x80 | opcode);
            if len < 126 {
                output.push(len as u8);
            } else if len <= 0xFFFF {
                output.push(126);
                output.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                output.push(127);
                output.extend_from_slice(&(len as u64).to_be_bytes());
            }
            let from = output.len();
            output.extend_from_slice(payload);
            unmask(&mut output[from..], mask);
            start += at + len;
            if opcode == 0x8 {
                let _ = stream.write_all(&output).await;
                return;
            }
        }
        if start == input.len() {
            input.clear();
            start = 0;
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

/// XORs `data` with the 4-byte `mask`, eight bytes at a time.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// A complete masked client frame at the start of `b`: opcode, payload start, length, mask.
fn header(b: &[u8]) -> Option<(u8, usize, usize, [u8; 4])> {
    if b.len() < 2 {
        return None;
    }
    let (len, at) = match b[1] & 0x7F {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => {
            let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    (b.len() >= at + 4 + len).then_some((b[0] & 0x0F, at + 4, len, mask))
}

#[cfg(test)]
mod tests {
    #[test]
    fn unmasking_in_words_matches_byte_by_byte() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in [0, 1, 7, 8, 9, 17, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut fast = data.clone();
            super::unmask(&mut fast, mask);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(fast, slow, "length {len}");
        }
    }
}
