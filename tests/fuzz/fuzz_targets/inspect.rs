//! Message inspection: the validator accepts exactly what serde_json (plus
//! a UTF-8 check) accepts, short of its nesting limit, and the strict
//! reading accepts nothing it refuses; the envelope, the
//! sniffer and the filter never panic; everything cordon generates in
//! place of a line, or as a reply, is itself a valid MCP message; and the
//! sniffer finds the same id as the full parse.
#![no_main]

use std::sync::OnceLock;

use cordon::mcp::json::{self, JsonError};
use cordon::mcp::sniff::Sniffer;
use cordon::mcp::{Filter, RunFiles, Side, Verdict, envelope};
use cordon::policy::{PinMode, Policy};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let ctx = cordon::profile::Context::from_env().expect("a context");
        let mut policy = cordon::profile::load("default", &ctx).expect("the default profile");
        policy.mcp.pin = PinMode::Off;
        policy.mcp.tools.deny = vec!["rm*".into()];
        policy
    })
}

fn check_generated(line: &[u8]) {
    let text = line
        .strip_suffix(b"\n")
        .expect("a generated line ends with a newline");
    let text = text.strip_prefix(b"\n").unwrap_or(text);
    assert!(
        envelope::parse(text).is_ok(),
        "{}",
        String::from_utf8_lossy(line)
    );
}

fuzz_target!(|data: &[u8]| {
    let reference = std::str::from_utf8(data).is_ok()
        && serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    match json::validate(data) {
        Ok(()) => assert!(reference, "accepted what serde_json refuses"),
        Err(JsonError::TooDeep) => {}
        Err(_) => assert!(!reference, "refused what serde_json accepts"),
    }
    if json::strict(data).is_ok() {
        assert!(json::validate(data).is_ok(), "strict but not valid");
    }
    if let Ok(env) = envelope::parse(data) {
        if !data.contains(&b'\\') {
            let mut sniffer = Sniffer::default();
            sniffer.feed(data);
            assert_eq!(sniffer.finish().0.as_deref(), env.id);
        }
    }
    let files = RunFiles {
        state_dir: "/nonexistent".into(),
        pin_file: None,
        argv: Vec::new(),
    };
    let mut filter = Filter::new(policy(), &files).expect("a filter");
    // A request first, so a response line may find it in flight.
    for line in data.split(|&b| b == b'\n') {
        for side in [Side::Host, Side::Server] {
            let decision = filter.on_line(side, line);
            if let Verdict::Replace(generated) = &decision.verdict {
                check_generated(generated);
            }
            if let Some(reply) = &decision.reply {
                check_generated(reply);
            }
        }
    }
});
