//! Tests of the BENCHMARKS.md rendering helpers.

use super::*;

#[test]
fn splice_replaces_only_the_generated_section() {
    let current = format!("# Title\nintro\n{BEGIN}\nold\n{END}\n## Analysis\nkept\n");
    let section = format!("{BEGIN}\nnew\n{END}\n");
    let updated = splice(&current, &section).unwrap();
    assert_eq!(
        updated,
        format!("# Title\nintro\n{BEGIN}\nnew\n{END}\n## Analysis\nkept\n")
    );
}

#[test]
fn splice_appends_when_there_is_no_section_yet() {
    let updated = splice("# Title\n", &format!("{BEGIN}\nx\n{END}\n")).unwrap();
    assert_eq!(updated, format!("# Title\n\n{BEGIN}\nx\n{END}\n"));
}

#[test]
fn units_scale_with_magnitude() {
    assert_eq!(time(546.0), "546 ns");
    assert_eq!(time(1_500.0), "1.50 µs");
    assert_eq!(time(2_500_000.0), "2.50 ms");
    assert_eq!(rate(1_830_000.0), "1.83 M/s");
    assert_eq!(rate(138_000.0), "138.0 k/s");
    assert_eq!(times(13.26), "13.3×");
}
