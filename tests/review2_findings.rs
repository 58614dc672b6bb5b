//! Defects found in the second review of the read-ahead, outbox, envelope, split client,
//! message rate and shape-repair changes, each shown by a test.

use std::process::Command;
use std::time::{Duration, Instant};

fn check(spec: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.yaml");
    std::fs::write(&path, spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_set_aside_entry_does_not_make_another_type_uninhabitable() {
    // `optional: maybe` is a shape error; leaving it out makes `B.a` required, and `A`, which
    // has no shape problem, was then reported as a cycle of required fields: an artefact of
    // the repair (with `optional: true` the spec is valid).
    let spec = "wsgen: 1\nname: cyc\ntypes:\n  A:\n    fields:\n      b: { type: B }\n  B:\n    fields:\n\
                \x20     a: { type: A, optional: maybe }\n\
                controllers:\n  api:\n    endpoints:\n      e:\n        path: /e\n        receive: A\n";
    let (ok, stderr) = check(spec);
    assert!(!ok);
    assert!(stderr.contains("expected true or false"), "{stderr}");
    assert!(!stderr.contains("can exist"), "{stderr}");
    assert!(
        check(&spec.replace("maybe", "true")).0,
        "the same spec with the shape fixed is valid"
    );
}
