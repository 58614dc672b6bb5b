//! Writing: puts generated files on disk, touching only those whose bytes changed, or (in check
//! mode) reports which ones are stale.

use std::path::{Path, PathBuf};

use crate::OutputFile;
use crate::error::Error;

/// Write the files, or only compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write files whose bytes differ.
    Write,
    /// Write nothing; report files whose bytes differ.
    Check,
}

/// What a write (or check) found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Files written (write mode) or that would be (check mode).
    pub changed: Vec<PathBuf>,
    /// Files already up to date.
    pub unchanged: Vec<PathBuf>,
}

/// Writes (or checks) `files` below `out_dir`.
pub fn write_files(
    out_dir: &Path,
    files: &[OutputFile],
    mode: WriteMode,
) -> Result<WriteReport, Error> {
    let mut report = WriteReport::default();
    for file in files {
        let path = out_dir.join(&file.path);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(file.contents.as_bytes()) {
            report.unchanged.push(path);
            continue;
        }
        if mode == WriteMode::Write {
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&path, &file.contents).map_err(io)?;
        }
        report.changed.push(path);
    }
    Ok(report)
}
