//! Tukey's honestly significant difference test (scipy's `tukey_hsd`, which ranx's `tukey`
//! runs): every pair of k samples compared at once, p-values from the studentized range
//! distribution, family-wise over the k(k − 1)/2 pairs.
//!
//! The studentized range's survival function is integrated here directly (not as 1 − CDF, so a
//! small p keeps its relative precision): with R(w) the chance that the range of k standard
//! normals exceeds w,
//! `R(w) = k ∫ φ(z) [Φ(z)^(k−1) − (Φ(z) − Φ(z − w))^(k−1)] dz`, and with ν degrees of
//! freedom `sf(q) = ∫ f_ν(s) R(q s) ds`, f_ν the density of √(χ²_ν / ν). As scipy does, ν of
//! 100,000 or more is taken as infinite (sf = R(q)).

use crate::error::{Error, Result};

use super::paired::TestResult;

/// Degrees of freedom from which the studentized range is taken at ν = ∞ (scipy's switch).
const DF_INFINITE: f64 = 100_000.0;

/// Gauss–Kronrod 7–15 nodes (the positive half, the centre first) and weights.
#[expect(clippy::excessive_precision, reason = "the published digits of the rule")]
const XGK: [f64; 8] = [
    0.0,
    0.207_784_955_007_898_467_600_689_403_773_2,
    0.405_845_151_377_397_166_906_606_412_076_9,
    0.586_087_235_467_691_130_294_144_845_693_0,
    0.741_531_185_599_394_439_863_864_773_280_8,
    0.864_864_423_359_769_072_789_712_788_640_9,
    0.949_107_912_342_758_524_526_189_684_047_9,
    0.991_455_371_120_812_639_206_854_697_526_3,
];
#[expect(clippy::excessive_precision, reason = "the published digits of the rule")]
const WGK: [f64; 8] = [
    0.209_482_141_084_727_828_012_999_174_891_7,
    0.204_432_940_075_298_892_414_161_999_234_6,
    0.190_350_578_064_785_409_913_256_402_421_0,
    0.169_004_726_639_267_902_826_583_426_598_6,
    0.140_653_259_715_525_918_745_189_590_510_2,
    0.104_790_010_322_250_183_839_876_322_541_5,
    0.063_092_092_629_978_553_290_700_663_189_2,
    0.022_935_322_010_529_224_963_732_008_058_97,
];
/// The 7-point Gauss weights, on the Kronrod nodes 0, 2, 4, 6.
#[expect(clippy::excessive_precision, reason = "the published digits of the rule")]
const WG: [f64; 4] = [
    0.417_959_183_673_469_387_755_102_040_816_3,
    0.381_830_050_505_118_944_950_369_775_488_9,
    0.279_705_391_489_276_667_901_467_771_423_8,
    0.129_484_966_168_869_693_270_611_432_679_1,
];

/// One Gauss–Kronrod panel: the 15-point estimate of ∫ₐᵇ f and its distance from the 7-point one.
#[expect(clippy::indexing_slicing, reason = "fixed-size node tables")]
fn panel(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    let (c, h) = ((a + b) / 2.0, (b - a) / 2.0);
    let fc = f(c);
    let (mut k, mut g) = (fc * WGK[0], fc * WG[0]);
    for i in 1..8 {
        let pair = f(c - h * XGK[i]) + f(c + h * XGK[i]);
        k += WGK[i] * pair;
        if i % 2 == 0 {
            g += WG[i / 2] * pair;
        }
    }
    (k * h, ((k - g) * h).abs())
}

/// ∫ f over the panels between consecutive `breaks`, each bisected until its error is below its
/// share (by width) of 1e-10 of the whole or of 1e-15, whichever is larger (or 40 halvings
/// deep, or 400 halvings in all).
fn integrate(f: &dyn Fn(f64) -> f64, breaks: &[f64]) -> f64 {
    let mut stack: Vec<(f64, f64, f64, f64, u32)> = breaks
        .windows(2)
        .filter_map(|w| w.first().zip(w.get(1)))
        .map(|(&a, &b)| {
            let (v, e) = panel(f, a, b);
            (a, b, v, e, 0)
        })
        .collect();
    let total: f64 = stack.iter().map(|p| p.2).sum();
    let (Some(&lo), Some(&hi)) = (breaks.first(), breaks.last()) else { return 0.0 };
    // Each panel's share of the whole's tolerance, by its width.
    let tol = (1e-10 * total.abs()).max(1e-15) / (hi - lo);
    let mut sum = 0.0;
    // A budget of halvings, so that noise below the tolerance cannot split every panel.
    let mut budget = 400usize;
    while let Some((a, b, v, e, depth)) = stack.pop() {
        if e <= tol * (b - a) || depth >= 40 || budget == 0 {
            sum += v;
            continue;
        }
        budget -= 1;
        let m = (a + b) / 2.0;
        let (l, le) = panel(f, a, m);
        let (r, re) = panel(f, m, b);
        stack.push((a, m, l, le, depth + 1));
        stack.push((m, b, r, re, depth + 1));
    }
    sum
}

/// Φ, the standard normal distribution function (accurate in both tails).
fn norm_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

/// The chance that the range of `k` standard normals exceeds `w` (ν = ∞).
fn range_sf(w: f64, k: f64) -> f64 {
    if w <= 0.0 {
        return 1.0;
    }
    let f = |z: f64| {
        let a = norm_cdf(z);
        if a <= 0.0 {
            return 0.0;
        }
        let b = norm_cdf(z - w).min(a);
        let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        // a^(k−1) − (a − b)^(k−1), kept precise when b is tiny beside a.
        let bracket = a.powf(k - 1.0) * -((k - 1.0) * (-b / a).ln_1p()).exp_m1();
        k * phi * bracket
    };
    // Beyond 9 standard deviations from where φ(z)·Φ(z − w) peaks (z = 0 or w/2) the integrand
    // is below 1e-18 of the whole.
    let hi = 9.0f64.max(w / 2.0 + 9.0);
    let panels = ((hi + 9.0) / 2.0).ceil() as u32;
    let breaks: Vec<f64> = (0..=panels).map(|i| -9.0 + (hi + 9.0) * f64::from(i) / f64::from(panels)).collect();
    integrate(&f, &breaks).clamp(0.0, 1.0)
}

/// The survival function of the studentized range with `k` means and `df` degrees of freedom
/// at `q`: P(Q ≥ q). NaN for k < 2 or df ≤ 0.
pub fn studentized_range_sf(q: f64, k: f64, df: f64) -> f64 {
    if q.is_nan() || k.is_nan() || df.is_nan() || k < 2.0 || df <= 0.0 {
        return f64::NAN;
    }
    if q <= 0.0 {
        return 1.0;
    }
    if q.is_infinite() {
        return 0.0;
    }
    if df >= DF_INFINITE {
        return range_sf(q, k);
    }
    // ln f_ν(s) = ln 2 + (ν/2) ln(ν/2) − lnΓ(ν/2) + (ν − 1) ln s − ν s²/2.
    let half = df / 2.0;
    let log_const = std::f64::consts::LN_2 + half * half.ln() - statrs::function::gamma::ln_gamma(half);
    let log_density = |s: f64| log_const + (df - 1.0) * s.ln() - half * s * s;
    let hi = 1.0 + 40.0 / df.sqrt();
    let n = 64;
    let breaks: Vec<f64> = (0..=n).map(|i| hi * f64::from(i) / f64::from(n)).collect();
    // The integrand's logarithm at each break: it is unimodal in s, and panels whose ends are
    // both below e^-35 of its largest value there (and that do not straddle it) add less than a
    // double's precision.
    let log_g: Vec<f64> =
        breaks.iter().map(|&s| if s <= 0.0 { f64::NEG_INFINITY } else { log_density(s) + range_sf(q * s, k).ln() }).collect();
    let (top, peak) = log_g.iter().enumerate().fold((0, f64::NEG_INFINITY), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
    let f = |s: f64| if s <= 0.0 { 0.0 } else { log_density(s).exp() * range_sf(q * s, k) };
    let mut total = 0.0;
    for (i, w) in breaks.windows(2).enumerate() {
        let (Some(&a), Some(&b)) = (w.first(), w.get(1)) else { continue };
        let low = |j: usize| log_g.get(j).is_none_or(|&v| v < peak - 35.0);
        if low(i) && low(i + 1) && i + 1 != top && i != top {
            continue;
        }
        total += integrate(&f, &[a, (a + b) / 2.0, b]);
    }
    total.clamp(0.0, 1.0)
}

/// Tukey's HSD over `samples` (scipy's `tukey_hsd` with equal variances): for each pair (i, j),
/// q = |mean_i − mean_j| / √(MSE / 2 · (1/n_i + 1/n_j)), MSE the pooled within-sample
/// variance on N − k degrees of freedom, and p its studentized range survival. Returns the k × k
/// matrix (the diagonal p = 1). Each sample needs two values at least; a zero MSE gives p = 0
/// for a non-zero difference, NaN for none.
#[expect(clippy::indexing_slicing, reason = "i and j run over the samples")]
pub fn tukey_hsd(samples: &[&[f64]]) -> Result<Vec<Vec<TestResult>>> {
    let k = samples.len();
    if k < 2 {
        return Err(Error::Invalid(format!("Tukey's HSD compares 2 samples or more, not {k}")));
    }
    if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() < 2) {
        return Err(Error::Invalid(format!("Tukey's HSD: sample {i} has {} value(s); 2 are needed at least", s.len())));
    }
    if samples.iter().any(|s| s.iter().any(|x| !x.is_finite())) {
        return Err(Error::Invalid("Tukey's HSD: a value is not finite".into()));
    }
    let means: Vec<f64> = samples.iter().map(|s| s.iter().sum::<f64>() / s.len() as f64).collect();
    let n_total: usize = samples.iter().map(|s| s.len()).sum();
    let ss: f64 = samples.iter().zip(&means).map(|(s, m)| s.iter().map(|x| (x - m) * (x - m)).sum::<f64>()).sum();
    let df = (n_total - k) as f64;
    let mse = ss / df;
    let mut out = vec![vec![TestResult { statistic: 0.0, p: 1.0 }; k]; k];
    for i in 0..k {
        for j in 0..k {
            if i == j {
                continue;
            }
            let se = (mse / 2.0 * (1.0 / samples[i].len() as f64 + 1.0 / samples[j].len() as f64)).sqrt();
            let q = (means[i] - means[j]).abs() / se;
            out[i][j] = if j < i { out[j][i] } else { TestResult { statistic: q, p: studentized_range_sf(q, k as f64, df) } };
        }
    }
    Ok(out)
}
