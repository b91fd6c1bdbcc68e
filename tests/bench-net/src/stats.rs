//! Medians and spreads of samples, and how figures are written.

/// Median and spread of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

/// The sample at `fraction` (0..=1) of the sorted samples, by nearest rank (the sample itself,
/// never an interpolation, so a figure is always one that was measured).
fn at(sorted: &[f64], fraction: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The summary of `samples`, or `None` when there are none.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        median: at(&sorted, 0.5),
        p10: at(&sorted, 0.1),
        p90: at(&sorted, 0.9),
        p99: at(&sorted, 0.99),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        count: sorted.len(),
    })
}

/// A figure with as many digits as it deserves: three significant digits, whole numbers as such.
pub fn figure(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || value == value.trunc() && magnitude >= 1.0 {
        format!("{}", value.round() as i64)
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A ratio, two decimals.
pub fn ratio(value: f64) -> String {
    format!("{value:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles_are_measured_samples() {
        let samples: Vec<f64> = (1..=101).rev().map(f64::from).collect();
        let s = summarize(&samples).unwrap();
        assert_eq!(s.median, 51.0);
        assert_eq!(s.p10, 11.0);
        assert_eq!(s.p90, 91.0);
        assert_eq!(s.p99, 100.0);
        assert_eq!((s.min, s.max, s.count), (1.0, 101.0, 101));
    }

    #[test]
    fn one_sample_is_its_own_summary() {
        let s = summarize(&[4.5]).unwrap();
        assert_eq!(
            (s.median, s.p10, s.p99, s.min, s.max),
            (4.5, 4.5, 4.5, 4.5, 4.5)
        );
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn figures_keep_three_significant_digits() {
        assert_eq!(figure(13026.0), "13026");
        assert_eq!(figure(151.4), "151");
        assert_eq!(figure(63.47), "63.5");
        assert_eq!(figure(3.456), "3.46");
        assert_eq!(figure(0.1234), "0.123");
        assert_eq!(figure(2.0), "2");
    }
}
