//! Every key of a spec's `limits` becomes its call on the runtime's `Limits` builder, with the
//! value converted (sizes to bytes, durations to milliseconds, policies to variants): the
//! top-level section into `LIMITS`, an endpoint's into its `Endpoint::limits` override.

#[test]
fn every_limit_key_becomes_its_builder_call() {
    let files = wsgen::generate(std::path::Path::new("tests/specs/valid/every_limit.yaml"))
        .expect("the spec is valid");
    let code = &files[0].contents;
    syn::parse_file(code).expect("the output is Rust");
    // Formatting breaks the chains over lines; compare without whitespace.
    let flat: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let server = "pubconstLIMITS:wsgen_runtime::Limits=wsgen_runtime::Limits::DEFAULT\
        .with_max_message_size(1048576)\
        .with_max_frame_size(262144)\
        .with_read_buffer(4096)\
        .with_send_queue(64)\
        .with_slow_consumer(wsgen_runtime::SlowConsumer::PolicyViolation)\
        .with_idle_timeout(Some(std::time::Duration::from_millis(300000)))\
        .with_write_timeout(std::time::Duration::from_millis(3000))\
        .with_close_timeout(std::time::Duration::from_millis(750))\
        .with_max_header_size(4096)\
        .with_max_connections(500)\
        .with_handshake_timeout(std::time::Duration::from_millis(2000))\
        .with_shutdown_timeout(std::time::Duration::from_millis(60000));";
    assert!(flat.contains(server), "server limits:\n{code}");
    let endpoint = "fnlimits(&self,server:wsgen_runtime::Limits)->wsgen_runtime::Limits{server\
        .with_max_message_size(512)\
        .with_max_frame_size(512)\
        .with_read_buffer(1024)\
        .with_send_queue(8)\
        .with_slow_consumer(wsgen_runtime::SlowConsumer::Reject)\
        .with_idle_timeout(None)\
        .with_write_timeout(std::time::Duration::from_millis(1000))\
        .with_close_timeout(std::time::Duration::from_millis(100))}";
    assert!(flat.contains(endpoint), "endpoint limits:\n{code}");
    assert!(flat.contains(".limits(LIMITS)"), "into_server applies them");
}
