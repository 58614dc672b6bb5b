//! The invariant of `wsgen check`, over the catalogue of edge-case specs in `tests/specs/edge/`
//! (keywords and Unicode as names, names that collide after case conversion where that is
//! allowed, docs that look like code, control characters, numbers at the edges of their types,
//! unions of every shape): every spec `check` accepts generates Rust and TypeScript; the Rust of
//! all of them, compiled together in one crate under `#![deny(warnings)]`, is clean under
//! `cargo clippy -- -D warnings` and its doctests pass; the TypeScript passes `tsc --strict`.
//! Adding a case is adding a file.

#[path = "common/browser.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn edge_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/specs/edge"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "the catalogue is there");
    specs
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_edge_spec_is_accepted_and_its_rust_is_warning_and_clippy_clean_with_passing_doctests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let mut lib = String::from("//! Every edge-case spec.\n#![deny(warnings)]\n");
    for spec in edge_specs() {
        wsgen::check(&spec).unwrap_or_else(|e| panic!("check refuses {}:\n{e}", spec.display()));
        let files = wsgen::generate(&spec)
            .unwrap_or_else(|e| panic!("check accepts {}, generate fails:\n{e}", spec.display()));
        for file in files {
            let module = file
                .path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            std::fs::write(dir.path().join("src").join(&file.path), &file.contents).unwrap();
            lib.push_str(&format!("pub mod {module};\n"));
        }
    }
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    let manifest = format!(
        "[package]\nname = \"edge-specs\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nwsgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
        root().join("runtime").display().to_string()
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins the same versions, so nothing new is resolved.
    std::fs::copy(root().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let cargo = |args: &[&str]| {
        let output = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(dir.path())
            .env("CARGO_TARGET_DIR", root().join("target/edge-specs"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo {args:?}:\n{}",
            output_text(&output)
        );
    };
    cargo(&["clippy", "--quiet", "--offline", "--", "-D", "warnings"]);
    cargo(&["test", "--quiet", "--offline", "--doc"]);
}

#[test]
fn every_edge_spec_generates_typescript_that_passes_tsc_strict() {
    browser::dependencies();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for spec in edge_specs() {
        let generated = wsgen::generate_target(&spec, wsgen::Target::TypeScript)
            .unwrap_or_else(|e| panic!("check accepts {}, generate fails:\n{e}", spec.display()));
        for file in generated {
            let path = dir.path().join(&file.path);
            std::fs::write(&path, &file.contents).unwrap();
            files.push(path);
        }
    }
    let tsc = root().join("tests/interop/node/node_modules/.bin/tsc");
    let output = Command::new(&tsc)
        .args([
            "--strict",
            "--noEmit",
            "--noUnusedLocals",
            "--noUnusedParameters",
            "--noImplicitReturns",
            "--target",
            "es2020",
            "--module",
            "es2020",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2020,dom",
        ])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", tsc.display()));
    assert!(output.status.success(), "tsc:\n{}", output_text(&output));
}
