//! The checked-in JSON Schema (`schemas/wsgen.schema.json`) accepts every example spec and
//! rejects specs of the wrong shape, each problem at its position.

use std::path::Path;

use wsgen::Source;

fn schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/wsgen.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn problems(name: &str, text: &str) -> Vec<wsgen::Diagnostic> {
    let source = Source {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    let tree = wsgen::shape_tree(&source).unwrap();
    wsgen::shape_check_against(&source, &tree, &schema())
}

#[test]
fn every_example_spec_fits_the_schema() {
    let mut checked = 0;
    for dir in ["examples/specs", "examples/build-rs"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let found = problems(&path.display().to_string(), &text);
                assert!(found.is_empty(), "{}: {found:#?}", path.display());
                assert!(
                    text.starts_with("# yaml-language-server: $schema="),
                    "{}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} example specs were found");
}

#[test]
fn the_schema_rejects_wrong_shapes() {
    let found = problems(
        "bad.yaml",
        "wsgen: 1\nname: x\ncontrollers:\n  api:\n    endpoints:\n      e: { path: /e, mode: sideways, colse: {} }\n",
    );
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["`sideways` is not allowed here", "unknown key `colse`"]
    );
    assert_eq!((found[1].line, found[1].column), (6, 38));
    assert_eq!(found[1].hint.as_deref(), Some("did you mean `close`?"));

    let found = problems("bad.yaml", "name: 3\ntypes: []\n");
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.contains(&"expected a map, found a list"),
        "{messages:?}"
    );
    assert!(messages.contains(&"missing key `wsgen`"), "{messages:?}");
}

#[test]
fn an_empty_section_means_no_entries() {
    // Found by the property test: `types:` with nothing under it is a YAML null.
    let source = Source {
        name: "empty-sections.yaml".to_owned(),
        text: "wsgen: 1\nname: sparse\ntypes:\nmiddleware:\ncontrollers:\n  api:\n    endpoints:\n      echo: { path: /echo, close: }\n".to_owned(),
    };
    let files = wsgen::generate_source(&source).unwrap();
    assert!(files[0].contents.contains("pub struct ApiEchoClient"));
}
