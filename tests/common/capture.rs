//! A writer that keeps what a `tracing-subscriber` fmt layer writes, for tests that read the
//! events a server or client emitted.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything written to it (clones share the buffer), read back as lines.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// What was written so far, a line each.
    pub fn lines(&self) -> Vec<String> {
        let out = self.0.lock().map(|o| o.clone()).unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
