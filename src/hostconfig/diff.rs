//! A unified line diff, for `--dry-run`.
//!
//! Myers' greedy algorithm (O((N+M)·D) time, O(D²) memory for the trace)
//! after trimming the common head and tail: a wrap changes a few lines of
//! a file that may be long (Claude Code's `~/.claude.json`), so D stays
//! small. Hunks carry three lines of context, as `diff -u` does.

/// One line of the edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Delete,
    Insert,
}

const CONTEXT: usize = 3;

/// `diff -u`-style text turning `old` into `new`; empty when they are
/// equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = edit_script(&a, &b);
    if ops.iter().all(|op| *op == Op::Keep) {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for hunk in hunks(&ops) {
        render_hunk(
            &mut out,
            &ops[hunk.0..hunk.1],
            &a,
            &b,
            position(&ops, hunk.0),
        );
    }
    out
}

/// The line numbers (0-based) in `a` and `b` reached before `ops[..at]`.
fn position(ops: &[Op], at: usize) -> (usize, usize) {
    ops[..at].iter().fold((0, 0), |(i, j), op| match op {
        Op::Keep => (i + 1, j + 1),
        Op::Delete => (i + 1, j),
        Op::Insert => (i, j + 1),
    })
}

/// Ranges of `ops` to print: each change with up to CONTEXT kept lines
/// around it, merging changes that are close.
fn hunks(ops: &[Op]) -> Vec<(usize, usize)> {
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        if *op == Op::Keep {
            continue;
        }
        let start = k.saturating_sub(CONTEXT);
        let end = (k + 1 + CONTEXT).min(ops.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    hunks
}

fn render_hunk(
    out: &mut String,
    ops: &[Op],
    a: &[&str],
    b: &[&str],
    (mut i, mut j): (usize, usize),
) {
    let old_len = ops.iter().filter(|op| **op != Op::Insert).count();
    let new_len = ops.iter().filter(|op| **op != Op::Delete).count();
    // diff -u numbers lines from 1, and names the line before an empty range.
    let first = |start: usize, len: usize| if len == 0 { start } else { start + 1 };
    out.push_str(&format!(
        "@@ -{},{} +{},{} @@\n",
        first(i, old_len),
        old_len,
        first(j, new_len),
        new_len
    ));
    for op in ops {
        let (mark, line) = match op {
            Op::Keep => (' ', a[i]),
            Op::Delete => ('-', a[i]),
            Op::Insert => ('+', b[j]),
        };
        out.push(mark);
        out.push_str(line);
        out.push('\n');
        match op {
            Op::Keep => (i, j) = (i + 1, j + 1),
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
}

/// The shortest edit script from `a` to `b`.
fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut ops = vec![Op::Keep; head];
    ops.extend(myers(&a[head..a.len() - tail], &b[head..b.len() - tail]));
    ops.extend(std::iter::repeat_n(Op::Keep, tail));
    ops
}

/// Myers' forward greedy search, keeping each round's frontier to walk
/// the path back.
fn myers(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    // v[k + offset]: the furthest x reached on diagonal k = x - y.
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'search: for d in 0..=max as isize {
        trace.push(v.clone());
        for k in (-d..=d).step_by(2) {
            let down =
                k == -d || (k != d && v[(k - 1 + offset) as usize] < v[(k + 1 + offset) as usize]);
            let mut x = if down {
                v[(k + 1 + offset) as usize]
            } else {
                v[(k - 1 + offset) as usize] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(k + offset) as usize] = x;
            if x >= n && y >= m {
                break 'search;
            }
        }
    }
    backtrack(&trace, n, m, offset)
}

fn backtrack(trace: &[Vec<isize>], n: isize, m: isize, offset: isize) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let k = x - y;
        let down =
            k == -d || (k != d && v[(k - 1 + offset) as usize] < v[(k + 1 + offset) as usize]);
        let prev_k = if down { k + 1 } else { k - 1 };
        let prev_x = v[(prev_k + offset) as usize];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Keep);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if down { Op::Insert } else { Op::Delete });
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.reverse();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_give_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn a_change_is_shown_with_three_lines_of_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified(old, new, "a", "b"),
            "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks_and_close_ones_merge() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("2\n", "two\n").replace("19\n", "nineteen\n");
        let diff = unified(&old, &new, "a", "b");
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        let new = old.replace("5\n", "five\n").replace("9\n", "nine\n");
        assert_eq!(unified(&old, &new, "a", "b").matches("@@ -").count(), 1);
    }

    #[test]
    fn insertions_and_deletions_apply_back_to_the_new_text() {
        let old = "a\nb\nc\nd\n";
        let new = "x\na\nc\nd\ny\nz\n";
        let a: Vec<&str> = old.lines().collect();
        let b: Vec<&str> = new.lines().collect();
        let ops = edit_script(&a, &b);
        let (mut i, mut j, mut rebuilt) = (0, 0, Vec::new());
        for op in ops {
            match op {
                Op::Keep => {
                    rebuilt.push(a[i]);
                    i += 1;
                    j += 1;
                }
                Op::Delete => i += 1,
                Op::Insert => {
                    rebuilt.push(b[j]);
                    j += 1;
                }
            }
        }
        assert_eq!(rebuilt, b);
        assert_eq!((i, j), (a.len(), b.len()));
        assert!(unified("", "a\n", "x", "y").contains("@@ -0,0 +1,1 @@"));
    }
}
