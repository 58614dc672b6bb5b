//! Snapshot tests: the TypeScript module of every valid test spec, the Markdown reference
//! (`wsgen docs`) and the AsyncAPI document (`wsgen asyncapi`) of every example spec, and the
//! rendered diagnostics of every invalid spec in `tests/specs/invalid/`. Adding a case is adding a file. What the example specs generate is checked against its one
//! golden copy, the checked-in `generated/` (`cargo xtask regen` writes it).

use std::path::Path;

/// Spec paths are shown relative to the workspace root, so snapshots do not depend on where
/// the checkout lives.
fn relative(path: &Path) -> &Path {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
}

/// The TypeScript modules of the valid test specs (those of the example specs are checked in
/// under `generated/ts`, with the client core they share).
#[test]
fn typescript_client_for_every_valid_test_spec() {
    insta::glob!("specs/valid", "*.yaml", |path| {
        let files = wsgen::generate_target(relative(path), wsgen::Target::TypeScript)
            .expect("the specs are valid");
        let again = wsgen::generate_target(relative(path), wsgen::Target::TypeScript).unwrap();
        assert_eq!(files, again, "deterministic");
        let [module, core] = files.as_slice() else {
            panic!("a module and the client core: {files:?}");
        };
        assert_eq!(core.path, Path::new(wsgen::TYPESCRIPT_CORE_FILE));
        insta::assert_snapshot!(module.path.display().to_string(), module.contents);
    });
}

#[test]
fn markdown_reference_for_every_example_spec() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let first = wsgen::docs(relative(path)).expect("example specs are valid");
        assert_eq!(first, wsgen::docs(relative(path)).unwrap(), "deterministic");
        insta::assert_snapshot!(first);
    });
}

#[test]
fn asyncapi_document_for_every_example_spec() {
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let first = wsgen::asyncapi(relative(path)).expect("example specs are valid");
        assert_eq!(
            first,
            wsgen::asyncapi(relative(path)).unwrap(),
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

/// `generated/` is the one golden copy of what the example specs generate: the Rust modules
/// in `generated/src`, the TypeScript modules and their client core in `generated/ts`.
#[test]
fn checked_in_generated_code_matches_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../examples/specs", "*.yaml", |path| {
        let rust = wsgen::generate(relative(path)).unwrap();
        let typescript = wsgen::generate_target(relative(path), wsgen::Target::TypeScript).unwrap();
        let checked = [("generated/src", rust), ("generated/ts", typescript)];
        for (dir, files) in checked {
            for file in files {
                let checked_in = root.join(dir).join(&file.path);
                let on_disk = std::fs::read_to_string(&checked_in).unwrap_or_default();
                assert!(
                    on_disk == file.contents,
                    "{} is stale: run `cargo xtask regen`",
                    checked_in.display()
                );
            }
        }
    });
}
