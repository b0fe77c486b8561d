//! What `cordon vet` learned about a server, as text for a person or JSON
//! for a program. Every flag has a stable `code` and a `severity` (see
//! [`super::flags`]); `vet` exits 1 when one is high.

use serde::Serialize;
use serde_json::Value;

use super::flags::{self, Flag};
use crate::consent::escape_text;
use crate::mcp::hygiene::Severity;
use crate::mcp::pins::{self, PinSet};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub server_name: String,
    pub server_version: String,
    pub protocol_version: String,
    /// The server's `instructions` for the model, if it sent any.
    pub instructions: Option<String>,
    pub instructions_flags: Vec<Flag>,
    /// The pin of the instructions (of their absence when there are none).
    pub instructions_pin: Option<String>,
    pub tools: Vec<Item>,
    pub prompts: Vec<Item>,
    pub resources: Vec<Item>,
    pub resource_templates: Vec<Item>,
    /// Lines on the server's stdout that were not JSON-RPC.
    pub stray_output: Vec<String>,
    /// Lines of the server's stderr that look like the sandbox said no.
    pub denials: Vec<String>,
    /// Requests that failed (a list the server advertised but did not serve).
    pub errors: Vec<String>,
    /// The highest severity of any flag, `null` when nothing was flagged.
    pub highest_severity: Option<Severity>,
    /// Which lists the server said it serves: (tools, prompts, resources).
    #[serde(skip)]
    pub capabilities: (bool, bool, bool),
}

/// One tool, prompt, resource or resource template.
#[derive(Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub description: String,
    /// Tools: the input schema's properties (`name: type`, required marked
    /// `*`); prompts: their arguments; resources: the URI; templates: the
    /// URI template.
    pub summary: String,
    /// Tools, prompts and templates: the pin recorded at approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    pub flags: Vec<Flag>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Flags for a whole definition: its name, then every string in it
/// (descriptions, titles, schema descriptions, arguments, annotations).
fn definition_flags(v: &Value, name: &str, tool: bool) -> Vec<Flag> {
    let mut flags = flags::name_flags(name, tool);
    flags.extend(flags::value_flags(v));
    flags
}

pub fn tool(v: &Value) -> Item {
    let name = text(v, "name");
    Item {
        summary: schema_summary(v.get("inputSchema")),
        pin: Some(pins::digest(v)),
        flags: definition_flags(v, &name, true),
        description: text(v, "description"),
        name,
    }
}

pub fn prompt(v: &Value) -> Item {
    let args: Vec<String> = v
        .get("arguments")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| text(x, "name")).collect())
        .unwrap_or_default();
    let name = text(v, "name");
    Item {
        summary: args.join(", "),
        pin: Some(pins::prompt_digest(v)),
        flags: definition_flags(v, &name, false),
        description: text(v, "description"),
        name,
    }
}

pub fn resource(v: &Value) -> Item {
    let name = text(v, "name");
    Item {
        summary: text(v, "uri"),
        pin: None,
        // A resource's name is data (a file name, say): only its text is
        // checked.
        flags: flags::value_flags(v),
        description: text(v, "description"),
        name,
    }
}

pub fn template(v: &Value) -> Item {
    let name = text(v, "name");
    Item {
        summary: text(v, "uriTemplate"),
        pin: Some(pins::template_digest(v)),
        flags: definition_flags(v, &name, false),
        description: text(v, "description"),
        name,
    }
}

/// `path: string*, depth: integer`: the top-level properties of a JSON
/// schema, required ones starred.
fn schema_summary(schema: Option<&Value>) -> String {
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return "(no parameters)".into();
    };
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut parts: Vec<String> = props
        .iter()
        .map(|(name, p)| {
            let ty = p.get("type").map_or_else(
                || "any".to_owned(),
                |t| t.as_str().map_or(t.to_string(), str::to_owned),
            );
            let star = if required.contains(&name.as_str()) {
                "*"
            } else {
                ""
            };
            format!("{name}: {ty}{star}")
        })
        .collect();
    parts.sort();
    parts.join(", ")
}

impl Report {
    fn all_flags(&self) -> impl Iterator<Item = &Flag> {
        self.instructions_flags.iter().chain(
            [
                &self.tools,
                &self.prompts,
                &self.resources,
                &self.resource_templates,
            ]
            .into_iter()
            .flat_map(|v| v.iter())
            .flat_map(|i| i.flags.iter()),
        )
    }

    pub fn flag_count(&self) -> usize {
        self.all_flags().count()
    }

    /// Fills in the summary fields once the interview is over.
    pub fn finish(&mut self) {
        self.highest_severity = self.all_flags().map(|f| f.severity).max();
    }

    /// Whether any flag is high: `vet` then exits 1.
    pub fn has_high(&self) -> bool {
        self.all_flags().any(|f| f.severity == Severity::High)
    }

    /// The pins an approval from this report records: every kind the
    /// server was asked about (a kind it does not serve is pinned empty,
    /// so offering it later is a change).
    pub fn pins(&self) -> PinSet {
        let of = |items: &[Item]| -> pins::Pins {
            items
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.pin.clone()?)))
                .collect()
        };
        let templates = self
            .resource_templates
            .iter()
            .filter_map(|t| Some((t.summary.clone(), t.pin.clone()?)))
            .collect();
        PinSet {
            version: pins::VERSION,
            tools: Some(of(&self.tools)),
            instructions: self.instructions_pin.clone(),
            prompts: Some(of(&self.prompts)),
            templates: Some(templates),
        }
    }

    /// The report for a person; every string from the server is escaped.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let e = |s: &str| escape_text(s);
        out.push_str(&format!(
            "server: {} {} (protocol {})\n",
            e(&self.server_name),
            e(&self.server_version),
            e(&self.protocol_version)
        ));
        if let Some(instructions) = &self.instructions {
            out.push_str(&format!("instructions: {}\n", e(instructions)));
            push_flags(&mut out, &self.instructions_flags);
        }
        for (title, items) in [
            ("tools", &self.tools),
            ("prompts", &self.prompts),
            ("resources", &self.resources),
            ("resource templates", &self.resource_templates),
        ] {
            out.push_str(&format!("{title}: {}\n", items.len()));
            for item in items {
                out.push_str(&format!("  {}({})\n", e(&item.name), e(&item.summary)));
                if !item.description.is_empty() {
                    out.push_str(&format!("    {}\n", e(&item.description)));
                }
                if let Some(pin) = &item.pin {
                    out.push_str(&format!("    pin: sha256:{pin}\n"));
                }
                push_flags(&mut out, &item.flags);
            }
        }
        for (title, lines) in [
            ("stray output", &self.stray_output),
            ("sandbox denials seen on stderr", &self.denials),
            ("errors", &self.errors),
        ] {
            if !lines.is_empty() {
                out.push_str(&format!("{title}:\n"));
                for line in lines {
                    out.push_str(&format!("  {}\n", e(line)));
                }
            }
        }
        let highest = match self.highest_severity {
            Some(Severity::High) => " (highest: high)",
            Some(Severity::Medium) => " (highest: medium)",
            Some(Severity::Low) => " (highest: low)",
            None => "",
        };
        out.push_str(&format!("flags: {}{highest}\n", self.flag_count()));
        out
    }
}

/// `FLAG high hidden-html-comment: an HTML comment (hidden when rendered)`.
fn push_flags(out: &mut String, flags: &[Flag]) {
    for flag in flags {
        let severity = match flag.severity {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        out.push_str(&format!(
            "    FLAG {severity} {}: {}\n",
            flag.code,
            escape_text(&flag.message)
        ));
    }
}
