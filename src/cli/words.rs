//! Counts in the human summaries: digits grouped by thousands ("30,000"), and nouns that agree
//! with their counts ("1 run", "3 runs").

/// `n` with its digits grouped by thousands.
pub fn num(n: impl TryInto<u64>) -> String {
    let digits = n.try_into().unwrap_or(u64::MAX).to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` followed by `one` or `many`, as `n` asks.
pub fn count(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    format!("{} {}", num(n), if n == 1 { one } else { many })
}

/// A measure to 4 decimals, or "n/a" where there is none (no labels, one class).
pub fn four(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.4}"))
}

/// Each decision's queries with the share whose top hit is relevant and the share with a
/// relevant document anywhere in the top k: `act 194 (top hit relevant 0.933, found 1.000), …`.
pub fn quality(q: &[simcal::calibrate::artifact::DecisionQuality]) -> String {
    q.iter()
        .map(|d| {
            let what = d.decision.replace('_', " ");
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
