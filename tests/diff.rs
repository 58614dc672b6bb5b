//! `wsgen diff`: the catalogue of spec pairs in `tests/specs/diff/<case>/{old,new}.yaml` (one
//! change each, plus a few combined), each classified and snapshot-tested; and the command line:
//! exit codes, `--rolling`, `--rust-api`, `--allow`, `--message-format json` and `--against`.
//! Adding a case is adding a directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use wsgen::diff::{Change, Check};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every case directory, in name order.
fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("tests/specs/diff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The changes of one case, with the spec paths relative to the workspace root.
fn changes(case: &Path) -> Vec<Change> {
    let relative = case.strip_prefix(root()).unwrap();
    let load = |name: &str| {
        let path = relative.join(name);
        let text = std::fs::read(root().join(&path)).unwrap();
        wsgen::load_bytes(&path.display().to_string(), text).unwrap()
    };
    wsgen::diff::diff_sources(load("old.yaml"), load("new.yaml")).expect("the pair is valid")
}

/// One line per change: id and what it breaks (`c`: old clients, `s`: old servers, `r`: Rust).
fn classification(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            let flag = |on: bool, ch: char| if on { ch } else { '-' };
            format!(
                "{}{}{} {}\n",
                flag(c.breaks.old_clients, 'c'),
                flag(c.breaks.old_servers, 's'),
                flag(c.breaks.rust_api, 'r'),
                c.id()
            )
        })
        .collect()
}

#[test]
fn the_catalogue_has_at_least_forty_pairs() {
    assert!(cases().len() >= 40, "{} cases", cases().len());
}

#[test]
fn every_pair_is_classified_and_rendered() {
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let found = changes(&case);
        let again = changes(&case);
        assert_eq!(found, again, "{name}: deterministic");
        let rendered = format!(
            "{}\n{}",
            classification(&found),
            wsgen::diff::render(&found, &Check::default(), false)
        );
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diff", rendered);
        });
    }
}

/// What each single-change case must break, whatever the wording: `c`, `s`, `r` as above.
#[test]
fn single_changes_break_what_the_issue_says() {
    let expect: &[(&str, &str)] = &[
        ("endpoint_removed", "c-r"),
        ("endpoint_renamed", "--r"),
        ("path_changed", "cs-"),
        ("param_type_narrowed", "c-r"),
        ("query_added_required", "c-r"),
        ("query_made_required", "c-r"),
        ("query_added_optional", "--r"),
        ("mode_narrowed_receive_only", "c-r"),
        ("field_added_required_received", "c-r"),
        ("field_removed_required_sent", "c-r"),
        ("field_added_optional_received", "--r"),
        ("field_added_optional_sent", "--r"),
        ("enum_value_added_sent", "c-r"),
        ("union_variant_added", "c-r"),
        ("union_variant_removed_received", "c-r"),
        ("union_variant_removed", "-sr"),
        ("rule_tightened", "c--"),
        ("rule_loosened", "-s-"),
        ("close_code_changed", "cs-"),
        ("close_removed", "-sr"),
        ("envelope_added", "cs-"),
        ("handshake_changed", "cs-"),
        ("handshake_close_changed", "c--"),
        ("close_runtime_reason", "--r"),
        ("message_rate_lowered", "c--"),
        ("union_tag_changed", "cs-"),
        ("field_wire_renamed", "cs-"),
        ("limit_lowered", "c--"),
        ("limit_raised", "-s-"),
        ("on_invalid_drop", "c--"),
        ("type_renamed", "--r"),
        ("docs_only", ""),
        ("unchanged", ""),
    ];
    for (case, breaks) in expect {
        let found = changes(&root().join("tests/specs/diff").join(case));
        let shown: Vec<String> = classification(&found)
            .lines()
            .map(|l| l[..3].to_owned())
            .collect();
        let wanted: Vec<String> = if breaks.is_empty() {
            vec![]
        } else {
            vec![breaks.to_string()]
        };
        assert_eq!(shown, wanted, "{case}: {}", classification(&found));
    }
}

fn wsgen(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn pair(case: &str) -> (String, String) {
    let dir = format!("tests/specs/diff/{case}");
    (format!("{dir}/old.yaml"), format!("{dir}/new.yaml"))
}

#[test]
fn exit_codes_follow_the_checked_directions_and_allow() {
    let (old, new) = pair("field_added_required_received");
    assert_eq!(wsgen(&["diff", &old, &new]).0, 1);
    assert_eq!(
        wsgen(&["diff", &old, &new, "--allow", "field-added-required"]).0,
        0
    );
    assert_eq!(
        wsgen(&[
            "diff",
            &old,
            &new,
            "--allow",
            "field-added-required:Order.email"
        ])
        .0,
        0
    );
    assert_eq!(
        wsgen(&[
            "diff",
            &old,
            &new,
            "--allow",
            "field-added-required:Order.other"
        ])
        .0,
        1
    );
    // Breaks only old servers: passes by default, fails with --rolling.
    let (old, new) = pair("field_removed_required_received");
    assert_eq!(wsgen(&["diff", &old, &new]).0, 0);
    assert_eq!(wsgen(&["diff", &old, &new, "--rolling"]).0, 1);
    // Breaks only the Rust API: fails with --rust-api.
    let (old, new) = pair("type_renamed");
    let (code, text) = wsgen(&["diff", &old, &new]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("warning[type-renamed]"), "{text}");
    assert_eq!(wsgen(&["diff", &old, &new, "--rust-api"]).0, 1);
    // Safe.
    let (old, new) = pair("field_added_optional_sent");
    assert_eq!(wsgen(&["diff", &old, &new, "--rolling"]).0, 0);
    // A bad spec: 2, with the spec's diagnostics.
    let (code, text) = wsgen(&["diff", &old, "tests/specs/invalid/unknown_type.yaml"]);
    assert_eq!(code, 2, "{text}");
    let (code, _) = wsgen(&["diff", &old, "no/such/file.yaml"]);
    assert_eq!(code, 2);
}

#[test]
fn json_output_has_one_object_per_change_and_a_summary() {
    let (old, new) = pair("combined_breaking_release");
    let (code, text) = wsgen(&["--message-format", "json", "diff", &old, &new]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, changes) = lines.split_last().unwrap();
    assert_eq!(summary["summary"]["changes"], changes.len());
    let first = &changes[0];
    assert_eq!(first["code"], "field-wire-renamed");
    assert_eq!(first["id"], "field-wire-renamed:Order.userId");
    assert_eq!(first["old"]["file"], old.as_str());
    assert_eq!(first["new"]["file"], new.as_str());
    assert!(first["old"]["line"].as_u64().unwrap() > 0);
    assert_eq!(first["breaks"]["old_clients"], true);
    assert_eq!(first["fails"], true);
}

#[test]
fn against_reads_the_old_spec_from_git() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
    };
    let (old, new) = pair("enum_value_added_sent");
    git(&["init", "-q"]);
    std::fs::create_dir(dir.path().join("api")).unwrap();
    let spec = dir.path().join("api/shop.yaml");
    std::fs::copy(root().join(&old), &spec).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "v1"]);
    std::fs::copy(root().join(&new), &spec).unwrap();
    let spec_arg = spec.display().to_string();
    let (code, text) = wsgen(&["diff", &spec_arg, "--against", "HEAD"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("error[variant-added]"), "{text}");
    assert!(text.contains("= was: HEAD:api/shop.yaml:4:3"), "{text}");
    git(&["commit", "-qam", "v2"]);
    assert_eq!(wsgen(&["diff", &spec_arg, "--against", "HEAD"]).0, 0);
    let (code, text) = wsgen(&["diff", &spec_arg, "--against", "no-such-ref"]);
    assert_eq!(code, 2, "{text}");
}
