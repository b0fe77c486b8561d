//! One case per fixed escape or sandbox bug, so it stays fixed.
//!
//! Naming rule: `rNNN_short_description`, where NNN is the number of the
//! issue (or pull request) that reported it, with a comment linking to it
//! above the function, as ripgrep's `tests/regression.rs` does. Each case
//! follows the suite's rule: the escape fails, a nearby allowed action
//! works. Add the case to the list below.

use crate::world::Case;

pub fn cases() -> Vec<Case> {
    Vec::new()
}
