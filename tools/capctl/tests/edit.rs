//! Round-trip edit tests: edits keep comments, order and layout; they are
//! checked before being written, and refused when the result is invalid.

use capctl::edit::{apply, edit, Edit, Grant, GrantKind};
use capctl::Source;

const FILE: &str = r#"# A small system for edit tests.
[kernel]
ram = "64MiB"   # QEMU -m

# The pool the driver fills.
[region.pool]
size = "512KiB"

[region.scratch]
size = "4KiB"

[device.nic]
pci = "8086:100e"
bars = [{ bar = 0, size = "128KiB" }]
irq = "msi"

# The driver.
[component.drv]
kind = "driver"
priority = 200   # above the stack
devices = ["nic"]
irqs = ["nic"]

[component.net]
kind = "server"
priority = 150
maps = [
    { region = "pool", rights = "r" },   # received frames
    { region = "scratch", rights = "rw" },  # work area
]

[component.app]
kind = "app"
priority = 100

[channel.rx]
kind = "ring"
producer = "drv"
consumer = "net"
entries = 256
pool = "pool"

[channel.api]
kind = "endpoint"
server = "net"
clients = { app = 1 }
"#;

fn src() -> Source {
    Source::new("edit.toml", FILE)
}

fn ok(e: Edit) -> String {
    match edit(&src(), &e) {
        Ok(done) => done.text,
        Err(msg) => panic!("edit {e:?} refused:\n{msg}"),
    }
}

/// Lines of `after` that are not in `before`, and the reverse.
fn changed(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let added = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| l.to_string())
        .collect();
    let removed = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| l.to_string())
        .collect();
    (added, removed)
}

#[test]
fn set_priority_keeps_the_comment() {
    let out = ok(Edit::SetPriority {
        component: "drv".into(),
        priority: 210,
    });
    assert!(
        out.contains("priority = 210   # above the stack\n"),
        "{out}"
    );
    let (added, removed) = changed(FILE, &out);
    assert_eq!(added, vec!["priority = 210   # above the stack"]);
    assert_eq!(removed, vec!["priority = 200   # above the stack"]);
}

#[test]
fn grant_map_appends_in_style_and_keeps_comments() {
    let out = ok(Edit::Grant {
        component: "app".into(),
        grant: Grant::Map {
            region: "scratch".into(),
            rights: "r".into(),
            at: None,
            cap: None,
        },
    });
    assert!(out.contains("[component.app]\nkind = \"app\"\npriority = 100\nmaps = [{ region = \"scratch\", rights = \"r\" }]\n"), "{out}");
    // Appending to a multi-line array: the new element gets its own line
    // and the comment of the old last element stays with it.
    // `net` already maps `pool`: refused.
    let err = edit(
        &src(),
        &Edit::Grant {
            component: "net".into(),
            grant: Grant::Map {
                region: "pool".into(),
                rights: "r".into(),
                at: None,
                cap: None,
            },
        },
    );
    assert!(err.is_err());
}

#[test]
fn appending_to_a_multiline_array_keeps_each_comment_with_its_line() {
    let text = FILE.replace(
        "[component.app]\nkind = \"app\"",
        "[component.app]\nkind = \"server\"",
    );
    let text = text.replace(
        "[channel.api]\nkind = \"endpoint\"\nserver = \"net\"\nclients = { app = 1 }\n",
        "",
    );
    let out = apply(
        &text,
        &Edit::Grant {
            component: "net".into(),
            grant: Grant::Map {
                region: "other".into(),
                rights: "r".into(),
                at: Some(0x4000_0000),
                cap: Some("OTHER".into()),
            },
        },
    )
    .unwrap();
    assert!(
        out.contains(
            "maps = [\n    { region = \"pool\", rights = \"r\" },   # received frames\n    { region = \"scratch\", rights = \"rw\" },  # work area\n    { region = \"other\", rights = \"r\", at = 0x40000000, cap = \"OTHER\" },\n]\n"
        ),
        "{out}"
    );
}

#[test]
fn revoke_map_takes_its_comment_and_leaves_the_others() {
    let out = ok(Edit::Revoke {
        component: "net".into(),
        kind: GrantKind::Map,
        name: "scratch".into(),
    });
    assert!(
        out.contains(
            "maps = [\n    { region = \"pool\", rights = \"r\" },   # received frames\n]\n"
        ),
        "{out}"
    );
    let (_, removed) = changed(FILE, &out);
    assert_eq!(
        removed,
        vec!["    { region = \"scratch\", rights = \"rw\" },  # work area"]
    );
}

#[test]
fn revoking_the_first_element_keeps_the_second_comment() {
    let out = apply(
        FILE,
        &Edit::Revoke {
            component: "net".into(),
            kind: GrantKind::Map,
            name: "pool".into(),
        },
    )
    .unwrap();
    assert!(
        out.contains("maps = [\n    { region = \"scratch\", rights = \"rw\" },  # work area\n]\n"),
        "{out}"
    );
}

#[test]
fn grant_and_revoke_round_trip_to_the_original() {
    // `app` is already a client: refused.
    let err = edit(
        &src(),
        &Edit::Grant {
            component: "app".into(),
            grant: Grant::Channel {
                channel: "api".into(),
                badge: None,
            },
        },
    );
    assert!(err.err().unwrap().contains("already a client"));
    let revoked = ok(Edit::Revoke {
        component: "app".into(),
        kind: GrantKind::Channel,
        name: "api".into(),
    });
    assert!(
        revoked.contains("clients = {}") || revoked.contains("clients = { }"),
        "{revoked}"
    );
    let back = apply(
        &revoked,
        &Edit::Grant {
            component: "app".into(),
            grant: Grant::Channel {
                channel: "api".into(),
                badge: Some(1),
            },
        },
    )
    .unwrap();
    assert_eq!(back, FILE);
}

#[test]
fn grant_device_and_irq() {
    let text = FILE.replace("devices = [\"nic\"]\nirqs = [\"nic\"]\n", "");
    let s = Source::new("edit.toml", text.clone());
    let with_device = edit(
        &s,
        &Edit::Grant {
            component: "drv".into(),
            grant: Grant::Device("nic".into()),
        },
    )
    .unwrap();
    assert!(
        with_device
            .text
            .contains("priority = 200   # above the stack\ndevices = [\"nic\"]\n"),
        "{}",
        with_device.text
    );
    let s2 = Source::new("edit.toml", with_device.text.clone());
    let with_irq = edit(
        &s2,
        &Edit::Grant {
            component: "drv".into(),
            grant: Grant::Irq("nic".into()),
        },
    )
    .unwrap();
    assert_eq!(with_irq.text, FILE);
    assert!(
        with_irq.diff.contains("+irqs = [\"nic\"]"),
        "{}",
        with_irq.diff
    );
}

#[test]
fn add_and_remove_component() {
    let out = ok(Edit::AddComponent {
        name: "logger".into(),
        kind: "app".into(),
        priority: 50,
        program: Some("log".into()),
        stack: Some("8KiB".into()),
    });
    assert!(out.contains("\n[component.logger]\nkind = \"app\"\nprogram = \"log\"\npriority = 50\nstack = \"8KiB\"\n"), "{out}");
    // Inserted after the last component; everything else untouched.
    let block = "\n[component.logger]\nkind = \"app\"\nprogram = \"log\"\npriority = 50\nstack = \"8KiB\"\n";
    assert!(
        out.contains(&format!("priority = 100\n{block}\n[channel.rx]")),
        "{out}"
    );
    assert_eq!(out.replacen(block, "", 1), FILE);
    let s = Source::new("edit.toml", out);
    let removed = edit(
        &s,
        &Edit::RemoveComponent {
            name: "logger".into(),
        },
    )
    .unwrap();
    assert_eq!(removed.text, FILE);
}

#[test]
fn removing_a_client_component_drops_it_from_the_clients() {
    let out = ok(Edit::RemoveComponent { name: "app".into() });
    assert!(!out.contains("[component.app]"));
    assert!(!out.contains("app = 1"), "{out}");
    assert!(
        out.contains("# The driver.\n[component.drv]"),
        "comments of other tables stay: {out}"
    );
}

#[test]
fn invalid_edits_are_refused_with_the_error() {
    // The driver is the ring's producer: it cannot be removed.
    let err = edit(&src(), &Edit::RemoveComponent { name: "drv".into() })
        .err()
        .unwrap();
    assert!(
        err.starts_with("edit refused: the file would be invalid"),
        "{err}"
    );
    assert!(
        err.contains("error[dangling-ref]: `producer` names `drv`"),
        "{err}"
    );
    // A priority that breaks the IPC rule.
    let err = edit(
        &src(),
        &Edit::SetPriority {
            component: "net".into(),
            priority: 90,
        },
    )
    .err()
    .unwrap();
    assert!(err.contains("error[ipc-priority]"), "{err}");
    // Writable mapping of a pool whose channel allows the consumer only "r".
    let text = FILE.replace(
        "pool = \"pool\"\n",
        "pool = \"pool\"\nconsumer_pool = \"r\"\n",
    );
    let s = Source::new("edit.toml", text);
    let err = edit(
        &s,
        &Edit::Grant {
            component: "app".into(),
            grant: Grant::Map {
                region: "pool".into(),
                rights: "rw".into(),
                at: None,
                cap: None,
            },
        },
    )
    .err()
    .unwrap();
    assert!(err.contains("error[channel-rights]"), "{err}");
    // Unknown names get a suggestion.
    let err = edit(
        &src(),
        &Edit::SetPriority {
            component: "nett".into(),
            priority: 150,
        },
    )
    .err()
    .unwrap();
    assert!(
        err.contains("there is no component `nett`; did you mean `net`?"),
        "{err}"
    );
    // A second driver for the same device.
    let err = edit(
        &src(),
        &Edit::Grant {
            component: "net".into(),
            grant: Grant::Device("nic".into()),
        },
    )
    .err()
    .unwrap();
    assert!(err.contains("error[device-shared]"), "{err}");
}

#[test]
fn rings_cannot_be_granted_or_revoked_per_end() {
    let err = edit(
        &src(),
        &Edit::Grant {
            component: "app".into(),
            grant: Grant::Channel {
                channel: "rx".into(),
                badge: None,
            },
        },
    )
    .err()
    .unwrap();
    assert!(
        err.contains("exactly one producer and one consumer"),
        "{err}"
    );
    let err = edit(
        &src(),
        &Edit::Revoke {
            component: "net".into(),
            kind: GrantKind::Channel,
            name: "rx".into(),
        },
    )
    .err()
    .unwrap();
    assert!(err.contains("cannot be revoked"), "{err}");
}

#[test]
fn the_diff_is_a_unified_diff() {
    let done = edit(
        &src(),
        &Edit::SetPriority {
            component: "app".into(),
            priority: 90,
        },
    )
    .unwrap();
    assert!(
        done.diff.starts_with("--- edit.toml\n+++ edit.toml\n@@"),
        "{}",
        done.diff
    );
    assert!(
        done.diff.contains("-priority = 100\n+priority = 90\n"),
        "{}",
        done.diff
    );
}
