//! Hostile specs are refused with a spec error and bounded work: alias bombs, deep nesting,
//! oversized files, binary garbage. Each case runs on a thread with a generous guard, so that a
//! hang fails the test instead of stalling the suite (a guard, not a speed assertion).

use std::sync::mpsc;
use std::time::Duration;

use wsgen::{Error, Source};

fn refuse(text: Vec<u8>) -> Error {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = wsgen::load_bytes("hostile.yaml", text)
            .and_then(|source: Source| wsgen::generate_source(&source));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Err(error)) => error,
        Ok(Ok(files)) => panic!("a hostile spec generated {} files", files.len()),
        Err(_) => panic!("the generator did not finish"),
    }
}

fn assert_spec_error(error: &Error) {
    assert!(error.is_spec_error(), "{error}");
    let text = error.to_string();
    assert!(text.contains("hostile.yaml:"), "{text}");
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused() {
    let mut yaml = String::from(
        "wsgen: 1\nname: lol\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    assert_spec_error(&refuse(yaml.into_bytes()));
}

#[test]
fn very_deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 100_000;
    let yaml = format!(
        "wsgen: 1\nname: deep\ndocs: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_spec_error(&refuse(yaml.into_bytes()));
    let yaml = format!(
        "wsgen: 1\nname: deep\ndocs: {}x{}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    );
    assert_spec_error(&refuse(yaml.into_bytes()));
}

#[test]
fn binary_garbage_and_invalid_utf8_are_spec_errors() {
    // A fixed pseudo-random byte string (xorshift), so the case is the same on every run.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    assert_spec_error(&refuse(bytes));
    assert_spec_error(&refuse(b"wsgen: 1\nname: \xff\xfe\n".to_vec()));
    assert_spec_error(&refuse(b"\x00\x01\x02 not yaml at all: [".to_vec()));
}

#[test]
fn a_multi_megabyte_spec_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut text = String::from("wsgen: 1\nname: huge\ndocs: |\n");
    while text.len() < 5 * 1024 * 1024 {
        text.push_str("  a line of documentation that goes on and on\n");
    }
    std::fs::write(&path, text).unwrap();
    match wsgen::generate(&path) {
        Err(error @ Error::TooLarge { .. }) => {
            assert!(error.is_spec_error());
            assert!(error.to_string().contains("huge.yaml"), "{error}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}
