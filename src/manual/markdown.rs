//! The subset of Markdown `profiles/README.md` is written in, as man(7)
//! roff: headings become sections, fenced blocks no-fill blocks, tables
//! tagged paragraphs (the first cell as the tag), lists indented
//! paragraphs; `code` is bold, links keep their text (and an outside
//! address after it). The title line, the table of contents and the note
//! addressed to the file's maintainers are left out.

use super::{escape, escape_line, protect_line_start};

/// The roff for `markdown`, starting with its DESCRIPTION section.
pub fn to_roff(markdown: &str) -> String {
    let mut w = Writer::default();
    w.out.push_str(".SH DESCRIPTION\n");
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            w.flush();
            w.out.push_str(".PP\n.RS 4\n.nf\n");
            for code in lines.by_ref().take_while(|l| !l.starts_with("```")) {
                w.out.push_str(&format!("{}\n", escape_line(code)));
            }
            w.out.push_str(".fi\n.RE\n");
        } else if line.starts_with('|') {
            w.flush();
            let mut rows = vec![line];
            while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                rows.push(row);
            }
            w.table(&rows);
        } else if let Some(title) = line.strip_prefix("# ") {
            // The page has its own title.
            let _ = title;
        } else if let Some(title) = line.strip_prefix("## ") {
            w.flush();
            w.out
                .push_str(&format!(".SH \"{}\"\n", heading(title).to_uppercase()));
        } else if let Some(title) = line.strip_prefix("### ").or(line.strip_prefix("#### ")) {
            w.flush();
            w.out.push_str(&format!(".SS \"{}\"\n", heading(title)));
        } else if line.trim().is_empty() {
            w.flush();
            w.blank = true;
        } else {
            w.text_line(line);
        }
    }
    w.flush();
    w.out
}

/// What is being gathered, and the output.
#[derive(Default)]
struct Writer {
    out: String,
    /// The text of the current paragraph or list item.
    text: Vec<String>,
    /// The roff line that starts it (`.PP`, `.IP …`).
    opener: String,
    /// Nesting of the current list: 0 outside a list.
    depth: usize,
    /// A blank line came before this line.
    blank: bool,
    /// Skipping the table of contents or the maintainers' note.
    skipping: bool,
}

impl Writer {
    fn text_line(&mut self, line: &str) {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        let bullet = body.strip_prefix("- ");
        let number = body
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if bullet.is_some() || number.is_some() {
            self.flush();
            let level = indent / 2 + 1;
            self.nest(level);
            let (tag, rest) = match (bullet, number) {
                (Some(rest), _) => ("\\(bu 2".to_owned(), rest),
                (None, Some((n, rest))) => (format!("{n}. 4"), rest),
                (None, None) => return,
            };
            self.skipping = rest.starts_with('[') && rest.contains("](#");
            self.opener = format!(".IP {tag}\n");
            self.text.push(rest.to_owned());
        } else if self.text.is_empty() {
            // A new paragraph: inside the list when indented like an item.
            self.nest(indent / 2);
            self.skipping = body.starts_with("This file is the reference");
            self.opener = if self.depth > 0 && self.blank {
                ".IP \"\" 2\n".to_owned()
            } else {
                ".PP\n".to_owned()
            };
            self.text.push(body.to_owned());
        } else {
            self.text.push(body.to_owned());
        }
        self.blank = false;
    }

    /// Opens or closes list levels up to `level`.
    fn nest(&mut self, level: usize) {
        while self.depth < level {
            if self.depth > 0 {
                self.out.push_str(".RS 2\n");
            }
            self.depth += 1;
        }
        while self.depth > level {
            if self.depth > 1 {
                self.out.push_str(".RE\n");
            }
            self.depth -= 1;
        }
    }

    fn flush(&mut self) {
        if !self.text.is_empty() && !self.skipping {
            let text = inline(&self.text.join(" "));
            self.out.push_str(&self.opener);
            self.out.push_str(&format!("{text}\n"));
        }
        self.text.clear();
    }

    /// `| a | b | c |` rows, the first the header, the second the rule:
    /// each row a tagged paragraph, the middle cells on a line of their
    /// own (`Type: …; Default: …`), the last below.
    fn table(&mut self, rows: &[&str]) {
        self.nest(0);
        let header = rows.first().map(|r| cells(r)).unwrap_or_default();
        for row in rows.iter().skip(2) {
            let cells = cells(row);
            let Some((first, rest)) = cells.split_first() else {
                continue;
            };
            let Some((last, middle)) = rest.split_last() else {
                continue;
            };
            self.out.push_str(&format!(".TP\n{}\n", inline(first)));
            let facts: Vec<String> = middle
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_empty())
                .map(|(i, c)| {
                    let name = header.get(i + 1).map_or("", String::as_str);
                    format!("{name}: {c}")
                })
                .collect();
            if !facts.is_empty() {
                self.out
                    .push_str(&format!("{}\n", inline(&facts.join("; "))));
                if !last.is_empty() {
                    self.out.push_str(".br\n");
                }
            }
            if !last.is_empty() {
                self.out.push_str(&format!("{}\n", inline(last)));
            }
        }
    }
}

/// The cells of a table row; `|` inside a code span is not a separator.
fn cells(row: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    for c in row
        .trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .chars()
    {
        match c {
            '`' => {
                in_code = !in_code;
                cell.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    cells
}

/// A heading's text: code marks dropped.
fn heading(title: &str) -> String {
    escape(&unlink(title).replace('`', ""))
}

/// Markdown inline text as roff: links keep their text, `code` and
/// **strong** are bold.
fn inline(text: &str) -> String {
    let text = unlink(text);
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{}\\fR", escape(part)));
            continue;
        }
        for (j, piece) in part.split("**").enumerate() {
            if j % 2 == 1 {
                out.push_str(&format!("\\fB{}\\fR", escape(piece)));
            } else {
                out.push_str(&escape(piece));
            }
        }
    }
    protect_line_start(&out)
}

/// `[text](#anchor)` → `text`; `[text](address)` → `text <address>`.
fn unlink(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(mid) = rest.find("](") {
        let Some(close) = rest[mid..].find(')').map(|i| mid + i) else {
            break;
        };
        let Some(open) = link_start(&rest[..mid]) else {
            out.push_str(&rest[..mid + 2]);
            rest = &rest[mid + 2..];
            continue;
        };
        let target = &rest[mid + 2..close];
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        if !target.starts_with('#') {
            out.push_str(&format!(" <{target}>"));
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The `[` that opens the link text ending at the end of `before`,
/// brackets inside the text balanced.
fn link_start(before: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in before.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth == 0 => return Some(i),
            '[' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_text_and_code_is_bold() {
        assert_eq!(
            inline("see [`[network]`](#network) and [man](https://x.example/a-b)"),
            "see \\fB[network]\\fR and man <https://x.example/a\\-b>"
        );
        assert_eq!(inline("**Names.** a-b"), "\\fBNames.\\fR a\\-b");
        assert_eq!(cells("| `a|b` | c |"), vec!["`a|b`", "c"]);
    }
}
