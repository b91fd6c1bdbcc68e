//! The fuzzing entry point, shared by the `cargo fuzz` target and the
//! corpus regression test: whatever the input, capctl must not panic.
//!
//! One input runs through everything a user can run on a file: check, and
//! for a valid file lint, explain, who, graph (DOT and SVG), diff against
//! itself, compile, encode, decode (which must succeed and round-trip), the
//! expected dump and its audit (which must find no difference), and the
//! generated caps table of every component.

use crate::diag::Source;

/// Runs one input. Panics only on a real bug (a broken invariant).
pub fn run_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = Source::new("fuzz.toml", text);
    let checked = crate::check(&src);
    let _ = crate::diag::render_all(&checked.diagnostics, &src);
    let Some((sys, layout)) = checked.valid() else {
        return;
    };
    let _ = crate::lint::lint(sys);
    let _ = crate::explain::explain(sys, layout, &src, None);
    for name in crate::explain::who_names(sys) {
        assert!(crate::explain::who(sys, layout, &src, name).is_some());
    }
    let _ = crate::graph::to_dot(sys);
    let _ = crate::graph::to_svg(sys);
    let (_, changed) = crate::diff::diff((sys, layout), (sys, layout));
    assert!(!changed, "a system differs from itself");
    let model = crate::compile::compile(sys, layout);
    let bytes = model.encode();
    let spec = ward_sysspec::Spec::decode(&bytes).expect("a compiled spec decodes");
    assert_eq!(
        ward_sysspec::model::SystemSpec::from_spec(&spec),
        model,
        "spec round trip"
    );
    let dump = crate::audit::expected_dump(&bytes).expect("expected dump");
    let report = crate::audit::audit(&bytes, &dump, "dump").expect("audit runs");
    assert_eq!(
        report.differences, 0,
        "the expected dump audits clean:\n{}",
        report.text
    );
    for ci in 0..sys.components.len() {
        let _ = crate::gencaps::generate(sys, layout, "fuzz.toml", ci);
    }
}

/// Decodes arbitrary bytes as a compiled spec. Whatever the input, the
/// decoder must either reject it or return a spec whose every accessor
/// works (that is what the root task relies on).
pub fn run_spec(data: &[u8]) {
    let Ok(spec) = ward_sysspec::Spec::decode(data) else {
        return;
    };
    let _ = (spec.name(), spec.cmdline());
    for ci in 0..spec.components.len() {
        for cap in spec.caps_of(ci) {
            let _ = ward_sysspec::dump::expected(&spec, ci, cap);
        }
    }
    let mut text = String::new();
    ward_sysspec::dump::write_expected_dump(&mut text, &spec)
        .expect("writing to a String cannot fail");
    let model = ward_sysspec::model::SystemSpec::from_spec(&spec);
    let again = model.encode();
    let spec2 = ward_sysspec::Spec::decode(&again).expect("a re-encoded valid spec decodes");
    assert_eq!(ward_sysspec::model::SystemSpec::from_spec(&spec2), model);
}
