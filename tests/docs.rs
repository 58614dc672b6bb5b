//! Every code block of README.md, CONTRIBUTING.md and docs/*.md is compiled, run, or checked
//! against the real file or command output it shows, so that the docs cannot drift from the
//! code. Each block carries a mark on the line before its fence:
//!
//! - `<!-- file: PATH -->`: an excerpt of that file of the repository;
//! - `<!-- output: wsgen ARGS -->`: part of what that command prints (it must succeed);
//! - `<!-- errors: wsgen ARGS -->`: part of what that command reports when it fails;
//! - `<!-- spec: NAME.yaml -->`: a whole spec that `wsgen check` accepts;
//! - `<!-- quickstart: PATH -->`: a file of the README's quickstart crate, which
//!   `tests/quickstart.rs` builds, serves and runs clients of;
//! - `<!-- run: node echo -->`: TypeScript that this test compiles with `tsc` and runs in Node
//!   against the echo server;
//! - `<!-- layout -->`: a listing whose every path exists;
//! - `<!-- modules: DIR -->`: a picture of the Rust modules in `DIR` that names every one.
//!
//! Shell blocks (`sh`) are commands for the reader and carry no mark.

// Each test file uses part of the shared helpers.
#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "../examples/echo/server.rs"]
mod echo_server;
#[path = "common/markdown.rs"]
mod markdown;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use markdown::{Block, blocks, root};

const KINDS: &[&str] = &[
    "file: ",
    "output: wsgen ",
    "errors: wsgen ",
    "spec: ",
    "quickstart: ",
    "run: node echo",
    "layout",
    "modules: ",
];

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn marked(kind: &str) -> Vec<(String, Block)> {
    blocks()
        .into_iter()
        .filter_map(|b| {
            let rest = b.mark.as_deref()?.strip_prefix(kind)?.to_owned();
            Some((rest, b))
        })
        .collect()
}

/// Runs `wsgen ARGS` in a new directory (`init` writes files), with spec paths made absolute.
fn wsgen(command: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = command
        .split_whitespace()
        .map(|a| {
            if a.ends_with(".yaml") {
                root().join(a).display().to_string()
            } else {
                a.to_owned()
            }
        })
        .collect();
    Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap()
}

#[test]
fn every_code_block_carries_a_mark_that_a_test_checks() {
    let all = blocks();
    assert!(all.len() >= 20, "the docs have their code blocks");
    for block in &all {
        if block.lang == "sh" {
            continue;
        }
        let Some(mark) = &block.mark else {
            panic!(
                "{}: a `{}` block without a mark; say how it is checked (see tests/docs.rs)",
                block.at(),
                block.lang
            );
        };
        assert!(
            KINDS.iter().any(|k| mark.starts_with(k)),
            "{}: unknown mark `{mark}`",
            block.at()
        );
    }
}

#[test]
fn excerpts_are_part_of_the_files_they_quote() {
    let excerpts = marked("file: ");
    assert!(excerpts.len() >= 5);
    for (path, block) in excerpts {
        let actual = std::fs::read_to_string(root().join(&path))
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", block.at()));
        assert!(
            actual.contains(block.body.trim_end()),
            "{}: the excerpt is not in {path}:\n{}",
            block.at(),
            block.body
        );
    }
}

#[test]
fn outputs_are_what_the_commands_print_today() {
    let outputs = marked("output: wsgen ");
    assert!(outputs.len() >= 3);
    for (command, block) in outputs {
        let output = wsgen(&command);
        assert!(
            output.status.success(),
            "{}: wsgen {command}: {}",
            block.at(),
            text(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(block.body.trim_end()),
            "{}: not in the output of `wsgen {command}`:\n{}\n--- real output:\n{stdout}",
            block.at(),
            block.body
        );
    }
    for (command, block) in marked("errors: wsgen ") {
        // From the repository's root, so that the spec's path prints as written.
        let output = Command::new(env!("CARGO_BIN_EXE_wsgen"))
            .args(command.split_whitespace())
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {}",
            block.at(),
            text(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(block.body.trim_end()),
            "{}: not in the errors of `wsgen {command}`:\n{}\n--- real errors:\n{stderr}",
            block.at(),
            block.body
        );
    }
}

#[test]
fn specs_in_the_docs_are_accepted() {
    let specs = marked("spec: ");
    assert!(!specs.is_empty());
    for (name, block) in specs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&name);
        std::fs::write(&path, &block.body).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_wsgen"))
            .arg("check")
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}: {}", block.at(), text(&output));
    }
}

#[test]
fn layout_listings_name_real_paths() {
    let listings = marked("layout");
    assert!(!listings.is_empty());
    for (_, block) in listings {
        for line in block.body.lines().filter(|l| !l.starts_with(' ')) {
            let Some(path) = line.split_whitespace().next() else {
                continue;
            };
            // `examples/chat*` names a family of paths: its stem must exist.
            let path = path.trim_end_matches('*');
            let exists = root().join(path).exists()
                || std::fs::read_dir(
                    root().join(Path::new(path).parent().unwrap_or(Path::new(""))),
                )
                .is_ok_and(|mut entries| {
                    entries.any(|e| {
                        e.is_ok_and(|e| {
                            root().join(path).file_name().is_some_and(|stem| {
                                e.file_name()
                                    .to_string_lossy()
                                    .starts_with(&*stem.to_string_lossy())
                            })
                        })
                    })
                });
            assert!(exists, "{}: `{path}` does not exist", block.at());
        }
    }
}

#[test]
fn module_pictures_name_every_module() {
    let pictures = marked("modules: ");
    assert!(!pictures.is_empty());
    for (dir, block) in pictures {
        let words: Vec<&str> = block
            .body
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .collect();
        let entries = std::fs::read_dir(root().join(&dir))
            .unwrap_or_else(|e| panic!("{}: {dir}: {e}", block.at()));
        for entry in entries {
            let path = entry.unwrap().path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main" {
                assert!(
                    words.contains(&stem),
                    "{}: the picture does not name `{dir}/{stem}.rs`",
                    block.at()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_example_runs_in_node_against_the_echo_server() {
    browser::dependencies();
    let runs = marked("run: node echo");
    assert!(!runs.is_empty());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(echo_server::handlers().into_server().serve(listener));
    for (_, block) in runs {
        let dir = tempfile::tempdir().unwrap();
        let generated = Command::new(env!("CARGO_BIN_EXE_wsgen"))
            .args(["generate", "--target", "typescript", "-o"])
            .arg(dir.path())
            .arg(root().join("examples/specs/echo.yaml"))
            .output()
            .unwrap();
        assert!(generated.status.success(), "{}", text(&generated));
        // The block as written, pointed at this test's server instead of the example's port.
        let main = block.body.replace("ws://127.0.0.1:9002", &url);
        std::fs::write(dir.path().join("main.ts"), main).unwrap();
        std::fs::write(dir.path().join("package.json"), r#"{ "type": "module" }"#).unwrap();
        let tsc = root().join("tests/interop/node/node_modules/.bin/tsc");
        let compiled = Command::new(&tsc)
            .args(["--strict", "--target", "es2022", "--module", "es2022"])
            .args([
                "--moduleResolution",
                "bundler",
                "--lib",
                "es2022,dom",
                "--outDir",
            ])
            .arg(dir.path())
            .arg(dir.path().join("main.ts"))
            .arg(dir.path().join("echo.ts"))
            .output()
            .unwrap();
        assert!(
            compiled.status.success(),
            "{}: tsc: {}",
            block.at(),
            text(&compiled)
        );
        // Node's global WebSocket, as a browser has it.
        let run = tokio::process::Command::new("node")
            .arg("--experimental-websocket")
            .arg(dir.path().join("main.js"))
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("node finished within 60s")
            .unwrap();
        let printed = text(&output);
        assert!(output.status.success(), "{}: node: {printed}", block.at());
        for expected in ["welcome", "string_too_short", "Goodbye", "tick"] {
            assert!(
                printed.contains(expected),
                "{}: no `{expected}` in:\n{printed}",
                block.at()
            );
        }
    }
}
