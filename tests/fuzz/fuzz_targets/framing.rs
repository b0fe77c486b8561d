//! Framing: any bytes, cut into any pieces, with any limit, give the same
//! lines in the same order as splitting the whole input at once, and the
//! lane's buffer never outgrows the message limit.
#![no_main]

use cordon::mcp::Verdict;
use cordon::relay::{Event, Lane};
use libfuzzer_sys::fuzz_target;

/// Lines starting with `{` pass, others are dropped, over-long ones are
/// replaced: enough to see every line's fate in the output.
fn decide(event: Event<'_>) -> Verdict {
    match event {
        Event::Line(line) if line.first() == Some(&b'{') => Verdict::Forward,
        Event::Line(_) => Verdict::Drop,
        Event::Overlong(_) => Verdict::Replace(b"R\n".to_vec()),
    }
}

fn expected(input: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = pieces.len() - 1;
    for (i, line) in pieces.into_iter().enumerate() {
        let end: &[u8] = if i == last { b"" } else { b"\n" };
        if line.len() > limit {
            out.extend_from_slice(b"R\n");
        } else if line.first() == Some(&b'{') {
            out.extend_from_slice(line);
            out.extend_from_slice(end);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c, input @ ..] = data else { return };
    let limit = 1024 + usize::from(*a) * 64;
    let piece = 1 + usize::from(*b) * usize::from(*c);
    let mut lane = Lane::new(limit);
    let (mut fed, mut out) = (0, Vec::new());
    let mut round = 0usize;
    loop {
        if fed == input.len() {
            lane.close_source();
        } else {
            fed += lane.feed(&input[fed..(fed + piece).min(input.len())]);
        }
        while let Some(event) = lane.next_event() {
            let verdict = decide(event);
            lane.apply(verdict);
        }
        assert!(lane.capacity() <= (256 * 1024usize).max(limit + 1).max(4096));
        round += 1;
        if round % 3 == 0 || fed == input.len() {
            lane.drain_output(&mut out);
        }
        if lane.drained() {
            break;
        }
    }
    assert_eq!(out, expected(input, limit));
});
