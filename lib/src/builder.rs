//! The build-script entry point, in the style of tonic-build:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), wsgen::Error> {
//!     wsgen::Builder::new().spec("api.yaml").generate()
//! }
//! ```
//!
//! and in the crate, `wsgen_runtime::include_spec!("<spec name>");`.

use std::path::PathBuf;

use crate::error::Error;
use crate::write::{WriteMode, write_files};

/// Generates code for one or more specs into `OUT_DIR` (or a chosen directory).
#[derive(Debug, Default, Clone)]
pub struct Builder {
    specs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    emit_rerun: bool,
}

impl Builder {
    /// A builder with no specs that writes to `OUT_DIR` and tells cargo when to rerun.
    pub fn new() -> Self {
        Builder {
            specs: Vec::new(),
            out_dir: None,
            emit_rerun: true,
        }
    }

    /// Adds a spec file.
    pub fn spec(mut self, path: impl Into<PathBuf>) -> Self {
        self.specs.push(path.into());
        self
    }

    /// Writes to `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for each spec (on by default).
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Self {
        self.emit_rerun = emit;
        self
    }

    /// Generates every spec; files whose bytes did not change are left alone so that cargo does
    /// not rebuild needlessly.
    pub fn generate(self) -> Result<(), Error> {
        let out_dir = match self.out_dir {
            Some(dir) => dir,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| Error::Io {
                    path: PathBuf::from("$OUT_DIR"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "OUT_DIR is not set: call Builder::generate from build.rs, or set Builder::out_dir",
                    ),
                })?,
        };
        for spec in &self.specs {
            if self.emit_rerun {
                println!("cargo:rerun-if-changed={}", spec.display());
            }
            let files = crate::generate(spec)?;
            write_files(&out_dir, &files, WriteMode::Write)?;
        }
        Ok(())
    }
}
