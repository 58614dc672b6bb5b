//! Loading: reads a spec file, refusing what is too large to be a spec or is not UTF-8.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::error::Error;

/// The largest spec accepted; real specs are a few kilobytes.
pub const MAX_SPEC_BYTES: u64 = 4 * 1024 * 1024;

/// Reads the spec at `path`.
pub fn load(path: &Path) -> Result<Source, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_SPEC_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            max: MAX_SPEC_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    from_bytes(&path.display().to_string(), bytes)
}

/// Makes a [`Source`] from bytes already in memory (the file name is for messages).
pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Source, Error> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source {
            name: name.to_owned(),
            text,
        }),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // The prefix is valid UTF-8 by construction.
            let prefix = String::from_utf8_lossy(valid);
            let line = prefix.matches('\n').count() + 1;
            let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
            let column = prefix[line_start..].chars().count() + 1;
            Err(Error::Spec(Diagnostics(vec![Diagnostic {
                file: name.to_owned(),
                line,
                column,
                width: 1,
                message: "the spec is not valid UTF-8".to_owned(),
                hint: Some("save the file as UTF-8".to_owned()),
                source_line: prefix[line_start..].to_owned(),
                excerpt_from: 0,
            }])))
        }
    }
}
