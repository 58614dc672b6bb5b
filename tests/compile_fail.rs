//! Direction and completeness are enforced by types: these programs must not compile, and the
//! compiler's message for each is locked in `tests/ui/*.stderr`.

#[test]
fn generated_types_refuse_what_the_spec_forbids() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
