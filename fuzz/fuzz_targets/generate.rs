//! Fuzzes the whole generator: load (UTF-8 check), parse, shape check, validate, render and
//! format, for both targets. Any input must give a spec error (a diagnostic with a position) or,
//! when `check` accepts it, generated Rust and TypeScript: a spec `check` accepts and a target
//! cannot generate is a crash, whatever the error (an internal error is not a panic, but it is
//! as much a bug).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = match wsgen::load_bytes("fuzz.yaml", data.to_vec()) {
        Ok(source) => source,
        Err(wsgen::Error::Spec(diagnostics)) => return assert!(!diagnostics.0.is_empty()),
        Err(other) => panic!("loading failed without a diagnostic: {other}"),
    };
    match wsgen::check_source(&source) {
        Ok(_) => {
            match wsgen::generate_source(&source) {
                Ok(files) => assert!(!files.is_empty()),
                Err(e) => panic!("check accepts the spec, Rust generation fails: {e}"),
            }
            match wsgen::generate_target_source(&source, wsgen::Target::TypeScript) {
                Ok(files) => assert!(!files.is_empty()),
                Err(e) => panic!("check accepts the spec, TypeScript generation fails: {e}"),
            }
        }
        Err(wsgen::Error::Spec(diagnostics)) => assert!(!diagnostics.0.is_empty()),
        // Anything but a spec error from checking is a generator bug: fail loudly.
        Err(other) => panic!("{other}"),
    }
});
