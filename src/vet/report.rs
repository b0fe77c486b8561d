//! What `cordon vet` learned about a server, as text for a person or JSON
//! for a program.

use serde::Serialize;
use serde_json::Value;

use super::flags;
use crate::consent::{escape_text, pins};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub server_name: String,
    pub server_version: String,
    pub protocol_version: String,
    /// The server's `instructions` for the model, if it sent any.
    pub instructions: Option<String>,
    pub instructions_flags: Vec<String>,
    pub tools: Vec<Item>,
    pub prompts: Vec<Item>,
    pub resources: Vec<Item>,
    /// Lines on the server's stdout that were not JSON-RPC.
    pub stray_output: Vec<String>,
    /// Lines of the server's stderr that look like the sandbox said no.
    pub denials: Vec<String>,
    /// Requests that failed (a list the server advertised but did not serve).
    pub errors: Vec<String>,
    /// Which lists the server said it serves: (tools, prompts, resources).
    #[serde(skip)]
    pub capabilities: (bool, bool, bool),
}

/// One tool, prompt or resource.
#[derive(Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub description: String,
    /// Tools: the input schema's properties (`name: type`, required marked
    /// `*`); prompts: their arguments; resources: the URI.
    pub summary: String,
    /// Tools only: the pin recorded at approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    pub flags: Vec<String>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub fn tool(v: &Value) -> Item {
    let name = text(v, "name");
    let description = text(v, "description");
    let mut flags = flags::name_flags(&name);
    flags.extend(flags::text_flags(&description));
    flags.extend(flags::text_flags(&text(v, "title")));
    if let Some(annotations) = v.get("annotations") {
        flags.extend(flags::text_flags(&annotations.to_string()));
    }
    Item {
        summary: schema_summary(v.get("inputSchema")),
        pin: Some(pins::tool_digest(v)),
        name,
        description,
        flags,
    }
}

pub fn prompt(v: &Value) -> Item {
    let args: Vec<String> = v
        .get("arguments")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| text(x, "name")).collect())
        .unwrap_or_default();
    let description = text(v, "description");
    let mut flags = flags::text_flags(&description);
    flags.extend(
        flags::name_flags(&text(v, "name"))
            .into_iter()
            .filter(|f| f.contains("non-ASCII")),
    );
    Item {
        name: text(v, "name"),
        summary: args.join(", "),
        pin: None,
        description,
        flags,
    }
}

pub fn resource(v: &Value) -> Item {
    let description = text(v, "description");
    Item {
        name: text(v, "name"),
        summary: text(v, "uri"),
        pin: None,
        flags: flags::text_flags(&description),
        description,
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
    pub fn flag_count(&self) -> usize {
        self.instructions_flags.len()
            + [&self.tools, &self.prompts, &self.resources]
                .iter()
                .flat_map(|v| v.iter())
                .map(|i| i.flags.len())
                .sum::<usize>()
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
        out.push_str(&format!("flags: {}\n", self.flag_count()));
        out
    }
}

fn push_flags(out: &mut String, flags: &[String]) {
    for flag in flags {
        out.push_str(&format!("    FLAG: {}\n", escape_text(flag)));
    }
}
