//! Property tests: random valid specs generate Rust that parses with syn and is byte-identical
//! across runs; a fixed sample of them, the starter spec of `wsgen init` and a spec with every
//! limit key are compiled with `cargo check` in a temporary crate.
//!
//! Hostile specs (names and docs drawn from keywords of Rust and TypeScript, names that collide
//! after case conversion, Unicode, control and bidirectional characters, comment terminators,
//! code fences): whenever `check` accepts one, both targets generate; a fixed sample of the
//! accepted ones compiles clean under `#![deny(warnings)]` and clippy, doctests included.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const FIELD_TYPES: &[&str] = &[
    "string",
    "int",
    "bool",
    "float",
    "u8",
    "i32",
    "u64",
    "f32",
    "json",
    "bytes",
    "list<string>",
    "map<int>",
    "list<map<bool>>",
    "string?",
    "int?",
];
const MESSAGE_TYPES: &[&str] = &["string", "bytes", "int", "float", "bool", "json", "frame"];
const WORDS: &[&str] = &[
    "chat",
    "room",
    "type",
    "self",
    "match",
    "user-name",
    "Event",
    "ok",
];

#[derive(Debug, Clone)]
struct Ty {
    fields: Vec<(usize, usize)>, // (word, field type index, or beyond: an earlier type)
    enum_values: Option<usize>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    mode: usize,
    receive: usize,
    send: usize,
    reply: bool,
    stream: bool,
    closes: usize,
    param: bool,
    query: bool,
    ping: bool,
}

fn ty() -> impl Strategy<Value = Ty> {
    (
        prop::collection::vec((0..WORDS.len(), 0..FIELD_TYPES.len() + 3), 1..5),
        prop::option::of(1usize..4),
    )
        .prop_map(|(fields, enum_values)| Ty {
            fields,
            enum_values,
        })
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (
        0usize..3,
        0..MESSAGE_TYPES.len() + 3,
        0..MESSAGE_TYPES.len() + 3,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(mode, receive, send, reply, stream, closes, (param, query, ping))| Endpoint {
                mode,
                receive,
                send,
                reply,
                stream,
                closes,
                param,
                query,
                ping,
            },
        )
}

fn spec() -> impl Strategy<Value = (Vec<Ty>, Vec<Vec<Endpoint>>)> {
    (
        prop::collection::vec(ty(), 0..4),
        prop::collection::vec(prop::collection::vec(endpoint(), 1..4), 1..3),
    )
}

/// Renders a random spec as YAML. Names carry their index so that they stay distinct after
/// case conversion; words include Rust keywords on purpose.
fn render((types, controllers): &(Vec<Ty>, Vec<Vec<Endpoint>>)) -> String {
    let mut yaml = String::from("wsgen: 1\nname: random\ndocs: A random spec.\ntypes:\n");
    let structs: Vec<usize> = (0..types.len())
        .filter(|i| types[*i].enum_values.is_none())
        .collect();
    for (i, t) in types.iter().enumerate() {
        yaml.push_str(&format!("  T{i}:\n    docs: Type {i}.\n"));
        match t.enum_values {
            Some(n) => {
                let values: Vec<String> = (0..n).map(|v| format!("v{v}-{}", WORDS[v])).collect();
                yaml.push_str(&format!("    enum: [{}]\n", values.join(", ")));
            }
            None => {
                yaml.push_str("    fields:\n");
                for (f, (word, ty)) in t.fields.iter().enumerate() {
                    // Beyond the primitives: a list of, or an optional, earlier type.
                    let ty = match ty.checked_sub(FIELD_TYPES.len()) {
                        None => FIELD_TYPES[*ty].to_owned(),
                        Some(k) if i > 0 => {
                            let earlier = format!("T{}", (i + k) % i);
                            if k % 2 == 0 {
                                format!("list<{earlier}>")
                            } else {
                                format!("{earlier}?")
                            }
                        }
                        Some(_) => "string".to_owned(),
                    };
                    yaml.push_str(&format!(
                        "      {}{f}: \"{ty}\"\n",
                        WORDS[*word].replace('-', "_")
                    ));
                }
            }
        }
    }
    yaml.push_str("controllers:\n");
    for (c, endpoints) in controllers.iter().enumerate() {
        yaml.push_str(&format!("  c{c}:\n    path: /c{c}\n    endpoints:\n"));
        for (e, ep) in endpoints.iter().enumerate() {
            let mode = ["two_way", "receive_only", "send_only"][ep.mode];
            let message = |k: usize| match k.checked_sub(MESSAGE_TYPES.len()) {
                None => MESSAGE_TYPES[k].to_owned(),
                Some(j) if !types.is_empty() => format!("T{}", j % types.len()),
                Some(_) => "string".to_owned(),
            };
            let path = if ep.param {
                format!("/e{e}/{{id}}")
            } else {
                format!("/e{e}")
            };
            yaml.push_str(&format!("      e{e}_{}:\n        docs: Endpoint {e}.\n        path: \"{path}\"\n        mode: {mode}\n", WORDS[e % WORDS.len()].replace('-', "_")));
            if ep.mode != 2 {
                yaml.push_str(&format!("        receive: {}\n", message(ep.receive)));
            }
            if ep.mode != 1 {
                yaml.push_str(&format!("        send: {}\n", message(ep.send)));
            }
            if ep.stream {
                yaml.push_str("        style: stream\n");
            } else if ep.reply && ep.mode == 0 {
                yaml.push_str("        reply: true\n");
            }
            if ep.param {
                yaml.push_str("        params: { id: u64 }\n");
            }
            if ep.query {
                yaml.push_str("        query: { token: string, page: u32? }\n");
            }
            if ep.ping {
                yaml.push_str("        ping: { every: 30s, timeout: 10s }\n");
            }
            if ep.closes > 0 {
                yaml.push_str("        close:\n");
                for k in 0..ep.closes {
                    yaml.push_str(&format!(
                        "          reason{k}: {{ code: {}, reason: \"closing {k}\" }}\n",
                        4000 + k
                    ));
                }
            }
        }
    }
    let _ = structs;
    yaml
}

fn generate(yaml: &str) -> String {
    let source = wsgen::Source {
        name: "random.yaml".to_owned(),
        text: yaml.to_owned(),
    };
    let files = wsgen::generate_source(&source).unwrap_or_else(|e| panic!("{e}\n\n{yaml}"));
    files.into_iter().map(|f| f.contents).collect()
}

proptest! {
    #![proptest_config(Config::with_cases(64))]

    #[test]
    fn random_valid_specs_generate_deterministic_rust(spec in spec()) {
        let yaml = render(&spec);
        let first = generate(&yaml);
        let second = generate(&yaml);
        prop_assert_eq!(&first, &second);
        if let Err(e) = syn::parse_file(&first) {
            panic!("{e}\n\n{yaml}\n\n{first}");
        }
    }
}

#[test]
fn a_sample_of_random_specs_compiles() {
    // A fixed seed: the same three specs on every run.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let mut lib = String::new();
    for i in 0..3 {
        let spec = spec().new_tree(&mut runner).unwrap().current();
        std::fs::write(
            dir.path().join(format!("src/s{i}.rs")),
            generate(&render(&spec)),
        )
        .unwrap();
        lib.push_str(&format!("pub mod s{i};\n"));
    }
    // The spec `wsgen init` writes compiles too, and so does every limit key.
    let starter = wsgen::starter_spec("starter").unwrap();
    std::fs::write(dir.path().join("src/starter.rs"), generate(&starter)).unwrap();
    lib.push_str("pub mod starter;\n");
    let limits = std::fs::read_to_string(root.join("tests/specs/valid/every_limit.yaml")).unwrap();
    std::fs::write(dir.path().join("src/every_limit.rs"), generate(&limits)).unwrap();
    lib.push_str("pub mod every_limit;\n");
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    let manifest = format!(
        "[package]\nname = \"random-specs\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nwsgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("runtime").display().to_string()
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins the same versions, so nothing new is resolved.
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let output = std::process::Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--offline"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", root.join("target/random-specs"))
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Names a user might write that the generator has to survive: keywords of Rust and
/// TypeScript, names that collide after case conversion, Unicode, control characters, comment
/// terminators, and a few plain ones so that many specs pass `check`.
const ADVERSARIAL_NAMES: &[&str] = &[
    "room",
    "chat",
    "user-name",
    "self",
    "Self",
    "super",
    "crate",
    "async",
    "await",
    "type",
    "match",
    "fn",
    "try",
    "gen",
    "new",
    "default",
    "from_ip",
    "into_x",
    "constructor",
    "prototype",
    "__proto__",
    "delete",
    "function",
    "typeof",
    "interface",
    "undefined",
    "null",
    "NaN",
    "Infinity",
    "http",
    "h-t-t-p",
    "HTTP",
    "Http_",
    "a_b",
    "aB",
    "a-b",
    "café",
    "ß",
    "日本",
    "a\nb",
    "a\rb",
    "tab\tname",
    "nul\u{0}",
    "*/",
    "/*",
    "-->",
    "`tick`",
    "🎉",
    "__",
    "_",
    "",
    "9lives",
    "Json",
    "Frame",
    "String",
    "Option",
    "int",
    "bool",
    "x\u{202e}y",
    "list",
    "map",
];

/// Docs that look like code, markup or trouble.
const ADVERSARIAL_DOCS: &[&str] = &[
    "Plain docs.",
    "Ends in a semicolon;\n\nThen more.",
    "}\n\n{",
    "```\nfn main() { broken( }\n```",
    "~~~\nnot rust either(\n~~~",
    "```no_run\nlet x = ;\n```",
    "```rust,ignore\nnope(\n```",
    "```python\nprint('hi')\n```",
    "Text\n\n    indented code (\n\nafter",
    "bare\rcarriage\rreturns",
    "CRLF\r\nline",
    "comment */ terminator /* and <!-- html -->",
    "- list item\nlazy continuation",
    "> quote\nlazy",
    "\ttabbed",
    "bidi \u{202e}reversed\u{202c} and \u{2066}isolate\u{2069}",
    "controls \u{0}\u{7}\u{1b}[31m",
    "Ünïcödé 日本語 🎉",
    "\\ backslash \" quote ' apostrophe `tick`",
    "",
    "   ",
];

/// A YAML double-quoted scalar holding exactly `text`: everything but printable ASCII is
/// escaped, so that the file itself holds no control or bidirectional character.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// A name and its docs, as indexes into the lists above.
type Named = (usize, usize);
/// A type: its name, docs, fields (or union variants), enum values, and whether it is a union.
type HostileType = (usize, usize, Vec<Named>, Vec<usize>, bool);

#[derive(Debug, Clone)]
struct Hostile {
    types: Vec<HostileType>,
    /// A controller: its name, docs and endpoints.
    controllers: Vec<(usize, usize, Vec<Named>)>,
    middleware: Option<(usize, usize)>,
    api_docs: usize,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    // Half the draws from the first, mostly accepted, names: enough specs pass `check` for
    // the implication to be exercised.
    let name = || prop_oneof![0..20usize, 0..ADVERSARIAL_NAMES.len()];
    let docs = || 0..ADVERSARIAL_DOCS.len();
    let ty = (
        name(),
        docs(),
        prop::collection::vec((name(), docs()), 1..4),
        prop::collection::vec(name(), 0..3),
        any::<bool>(),
    );
    let controller = (
        name(),
        docs(),
        prop::collection::vec((name(), docs()), 1..3),
    );
    (
        prop::collection::vec(ty, 0..3),
        prop::collection::vec(controller, 1..3),
        prop::option::of((name(), docs())),
        docs(),
    )
        .prop_map(|(types, controllers, middleware, api_docs)| Hostile {
            types,
            controllers,
            middleware,
            api_docs,
        })
}

fn render_hostile(spec: &Hostile) -> String {
    let n = |i: usize| quoted(ADVERSARIAL_NAMES[i]);
    let d = |i: usize| quoted(ADVERSARIAL_DOCS[i]);
    let mut yaml = format!("wsgen: 1\nname: hostile\ndocs: {}\n", d(spec.api_docs));
    if let Some((name, docs)) = spec.middleware {
        yaml.push_str(&format!(
            "middleware:\n  {}: {{ docs: {} }}\n",
            n(name),
            d(docs)
        ));
    }
    if !spec.types.is_empty() {
        yaml.push_str("types:\n");
    }
    let mut first_type = None;
    for (name, docs, fields, values, union) in &spec.types {
        yaml.push_str(&format!("  {}:\n    docs: {}\n", n(*name), d(*docs)));
        if !values.is_empty() {
            let values: Vec<String> = values.iter().map(|v| n(*v)).collect();
            yaml.push_str(&format!("    enum: [{}]\n", values.join(", ")));
        } else if *union {
            yaml.push_str("    union:\n      variants:\n");
            for (field, docs) in fields {
                yaml.push_str(&format!(
                    "        {}: {{ docs: {}, fields: {{ {}: string }} }}\n",
                    n(*field),
                    d(*docs),
                    n(*field)
                ));
            }
        } else {
            first_type.get_or_insert(*name);
            yaml.push_str("    fields:\n");
            for (field, docs) in fields {
                yaml.push_str(&format!(
                    "      {}: {{ type: string, min_length: 1, docs: {} }}\n",
                    n(*field),
                    d(*docs)
                ));
            }
        }
    }
    yaml.push_str("controllers:\n");
    for (c, (name, docs, endpoints)) in spec.controllers.iter().enumerate() {
        yaml.push_str(&format!(
            "  {}:\n    docs: {}\n    path: /c{c}\n",
            n(*name),
            d(*docs)
        ));
        if let Some((mw, _)) = spec.middleware {
            yaml.push_str(&format!("    middleware: [{}]\n", n(mw)));
        }
        yaml.push_str("    endpoints:\n");
        for (e, (name, docs)) in endpoints.iter().enumerate() {
            yaml.push_str(&format!(
                "      {}:\n        docs: {}\n        path: /e{e}\n",
                n(*name),
                d(*docs)
            ));
            if let Some(ty) = first_type {
                yaml.push_str(&format!(
                    "        receive: {}\n        send: {}\n        reply: true\n",
                    n(ty),
                    n(ty)
                ));
            }
        }
    }
    yaml
}

/// Whether `wsgen check` accepts the spec; when it does, both targets must generate, and the
/// Rust must parse.
fn accepted_generates(yaml: &str) -> bool {
    let source = wsgen::Source {
        name: "hostile.yaml".to_owned(),
        text: yaml.to_owned(),
    };
    match wsgen::check_source(&source) {
        Ok(_) => {
            let rust = wsgen::generate_source(&source)
                .unwrap_or_else(|e| panic!("check accepts, Rust generation fails: {e}\n\n{yaml}"));
            for file in &rust {
                if let Err(e) = syn::parse_file(&file.contents) {
                    panic!("{e}\n\n{yaml}");
                }
            }
            wsgen::generate_target_source(&source, wsgen::Target::TypeScript).unwrap_or_else(|e| {
                panic!("check accepts, TypeScript generation fails: {e}\n\n{yaml}")
            });
            true
        }
        Err(wsgen::Error::Spec(diagnostics)) => {
            assert!(!diagnostics.0.is_empty());
            false
        }
        Err(other) => panic!("check fails without a diagnostic: {other}\n\n{yaml}"),
    }
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn every_hostile_spec_check_accepts_generates_for_both_targets(spec in hostile()) {
        accepted_generates(&render_hostile(&spec));
    }
}

#[test]
fn a_sample_of_accepted_hostile_specs_is_warning_and_clippy_clean() {
    // A fixed seed: the same specs on every run; the first few that `check` accepts are
    // compiled together.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[21; 32]),
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    let mut lib = String::from("//! Accepted hostile specs.\n#![deny(warnings)]\n");
    let mut accepted = 0;
    for _ in 0..2_000 {
        let spec = hostile().new_tree(&mut runner).unwrap().current();
        let yaml = render_hostile(&spec);
        if !accepted_generates(&yaml) {
            continue;
        }
        let source = wsgen::Source {
            name: "hostile.yaml".to_owned(),
            text: yaml,
        };
        let rust = wsgen::generate_source(&source).unwrap();
        std::fs::write(
            dir.path().join(format!("src/h{accepted}.rs")),
            &rust[0].contents,
        )
        .unwrap();
        lib.push_str(&format!("pub mod h{accepted};\n"));
        accepted += 1;
        if accepted == 4 {
            break;
        }
    }
    assert_eq!(
        accepted, 4,
        "enough hostile specs pass check to compile a sample"
    );
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    let manifest = format!(
        "[package]\nname = \"hostile-specs\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nwsgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("runtime").display().to_string()
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    for args in [
        &["clippy", "--quiet", "--offline", "--", "-D", "warnings"][..],
        &["test", "--quiet", "--offline", "--doc"][..],
    ] {
        let output = std::process::Command::new(env!("CARGO"))
            .args(args)
            .current_dir(dir.path())
            // Shared with the edge-case catalogue (tests/edge_specs.rs): the runtime builds once.
            .env("CARGO_TARGET_DIR", root.join("target/edge-specs"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo {args:?}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
