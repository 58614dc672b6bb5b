//! The build-script entry point: writes into the chosen directory, and leaves files whose bytes
//! did not change untouched so that cargo does not rebuild.

#[test]
fn builder_writes_once_and_reports_spec_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/specs/revali.yaml");
    wsgen::Builder::new()
        .spec(spec)
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .generate()
        .unwrap();
    let written = dir.path().join("revali.rs");
    let modified = std::fs::metadata(&written).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    wsgen::Builder::new()
        .spec(spec)
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .generate()
        .unwrap();
    assert_eq!(
        std::fs::metadata(&written).unwrap().modified().unwrap(),
        modified
    );

    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/specs/invalid/close_code_reserved_1006.yaml"
    );
    let error = wsgen::Builder::new()
        .spec(bad)
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .generate()
        .unwrap_err();
    // Debug is what `fn main() -> Result<(), wsgen::Error>` prints in a build script.
    let shown = format!("{error:?}");
    assert!(
        shown.contains("close_code_reserved_1006.yaml:10:29"),
        "{shown}"
    );
    assert!(!dir.path().join("reserved.rs").exists());
}

#[test]
fn builder_outside_a_build_script_needs_an_out_dir() {
    // OUT_DIR is not set for integration tests of the root package.
    if std::env::var_os("OUT_DIR").is_none() {
        let error = wsgen::Builder::new()
            .spec("examples/specs/revali.yaml")
            .emit_rerun_if_changed(false)
            .generate()
            .unwrap_err();
        assert!(error.to_string().contains("OUT_DIR"), "{error}");
    }
}
