//! The README's quickstart, done as a reader would: `cargo new chat-app`, `wsgen init chat`,
//! the dependencies `init` prints added to `Cargo.toml`, then every file the README shows
//! (marked `<!-- quickstart: PATH -->`) written as it stands. The crate must build with warnings
//! denied, serve, answer the Rust client binary, the Python client and the TypeScript client
//! (generated with `--target typescript`, compiled by `tsc`, run on Node's global WebSocket as
//! a browser's), and stop on SIGTERM.
//!
//! It builds in `target/quickstart`, a target directory of its own (the first run compiles the
//! dependencies there once). The only change to the README's files is the port: a free one
//! instead of 9001, so that the test never collides with a server already running.

// Each test file uses part of the shared helpers.
#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/markdown.rs"]
mod markdown;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", text(&output));
    output
}

/// The indented lines under `[heading]` in what `wsgen init` printed.
fn printed_section(printed: &str, heading: &str) -> String {
    printed
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", l.trim()))
        .collect()
}

/// Runs a client program, bounded; returns what it printed.
async fn client(program: &Path, args: &[&Path], cwd: &Path) -> String {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the client finished within 60s")
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        program.display(),
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_builds_warning_free_serves_and_answers_three_clients() {
    browser::dependencies();
    let root = markdown::root();
    let files = markdown::quickstart();
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "build.rs",
        "src/lib.rs",
        "src/main.rs",
        "src/bin/client.rs",
        "client.py",
        "web/main.ts",
    ] {
        assert!(
            names.contains(&expected),
            "the quickstart shows {expected}: {names:?}"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");

    let work = tempfile::tempdir().unwrap();
    run(Command::new(env!("CARGO"))
        .args(["new", "--quiet", "--vcs", "none", "chat-app"])
        .current_dir(work.path()));
    let app = work.path().join("chat-app");
    let init = run(Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(["init", "chat"])
        .current_dir(&app));
    let printed = String::from_utf8_lossy(&init.stdout);
    let mut manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    manifest = manifest.replace(
        "[dependencies]\n",
        &format!(
            "[dependencies]\n{}",
            printed_section(&printed, "[dependencies]")
        ),
    );
    manifest.push_str(&format!(
        "\n[build-dependencies]\n{}",
        printed_section(&printed, "[build-dependencies]")
    ));
    std::fs::write(app.join("Cargo.toml"), manifest).unwrap();
    for (path, body) in &files {
        let file = app.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body.replace("127.0.0.1:9001", &address)).unwrap();
    }

    let target = root.join("target/quickstart");
    let build = run(Command::new(env!("CARGO"))
        .args(["build", "--bins"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-D warnings")
        .env_remove("RUSTC_WRAPPER"));
    let log = String::from_utf8_lossy(&build.stderr);
    assert!(!log.contains("warning"), "the quickstart warns:\n{log}");

    let bin = target.join("debug");
    let mut server = tokio::process::Command::new(bin.join("chat-app"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = common::within(lines.next_line()).await.unwrap().unwrap();
    assert_eq!(first, format!("listening on ws://{address}"));

    let rust = client(&bin.join("client"), &[], &app).await;
    assert!(rust.contains(r#" said "hello from Rust""#), "{rust}");
    assert!(
        rust.contains("rejected: String should have at least 1 characters"),
        "{rust}"
    );

    let python = root.join("target/interop/venv/bin/python");
    let said = client(&python, &[&app.join("client.py")], &app).await;
    assert!(said.contains("'text': 'hello from Python'"), "{said}");

    run(Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args([
            "generate",
            "chat.yaml",
            "--target",
            "typescript",
            "-o",
            "web/",
        ])
        .current_dir(&app));
    std::fs::write(app.join("web/package.json"), r#"{ "type": "module" }"#).unwrap();
    run(
        Command::new(root.join("tests/interop/node/node_modules/.bin/tsc"))
            .args(["--strict", "--target", "es2022", "--module", "es2022"])
            .args(["--moduleResolution", "bundler", "--lib", "es2022,dom"])
            .args(["web/main.ts", "web/chat.ts"])
            .current_dir(&app),
    );
    let node = Path::new("node");
    let browser_like = client(
        node,
        &[
            Path::new("--experimental-websocket"),
            &app.join("web/main.js"),
        ],
        &app,
    )
    .await;
    assert!(
        browser_like.contains(" said hello from the browser"),
        "{browser_like}"
    );

    let pid = server.id().unwrap().to_string();
    run(Command::new("kill").args(["-TERM", &pid]));
    let status = common::within(server.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}
