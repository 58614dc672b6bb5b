//! Snapshot tests: every generated file for every example spec (Rust and TypeScript), the
//! Markdown reference (`wsgen docs`) and the AsyncAPI document (`wsgen asyncapi`) of every
//! example spec, and the rendered diagnostics of every invalid spec in `tests/specs/invalid/`.
//! Adding a case is adding a file.

use std::path::Path;

/// Spec paths are shown relative to the workspace root, so snapshots do not depend on where
/// the checkout lives.
fn relative(path: &Path) -> &Path {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
}

#[test]
fn generated_code_for_every_example_spec() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let files = wsgen::generate(relative(path)).expect("example specs are valid");
        for file in files {
            insta::assert_snapshot!(file.path.display().to_string(), file.contents);
        }
    });
}

#[test]
fn typescript_client_for_every_example_and_valid_test_spec() {
    let each = |path: &Path| {
        let files = wsgen::generate_target(relative(path), wsgen::Target::TypeScript)
            .expect("the specs are valid");
        let again = wsgen::generate_target(relative(path), wsgen::Target::TypeScript).unwrap();
        assert_eq!(files, again, "deterministic");
        for file in files {
            insta::assert_snapshot!(file.path.display().to_string(), file.contents);
        }
    };
    insta::glob!("../examples/specs", "*.yaml", |path| each(path));
    insta::glob!("specs/valid", "*.yaml", |path| each(path));
}

#[test]
fn markdown_reference_for_every_example_spec() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let first = wsgen::docs::docs(relative(path)).expect("example specs are valid");
        assert_eq!(
            first,
            wsgen::docs::docs(relative(path)).unwrap(),
            "deterministic"
        );
        insta::assert_snapshot!(first);
    });
}

#[test]
fn asyncapi_document_for_every_example_spec() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let first = wsgen::asyncapi::asyncapi(relative(path)).expect("example specs are valid");
        assert_eq!(
            first,
            wsgen::asyncapi::asyncapi(relative(path)).unwrap(),
            "deterministic"
        );
        insta::assert_snapshot!(first);
    });
}

#[test]
fn diagnostics_for_every_invalid_spec() {
    insta::glob!("specs/invalid", "*.yaml", |path| {
        let error = wsgen::generate(relative(path)).expect_err("invalid specs are refused");
        assert!(error.is_spec_error(), "{error}");
        insta::assert_snapshot!(error.to_string());
    });
}

#[test]
fn generation_is_deterministic() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let first = wsgen::generate(relative(path)).unwrap();
        let second = wsgen::generate(relative(path)).unwrap();
        assert_eq!(first, second);
    });
}

#[test]
fn checked_in_generated_code_matches_the_generator() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        for file in wsgen::generate(relative(path)).unwrap() {
            let checked_in = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("generated/src")
                .join(&file.path);
            let on_disk = std::fs::read_to_string(&checked_in).unwrap_or_default();
            assert!(
                on_disk == file.contents,
                "{} is stale: run `cargo xtask regen`",
                checked_in.display()
            );
        }
    });
}
