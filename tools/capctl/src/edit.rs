//! `capctl edit`: change a system description without losing its comments,
//! order or layout.
//!
//! Edits work on the `toml_edit` document, which keeps every byte that is
//! not touched. Comments in multi-line arrays stay with the element they
//! describe (TOML stores a comment after a comma with the *next* element,
//! so adding and removing elements moves those comments explicitly). The
//! edited text is checked in full before anything is written: an edit that
//! would make the file invalid is refused with the checker's errors.

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

use crate::diag::{did_you_mean, list_choices, render_all, Source};

/// What to grant or revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Map {
        region: String,
        rights: String,
        at: Option<u64>,
        cap: Option<String>,
    },
    Device(String),
    Irq(String),
    Channel {
        channel: String,
        badge: Option<i64>,
    },
}

/// The kinds of grant, for `revoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    Map,
    Device,
    Irq,
    Channel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    AddComponent {
        name: String,
        kind: String,
        priority: i64,
        program: Option<String>,
        stack: Option<String>,
    },
    RemoveComponent {
        name: String,
    },
    Grant {
        component: String,
        grant: Grant,
    },
    Revoke {
        component: String,
        kind: GrantKind,
        name: String,
    },
    SetPriority {
        component: String,
        priority: i64,
    },
}

/// A successful edit: the new text and its unified diff.
pub struct Edited {
    pub text: String,
    pub diff: String,
}

/// Applies `edit` to the text of `src`, checks the result, and returns it
/// with its diff. Errors are ready to print.
pub fn edit(src: &Source, edit: &Edit) -> Result<Edited, String> {
    let text = apply(&src.text, edit)?;
    let after = Source::new(format!("{} (after the edit)", src.path), text.clone());
    let checked = crate::check(&after);
    if checked.has_errors() {
        return Err(format!(
            "edit refused: the file would be invalid\n\n{}",
            render_all(&checked.diagnostics, &after)
        ));
    }
    let diff = similar::TextDiff::from_lines(&src.text, &text)
        .unified_diff()
        .context_radius(3)
        .header(&src.path, &src.path)
        .to_string();
    Ok(Edited { text, diff })
}

/// Applies an edit to TOML text, without checking the result.
pub fn apply(text: &str, edit: &Edit) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot edit a file that does not parse: {e}"))?;
    match edit {
        Edit::AddComponent {
            name,
            kind,
            priority,
            program,
            stack,
        } => {
            let components = table_of(&mut doc, "component");
            if components.contains_key(name) {
                return Err(format!("component `{name}` already exists"));
            }
            let mut t = Table::new();
            t.insert("kind", toml_edit::value(kind.as_str()));
            if let Some(p) = program {
                t.insert("program", toml_edit::value(p.as_str()));
            }
            t.insert("priority", toml_edit::value(*priority));
            if let Some(s) = stack {
                t.insert("stack", toml_edit::value(s.as_str()));
            }
            t.decor_mut().set_prefix("\n");
            components.insert(name, Item::Table(t));
        }
        Edit::RemoveComponent { name } => {
            component(&mut doc, name)?;
            table_of(&mut doc, "component").remove(name);
            // Drop it from the lists where it is one of several.
            if let Some(channels) = doc.get_mut("channel").and_then(Item::as_table_like_mut) {
                for (_, ch) in channels.iter_mut() {
                    let Some(ch) = ch.as_table_like_mut() else {
                        continue;
                    };
                    if let Some(clients) =
                        ch.get_mut("clients").and_then(|i| i.as_inline_table_mut())
                    {
                        clients.remove(name);
                    }
                    if let Some(list) = ch.get_mut("signallers").and_then(|i| i.as_array_mut()) {
                        remove_string(list, name);
                    }
                }
            }
        }
        Edit::SetPriority {
            component: name,
            priority,
        } => {
            let c = component(&mut doc, name)?;
            match c.get_mut("priority").and_then(Item::as_value_mut) {
                Some(v) => {
                    let decor = v.decor().clone();
                    *v = Value::from(*priority);
                    *v.decor_mut() = decor;
                }
                None => {
                    c.insert("priority", toml_edit::value(*priority));
                }
            }
        }
        Edit::Grant {
            component: name,
            grant,
        } => {
            match grant {
                Grant::Map {
                    region,
                    rights,
                    at,
                    cap,
                } => {
                    let c = component(&mut doc, name)?;
                    let maps = array_in(c, "maps")?;
                    if maps
                        .iter()
                        .any(|v| inline_str(v, "region") == Some(region.as_str()))
                    {
                        return Err(format!("`{name}` already maps `{region}`; revoke it first to change its rights"));
                    }
                    let mut entry = InlineTable::new();
                    entry.insert("region", region.as_str().into());
                    entry.insert("rights", rights.as_str().into());
                    if let Some(at) = at {
                        // Written in hex, as people write addresses.
                        let hex: Value = format!("{at:#x}")
                            .parse()
                            .map_err(|e| format!("bad address {at:#x}: {e}"))?;
                        entry.insert("at", hex);
                    }
                    if let Some(cap) = cap {
                        entry.insert("cap", cap.as_str().into());
                    }
                    entry.fmt();
                    push_formatted(maps, Value::InlineTable(entry));
                }
                Grant::Device(dev) | Grant::Irq(dev) => {
                    let key = if matches!(grant, Grant::Device(_)) {
                        "devices"
                    } else {
                        "irqs"
                    };
                    let c = component(&mut doc, name)?;
                    let list = array_in(c, key)?;
                    if list.iter().any(|v| v.as_str() == Some(dev.as_str())) {
                        return Err(format!("`{name}` already has `{dev}` in `{key}`"));
                    }
                    push_formatted(list, Value::from(dev.as_str()));
                }
                Grant::Channel { channel, badge } => {
                    component(&mut doc, name)?;
                    let ch = channel_table(&mut doc, channel)?;
                    match ch.get("kind").and_then(|k| k.as_str()).unwrap_or("") {
                    "endpoint" => {
                        if ch.get("clients").is_none() {
                            ch.insert("clients", toml_edit::value(InlineTable::new()));
                        }
                        let clients = ch
                            .get_mut("clients")
                            .and_then(|i| i.as_inline_table_mut())
                            .ok_or("`clients` is not an inline table { name = badge }")?;
                        if clients.contains_key(name) {
                            return Err(format!("`{name}` is already a client of `{channel}`"));
                        }
                        let next = clients.iter().filter_map(|(_, v)| v.as_integer()).max().unwrap_or(0) + 1;
                        clients.insert(name, Value::from(badge.unwrap_or(next)));
                        clients.fmt();
                    }
                    "notification" => {
                        let list = array_in(ch, "signallers")?;
                        if list.iter().any(|v| v.as_str() == Some(name.as_str())) {
                            return Err(format!("`{name}` is already a signaller of `{channel}`"));
                        }
                        push_formatted(list, Value::from(name.as_str()));
                    }
                    other => {
                        return Err(format!(
                            "cannot grant a {} channel: a ring has exactly one producer and one consumer; edit `producer`/`consumer` of `{channel}` instead",
                            if other.is_empty() { "kind-less" } else { other }
                        ))
                    }
                }
                }
            }
        }
        Edit::Revoke {
            component: name,
            kind,
            name: what,
        } => match kind {
            GrantKind::Map => {
                let c = component(&mut doc, name)?;
                let maps = c
                    .get_mut("maps")
                    .and_then(|i| i.as_array_mut())
                    .ok_or(format!("`{name}` has no `maps`"))?;
                let index = maps
                    .iter()
                    .position(|v| inline_str(v, "region") == Some(what.as_str()))
                    .ok_or(format!("`{name}` does not map `{what}`"))?;
                remove_at(maps, index);
            }
            GrantKind::Device | GrantKind::Irq => {
                let key = if *kind == GrantKind::Device {
                    "devices"
                } else {
                    "irqs"
                };
                let c = component(&mut doc, name)?;
                let list = c
                    .get_mut(key)
                    .and_then(|i| i.as_array_mut())
                    .ok_or(format!("`{name}` has no `{key}`"))?;
                if !remove_string(list, what) {
                    return Err(format!("`{name}` does not have `{what}` in `{key}`"));
                }
            }
            GrantKind::Channel => {
                component(&mut doc, name)?;
                let ch = channel_table(&mut doc, what)?;
                let removed = if let Some(clients) =
                    ch.get_mut("clients").and_then(|i| i.as_inline_table_mut())
                {
                    clients.remove(name).is_some()
                } else if let Some(list) = ch.get_mut("signallers").and_then(|i| i.as_array_mut()) {
                    remove_string(list, name)
                } else {
                    false
                };
                if !removed {
                    return Err(format!(
                            "`{name}` is not a client or signaller of `{what}` (a ring's producer and consumer cannot be revoked; remove the channel instead)"
                        ));
                }
            }
        },
    }
    Ok(doc.to_string())
}

/// The table `[NAME]` (created if missing).
fn table_of<'a>(doc: &'a mut DocumentMut, name: &str) -> &'a mut Table {
    if !doc.contains_key(name) {
        let mut t = Table::new();
        t.set_implicit(true);
        doc.insert(name, Item::Table(t));
    }
    doc[name]
        .as_table_mut()
        .expect("a top-level section is a table")
}

/// `[component.NAME]`, or an error that lists the components.
fn component<'a>(doc: &'a mut DocumentMut, name: &str) -> Result<&'a mut Table, String> {
    named(doc, "component", name)
}

fn channel_table<'a>(doc: &'a mut DocumentMut, name: &str) -> Result<&'a mut Table, String> {
    named(doc, "channel", name)
}

fn named<'a>(doc: &'a mut DocumentMut, section: &str, name: &str) -> Result<&'a mut Table, String> {
    let names: Vec<String> = doc
        .get(section)
        .and_then(Item::as_table)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default();
    if !names.iter().any(|n| n == name) {
        let mut msg = format!("there is no {section} `{name}`");
        if let Some(m) = did_you_mean(name, names.iter().map(String::as_str)) {
            msg.push_str(&format!("; did you mean `{m}`?"));
        }
        return Err(format!("{msg} ({section}s: {})", list_choices(&names)));
    }
    doc[section][name]
        .as_table_mut()
        .ok_or(format!("{section} `{name}` is not written as a [table]"))
}

/// The array `key` of a table (created empty if missing).
fn array_in<'a>(t: &'a mut Table, key: &str) -> Result<&'a mut Array, String> {
    if !t.contains_key(key) {
        t.insert(key, toml_edit::value(Array::new()));
    }
    t.get_mut(key)
        .and_then(|i| i.as_array_mut())
        .ok_or(format!("`{key}` is not an array"))
}

fn inline_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.as_inline_table()
        .and_then(|t| t.get(key))
        .and_then(|v| v.as_str())
}

/// Splits decor text into (everything up to and including the last
/// newline, the rest). The first part holds comments; the rest is the
/// indentation of what follows.
fn split_decor(text: &str) -> (&str, &str) {
    match text.rfind('\n') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    }
}

fn raw(decor: Option<&toml_edit::RawString>) -> String {
    decor.and_then(|r| r.as_str()).unwrap_or("").to_string()
}

/// Appends a value in the style of the array: on its own line with the same
/// indentation in a multi-line array, after a space otherwise. A comment
/// after the last element stays with that element.
fn push_formatted(array: &mut Array, mut value: Value) {
    let trailing = array.trailing().as_str().unwrap_or("").to_string();
    let multiline =
        array.iter().any(|v| raw(v.decor().prefix()).contains('\n')) || trailing.contains('\n');
    if array.is_empty() || !multiline {
        value
            .decor_mut()
            .set_prefix(if array.is_empty() { "" } else { " " });
        value.decor_mut().set_suffix("");
        array.push_formatted(value);
        return;
    }
    let last_prefix = raw(array.get(array.len() - 1).and_then(|v| v.decor().prefix()));
    let (_, indent) = split_decor(&last_prefix);
    let (comments, closing_indent) = split_decor(&trailing);
    let comments = if comments.is_empty() {
        "\n".to_string()
    } else {
        comments.to_string()
    };
    value.decor_mut().set_prefix(format!("{comments}{indent}"));
    value.decor_mut().set_suffix("");
    array.push_formatted(value);
    array.set_trailing(format!("\n{closing_indent}"));
    array.set_trailing_comma(true);
}

/// Removes element `index`, keeping the comments of its neighbours with them.
fn remove_at(array: &mut Array, index: usize) {
    let removed_prefix = raw(array.get(index).and_then(|v| v.decor().prefix()));
    // What precedes the removed element's indentation is the comment of the
    // element before it.
    let (before_comments, _) = split_decor(&removed_prefix);
    let before_comments = before_comments.to_string();
    array.remove(index);
    if index < array.len() {
        let next = array.get_mut(index).expect("index checked");
        let next_prefix = raw(next.decor().prefix());
        let (_, indent) = split_decor(&next_prefix);
        let new_prefix = if !before_comments.is_empty() {
            format!("{before_comments}{indent}")
        } else if next_prefix.contains('\n') {
            format!("\n{indent}")
        } else if index == 0 {
            // The first element of a single-line array has no leading space.
            String::new()
        } else {
            next_prefix.clone()
        };
        next.decor_mut().set_prefix(new_prefix);
    } else {
        let trailing = array.trailing().as_str().unwrap_or("").to_string();
        let (_, closing_indent) = split_decor(&trailing);
        if trailing.contains('\n') {
            let comments = if before_comments.is_empty() {
                "\n".to_string()
            } else {
                before_comments
            };
            array.set_trailing(format!("{comments}{closing_indent}"));
        }
        if array.is_empty() {
            array.set_trailing("");
            array.set_trailing_comma(false);
        }
    }
}

/// Removes the string `name` from an array; whether it was there.
fn remove_string(array: &mut Array, name: &str) -> bool {
    let found = array.iter().position(|v| v.as_str() == Some(name));
    match found {
        Some(i) => {
            remove_at(array, i);
            true
        }
        None => false,
    }
}
