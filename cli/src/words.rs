//! Counts in the human summaries: digits grouped by thousands ("30,000"), and nouns that agree
//! with their counts ("1 run", "3 runs").

pub use simcal::words::{count, num};

/// A measure to 4 decimals, or "n/a" where there is none (no labels, one class).
pub fn four(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.4}"))
}

/// Each decision's queries with the share whose top hit is relevant and the share with a
/// relevant document anywhere in the top k: `act 194 (top hit relevant 0.933, found 1.000), …`.
pub fn quality(q: &[simcal::calibrate::artifact::DecisionQuality]) -> String {
    q.iter()
        .map(|d| {
            let what = simcal::Choice::name(d.decision).replace('_', " ");
            match d.precision {
                Some(p) => format!(
                    "{what} {} (top hit relevant {p:.3}{})",
                    num(d.queries),
                    d.found_share.map(|f| format!(", a relevant document in the top k {f:.3}")).unwrap_or_default()
                ),
                None => format!("{what} 0"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
