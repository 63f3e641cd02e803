//! Counts in messages and summaries: digits grouped by thousands ("30,000"), and nouns that
//! agree with their counts ("1 run", "3 runs").

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
