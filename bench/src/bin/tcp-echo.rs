//! The practical limit of the machine: after the upgrade, read client frames, unmask them and
//! write them back as server frames, with no protocol checks at all (no UTF-8, no limits, no
//! control frames). Whatever a real server does costs more than this.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    wsgen_bench::serve(handle).await
}

/// Serves one connection.
async fn handle(mut stream: tokio::net::TcpStream) {
    if wsgen_bench::upgrade(&mut stream).await.is_err() {
        return;
    }
    let mut input: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        input.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((opcode, start, len, mask)) = header(&input[used..]) {
            let payload = &input[used + start..used + start + len];
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
            output.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            used += start + len;
            if opcode == 0x8 {
                let _ = stream.write_all(&output).await;
                return;
            }
        }
        input.drain(..used);
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
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
