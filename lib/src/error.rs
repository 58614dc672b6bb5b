//! The generator's error type.

use std::path::PathBuf;

use crate::diagnostic::Diagnostics;

/// Everything that can stop generation.
#[derive(thiserror::Error)]
pub enum Error {
    /// The spec has problems; each is a diagnostic with a position.
    #[error("{0}")]
    Spec(Diagnostics),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spec file is larger than any real spec.
    #[error("{}: the spec is {size} bytes; the limit is {max}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// `--check` found generated files that are missing or differ from what the spec produces.
    #[error("generated files are out of date: {}\nrun the same command without --check to update them", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Stale(Vec<PathBuf>),
    /// A template failed to render: a bug in wsgen, not in the spec.
    #[error("internal error: template `{template}` failed to render: {detail}")]
    Render {
        /// The template.
        template: String,
        /// What minijinja said.
        detail: String,
    },
    /// The rendered code is not valid Rust: a bug in wsgen, not in the spec.
    #[error(
        "internal error: the code rendered from `{template}` does not parse as Rust ({detail}) near:\n{excerpt}"
    )]
    Format {
        /// The template.
        template: String,
        /// What syn said.
        detail: String,
        /// The rendered lines around the problem.
        excerpt: String,
    },
}

impl Error {
    /// Whether the error is the spec's fault (exit code 1) rather than the environment's (2).
    pub fn is_spec_error(&self) -> bool {
        matches!(self, Error::Spec(_) | Error::TooLarge { .. })
    }

    /// The command-line exit code: 1 for spec errors and stale output, 2 for usage, I/O and
    /// internal problems.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Spec(_) | Error::TooLarge { .. } | Error::Stale(_) => 1,
            Error::Io { .. } | Error::Render { .. } | Error::Format { .. } => 2,
        }
    }
}

/// Debug shows the same text as Display, so that `fn main() -> Result<(), wsgen::Error>` in a
/// build script prints readable diagnostics.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
