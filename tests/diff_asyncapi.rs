//! Every pair of the `wsgen diff` catalogue (`tests/specs/diff/`) compared a second way: the
//! AsyncAPI exports (`wsgen asyncapi`) of OLD and NEW go through `@asyncapi/diff` (Node,
//! installed by `scripts/deps.sh interop`), and the table of where its verdict agrees with
//! wsgen's wire-level answer, and why it differs where it does, must be the one in
//! `docs/diff.md` between the `asyncapi-diff table` markers. `WSGEN_BLESS=1` rewrites it there.

#[path = "common/deps.rs"]
mod deps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wsgen::diff::Change;

const BEGIN: &str = "<!-- asyncapi-diff table: begin (written by tests/diff_asyncapi.rs) -->";
const END: &str = "<!-- asyncapi-diff table: end -->";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("tests/specs/diff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// wsgen's wire-level answer: `breaking` (either direction), `rust-api` (source only), `safe`.
fn wsgen_verdict(changes: &[Change]) -> (&'static str, String) {
    let clients = changes.iter().any(|c| c.breaks.old_clients);
    let servers = changes.iter().any(|c| c.breaks.old_servers);
    let rust = changes.iter().any(|c| c.breaks.rust_api);
    let verdict = if clients || servers {
        "breaking"
    } else if rust {
        "rust-api"
    } else {
        "safe"
    };
    let directions = match (clients, servers) {
        (true, true) => "old clients, old servers",
        (true, false) => "old clients",
        (false, true) => "old servers",
        (false, false) if rust => "Rust API only",
        _ => "nothing",
    };
    (verdict, directions.to_owned())
}

/// Why the two answers differ, from the kind of disagreement.
fn reason(wsgen: &str, asyncapi: &str, directions: &str, changes: &[Change]) -> &'static str {
    let outside_export = !changes.is_empty()
        && changes.iter().all(|c| {
            c.code.starts_with("limit-")
                || c.code.starts_with("handshake")
                || c.code.starts_with("close-")
                || c.code.starts_with("on-invalid")
                || c.code.starts_with("envelope")
        });
    match (wsgen, asyncapi) {
        ("breaking", "breaking") | ("safe", "none") | ("safe", "non-breaking") => "",
        ("rust-api", "none") | ("rust-api", "non-breaking") => "",
        ("breaking", "non-breaking") if directions == "old servers" => {
            "an addition is safe for old clients, which @asyncapi/diff checks; new clients meeting old servers fail (wsgen --rolling)"
        }
        ("breaking", "none") => {
            "the change does not show in the AsyncAPI document (limits are not exported; integer widths and path parameter types export alike): only wsgen sees it"
        }
        ("safe", "unclassified") if changes.is_empty() => {
            "only descriptions changed: @asyncapi/diff leaves them unclassified, wsgen ignores docs"
        }
        ("rust-api", "breaking") => {
            "a rename that keeps the wire: AsyncAPI ids follow wsgen's names, so @asyncapi/diff sees a removal; the wire is the same"
        }
        (_, "unclassified") if outside_export => {
            "wsgen-only semantics (close codes, handshake, envelope, on_invalid) travel as extensions or descriptions, which @asyncapi/diff leaves unclassified"
        }
        ("breaking", "unclassified") => {
            "@asyncapi/diff does not classify changes inside message schemas or parameters; wsgen knows which side produces and which consumes"
        }
        (_, "unclassified") => {
            "@asyncapi/diff does not classify changes inside message schemas or descriptions; wsgen knows this one keeps the wire"
        }
        _ => "the two models of compatibility differ",
    }
}

#[test]
fn asyncapi_diff_verdicts_and_the_table_in_the_docs() {
    deps::ensure("interop");
    let out = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    let mut ours: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        for side in ["old", "new"] {
            let document = wsgen::asyncapi(&case.join(format!("{side}.yaml")))
                .expect("the catalogue's specs are valid");
            std::fs::write(out.path().join(format!("{name}.{side}.json")), document).unwrap();
        }
        let load = |side: &str| {
            let path = case.join(format!("{side}.yaml"));
            wsgen::load(&path).unwrap()
        };
        ours.insert(
            name.clone(),
            wsgen::diff::diff_sources(load("old"), load("new")).unwrap(),
        );
        args.push(name.clone());
        for side in ["old", "new"] {
            args.push(
                out.path()
                    .join(format!("{name}.{side}.json"))
                    .display()
                    .to_string(),
            );
        }
    }
    let node_dir = root().join("tests/interop/node");
    let output = Command::new("node")
        .arg(node_dir.join("asyncapi-diff.js"))
        .args(&args)
        .current_dir(&node_dir)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: BTreeMap<String, serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(theirs.len(), ours.len(), "a verdict for every pair");

    let mut table = String::from(
        "| case | wsgen diff (breaks) | @asyncapi/diff (breaking / non-breaking / unclassified) | agree | why they differ |\n|---|---|---|---|---|\n",
    );
    let (mut agree, mut differ) = (0, 0);
    for (name, changes) in &ours {
        let (verdict, directions) = wsgen_verdict(changes);
        let v = &theirs[name];
        let asyncapi = v["verdict"].as_str().unwrap();
        let why = reason(verdict, asyncapi, &directions, changes);
        if why.is_empty() {
            agree += 1;
        } else {
            differ += 1;
        }
        table.push_str(&format!(
            "| `{name}` | {verdict}: {directions} | {asyncapi} ({} / {} / {}) | {} | {why} |\n",
            v["breaking"],
            v["non_breaking"],
            v["unclassified"],
            if why.is_empty() { "yes" } else { "no" },
        ));
    }
    table.push_str(&format!(
        "\n{agree} of {} pairs agree; {differ} differ.\n",
        ours.len()
    ));
    let docs_path = root().join("docs/diff.md");
    let docs = std::fs::read_to_string(&docs_path).unwrap();
    let (Some(start), Some(end)) = (docs.find(BEGIN), docs.find(END)) else {
        panic!("docs/diff.md has no `{BEGIN}` ... `{END}` section");
    };
    let current = &docs[start + BEGIN.len()..end];
    let wanted = format!("\n{table}");
    if std::env::var_os("WSGEN_BLESS").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &docs[..start], &docs[end..]);
        std::fs::write(&docs_path, updated).unwrap();
    } else {
        assert_eq!(
            current, wanted,
            "the table in docs/diff.md is stale; run with WSGEN_BLESS=1 to rewrite it"
        );
    }
}
