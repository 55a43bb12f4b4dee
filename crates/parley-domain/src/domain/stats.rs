//! Statistics for comparing an experiment's arms (issue 58): whether one arm's rate (runs
//! finished of runs started) differs from another's by more than chance would explain.
//!
//! - Two-proportion z-test with the pooled standard error: `z = (p2 - p1) / sqrt(p (1 - p)
//!   (1/n1 + 1/n2))`, `p` the pooled rate; the two-sided p-value is `erfc(|z| / sqrt 2)`.
//! - The 95 % confidence interval of the difference uses the unpooled standard error
//!   `sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)`.
//! - The sample per arm needed to tell the observed difference with 80 % power at a
//!   two-sided α of 0.05: `n = (z_α/2 sqrt(2 p̄ (1 - p̄)) + z_β sqrt(p1 (1 - p1) + p2 (1 -
//!   p2)))² / (p2 - p1)²`, `p̄` the mean of the two rates.
//!
//! `erfc` is computed by its power series (`erf(x) = 2/√π e^(-x²) Σ 2ⁿ x^(2n+1) /
//! (1·3·…·(2n+1))`, all terms positive) below 2.5 and by its continued fraction (Laplace's)
//! from 2.5 on: both to about 1e-14, far inside the 1e-7 asked (the unit tests compare
//! with reference values).

/// The two-sided critical value at α = 0.05 (the normal's 97.5 % quantile).
pub const Z_95: f64 = 1.959_963_984_540_054;
/// The normal's 80 % quantile (power 0.8).
pub const Z_POWER_80: f64 = 0.841_621_233_572_914_3;
/// The significance level the verdict uses.
pub const ALPHA: f64 = 0.05;

/// The complementary error function, to about 1e-14 (see the module's note).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        return 1.0 - erf_series(x);
    }
    if x > 27.0 {
        return 0.0;
    }
    // Laplace's continued fraction, evaluated from its tail:
    // erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
    let mut f = x;
    for n in (1..=120).rev() {
        f = x + (f64::from(n) / 2.0) / f;
    }
    (-x * x).exp() / (std::f64::consts::PI.sqrt() * f)
}

fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    while term > sum * 1e-17 {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x2).exp() * sum
}

/// The standard normal's cumulative distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// One arm's count: `successes` of `trials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
}

impl Proportion {
    pub fn rate(self) -> Option<f64> {
        (self.trials > 0).then(|| self.successes.min(self.trials) as f64 / self.trials as f64)
    }
}

/// An arm compared with the first arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The arm's rate minus the first arm's (a fraction: 0.1 is 10 points).
    pub difference: f64,
    /// None when both rates are 0 or both 1 (no spread: nothing to test).
    pub z: Option<f64>,
    pub p_value: Option<f64>,
    /// The 95 % confidence interval of the difference.
    pub ci_low: f64,
    pub ci_high: f64,
    /// The trials per arm needed to tell this difference with 80 % power at α = 0.05
    /// (None when the rates are equal: no sample tells a difference of nothing).
    pub sample_needed: Option<u64>,
    /// Of those, the ones still missing in the smaller arm.
    pub more_needed: Option<u64>,
}

/// Compares `arm` with `first` (None when either has no trials).
pub fn compare(first: Proportion, arm: Proportion) -> Option<Comparison> {
    let (p1, p2) = (first.rate()?, arm.rate()?);
    let (n1, n2) = (first.trials as f64, arm.trials as f64);
    let difference = p2 - p1;
    let pooled =
        (first.successes.min(first.trials) + arm.successes.min(arm.trials)) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = (se > 0.0).then(|| difference / se);
    let p_value = z.map(|z| erfc(z.abs() / std::f64::consts::SQRT_2));
    let unpooled = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    let sample_needed = sample_per_arm(p1, p2);
    let have = first.trials.min(arm.trials);
    Some(Comparison {
        difference,
        z,
        p_value,
        ci_low: difference - Z_95 * unpooled,
        ci_high: difference + Z_95 * unpooled,
        sample_needed,
        more_needed: sample_needed.map(|n| n.saturating_sub(have)),
    })
}

/// The trials per arm that tell rates `p1` and `p2` apart with 80 % power at α = 0.05.
pub fn sample_per_arm(p1: f64, p2: f64) -> Option<u64> {
    let d = (p2 - p1).abs();
    if d < 1e-12 {
        return None;
    }
    let mean = (p1 + p2) / 2.0;
    let a = Z_95 * (2.0 * mean * (1.0 - mean)).sqrt();
    let b = Z_POWER_80 * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let n = ((a + b) * (a + b) / (d * d)).ceil();
    Some(if n > 1e15 {
        1_000_000_000_000_000
    } else {
        n as u64
    })
}

/// A whole number with thousands separators: 1,200.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A plain-words verdict on `arm` against `first` (what the comparison says, for people).
pub fn verdict(first: &str, arm: &str, c: Option<&Comparison>) -> String {
    let Some(c) = c else {
        return "no conversations yet in one of the arms".to_string();
    };
    let points = (c.difference * 100.0).abs();
    let how = if c.difference >= 0.0 { "more" } else { "less" };
    match c.p_value {
        Some(p) if p < ALPHA => {
            let pct = p * 100.0;
            let chance = if pct < 0.1 {
                "less than 0.1 %".to_string()
            } else {
                format!("{pct:.1} %")
            };
            format!(
                "{arm} finishes {points:.1} points {how} often than {first}; a difference this large would appear by chance {chance} of the time"
            )
        }
        _ => match c.more_needed {
            Some(0) | None if c.sample_needed.is_some() => format!(
                "no real difference: {arm} finishes {points:.1} points {how} often than {first}, which chance explains"
            ),
            Some(more) => format!(
                "not sure yet: about {} more conversations per arm are needed to tell",
                thousands(round_up(more))
            ),
            None => format!("{arm} and {first} finish equally often so far"),
        },
    }
}

/// A count rounded up to 2 significant digits ("about 1,200"), exact below 100.
fn round_up(n: u64) -> u64 {
    let mut unit = 1u64;
    while n / unit >= 100 {
        unit *= 10;
    }
    n.div_ceil(unit) * unit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erfc_matches_reference_values_to_1e_7_relative() {
        // Reference values (Python's math.erfc, itself to double precision).
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715_2),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_265),
            (2.5, 0.000_406_952_017_444_958_9),
            (3.0, 2.209_049_699_858_543_8e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (5.0, 1.537_459_794_428_035_1e-12),
            (6.0, 2.151_973_671_249_891_6e-17),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!(
                near(got, want, want * 1e-9),
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!(near(erfc(-1.0), 2.0 - 0.157_299_207_050_285_13, 1e-14));
        assert!(near(normal_cdf(Z_95), 0.975, 1e-12));
        assert!(near(normal_cdf(-Z_POWER_80), 0.2, 1e-12));
        assert_eq!(erfc(40.0), 0.0);
    }

    #[test]
    fn the_hand_computed_example() {
        // A 120/400 = 0.30, B 160/400 = 0.40. Pooled p = 280/800 = 0.35;
        // SE = sqrt(0.35 · 0.65 · (1/400 + 1/400)) = sqrt(0.0011375) = 0.033727;
        // z = 0.10 / 0.033727 = 2.9650; p = erfc(2.9650 / √2) = 0.003027.
        // Unpooled SE = sqrt(0.3·0.7/400 + 0.4·0.6/400) = sqrt(0.001125) = 0.033541;
        // CI = 0.10 ± 1.96 · 0.033541 = [0.034261, 0.165739].
        // Sample: p̄ = 0.35, (1.959964 · sqrt(0.455) + 0.841621 · sqrt(0.45))² / 0.01
        //       = (1.322068 + 0.564577)² / 0.01 = 355.94 → 356 per arm; 400 are there.
        let a = Proportion {
            successes: 120,
            trials: 400,
        };
        let b = Proportion {
            successes: 160,
            trials: 400,
        };
        let c = compare(a, b).unwrap();
        assert!(near(c.difference, 0.10, 1e-12));
        assert!(near(c.z.unwrap(), 2.964_997, 1e-5));
        assert!(near(c.p_value.unwrap(), 0.003_027, 1e-6));
        assert!(near(c.ci_low, 0.034_261, 1e-6));
        assert!(near(c.ci_high, 0.165_739, 1e-6));
        assert_eq!(c.sample_needed, Some(356));
        assert_eq!(c.more_needed, Some(0));
        assert_eq!(
            verdict("A", "B", Some(&c)),
            "B finishes 10.0 points more often than A; a difference this large would appear by chance 0.3 % of the time"
        );
    }

    #[test]
    fn a_small_sample_is_not_sure_yet() {
        // A 30/100 vs B 36/100: pooled 0.33, SE = sqrt(0.33·0.67·0.02) = 0.066498,
        // z = 0.06/0.066498 = 0.9023, p = 0.3669. Sample: p̄ = 0.33,
        // (1.959964 · sqrt(0.4422) + 0.841621 · sqrt(0.21 + 0.2304))² / 0.0036 = 962.92
        // → 963 per arm, 863 more; the verdict rounds up to 2 digits: 870.
        let c = compare(
            Proportion {
                successes: 30,
                trials: 100,
            },
            Proportion {
                successes: 36,
                trials: 100,
            },
        )
        .unwrap();
        assert!(near(c.z.unwrap(), 0.902_281, 1e-5));
        assert!(near(c.p_value.unwrap(), 0.366_908, 1e-5));
        assert_eq!(c.sample_needed, Some(963));
        assert_eq!(c.more_needed, Some(863));
        assert_eq!(
            verdict("A", "B", Some(&c)),
            "not sure yet: about 870 more conversations per arm are needed to tell"
        );
    }

    #[test]
    fn degenerate_inputs_give_no_test_and_no_panic() {
        let none = Proportion {
            successes: 0,
            trials: 0,
        };
        let all = Proportion {
            successes: 5,
            trials: 5,
        };
        assert!(compare(none, all).is_none());
        let c = compare(all, all).unwrap();
        assert_eq!((c.z, c.p_value, c.sample_needed), (None, None, None));
        assert_eq!(
            verdict("a", "b", Some(&c)),
            "b and a finish equally often so far"
        );
        assert_eq!(
            verdict("a", "b", None),
            "no conversations yet in one of the arms"
        );
        // More successes than trials (a corrupt count) is read as all.
        let over = Proportion {
            successes: 9,
            trials: 5,
        };
        assert_eq!(over.rate(), Some(1.0));
    }

    #[test]
    fn thousands_and_rounding() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(round_up(1163), 1200);
        assert_eq!(round_up(99), 99);
    }
}
