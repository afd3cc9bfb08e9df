//! Where a parameter is heading: a least-squares line through its last values, pack by pack,
//! and how many packs remain before it crosses the grade where the profile starts failing.

use super::metric::{Boundary, Worse};

/// A slope this many standard errors from zero is a trend, not noise. Every pack tests each
/// metric over several windows, so the bar is high: at 5, 10 000 packs of a stable line showed
/// one chance trend (a skewed parameter, modulation); at 6, none — while a real drift of a
/// point per hundred packs still stands out at 14 within a window of 200.
const SIGNIFICANT_T: f64 = 6.0;

/// Fewest values a line is fitted through.
pub const MIN_VALUES: usize = 20;

/// A line through values taken one pack apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Change per pack.
    pub slope: f64,
    /// The line's value at the newest pack.
    pub now: f64,
    /// Standard error of the slope.
    pub slope_error: f64,
}

impl Fit {
    /// The least-squares line through `values` (oldest first), fitted again without the
    /// values far off the first line: a parameter such as modulation (the weakest module's)
    /// has a long tail, and one poor pack at the end of a short window must not look like a
    /// trend. None for fewer than [`MIN_VALUES`]. `resolution` is the smallest spread assumed
    /// around the line (identical values would otherwise make any slope infinitely significant).
    pub fn through(values: &[f64], resolution: f64) -> Option<Fit> {
        let first = fit(values, |_| true, resolution)?;
        // Off the line by more than 3.5 robust standard deviations (1.4826 × the median
        // absolute residual), or by no less than the resolution.
        let mut residuals: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(i, &y)| (y - first.at(i as f64)).abs())
            .collect();
        let middle = residuals.len() / 2;
        let (_, median, _) = residuals.select_nth_unstable_by(middle, f64::total_cmp);
        let cut = 3.5 * (1.4826 * *median).max(resolution);
        let far = |i: usize| (values[i] - first.at(i as f64)).abs() > cut;
        let line = if (0..values.len()).any(far) {
            fit(values, |i| !far(i), resolution)?
        } else {
            first
        };
        Some(Fit {
            slope: line.slope,
            now: line.at((values.len() - 1) as f64),
            slope_error: line.slope_error,
        })
    }

    /// Packs until the line crosses `boundary` going the way `worse` says, when the slope
    /// points that way and is significant; 0 when it is already past it.
    pub fn packs_until(&self, boundary: Boundary, worse: Worse) -> Option<f64> {
        if self.slope.abs() < SIGNIFICANT_T * self.slope_error {
            return None;
        }
        let toward = match worse {
            Worse::Lower => -self.slope,
            Worse::Higher => self.slope,
        };
        if toward <= 0.0 {
            return None;
        }
        let left = match worse {
            Worse::Lower => self.now - boundary.value,
            Worse::Higher => boundary.value - self.now,
        };
        Some((left / toward).max(0.0))
    }
}

/// A least-squares line over values by pack index.
struct Line {
    slope: f64,
    mean_x: f64,
    mean_y: f64,
    slope_error: f64,
}

impl Line {
    fn at(&self, x: f64) -> f64 {
        self.mean_y + self.slope * (x - self.mean_x)
    }
}

/// The least-squares line through the values `keep` selects, x being each value's index.
fn fit(values: &[f64], keep: impl Fn(usize) -> bool, resolution: f64) -> Option<Line> {
    let points = || {
        values
            .iter()
            .enumerate()
            .filter(|&(i, _)| keep(i))
            .map(|(i, &y)| (i as f64, y))
    };
    let (count, sum_x, sum_y) = points().fold((0.0, 0.0, 0.0), |(n, sx, sy), (x, y)| {
        (n + 1.0, sx + x, sy + y)
    });
    if count < MIN_VALUES as f64 {
        return None;
    }
    let (mean_x, mean_y) = (sum_x / count, sum_y / count);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points() {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
    }
    let slope = sxy / sxx;
    let residual: f64 = points()
        .map(|(x, y)| {
            let r = y - (mean_y + slope * (x - mean_x));
            r * r
        })
        .sum();
    let spread = (residual / (count - 2.0))
        .sqrt()
        .max(resolution / 12f64.sqrt());
    Some(Line {
        slope,
        mean_x,
        mean_y,
        slope_error: spread / sxx.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const C_TO_D: Boundary = Boundary {
        value: 0.40,
        from: 2,
    };

    #[test]
    fn a_steady_fall_projects_the_crossing() {
        let values: Vec<f64> = (0..50).map(|i| 0.70 - 0.004 * i as f64).collect();
        let fit = Fit::through(&values, 0.01).unwrap();
        assert!((fit.slope + 0.004).abs() < 1e-12 && (fit.now - 0.504).abs() < 1e-12);
        let packs = fit.packs_until(C_TO_D, Worse::Lower).unwrap();
        assert!((packs - 26.0).abs() < 1e-6, "{packs}");
        assert_eq!(
            fit.packs_until(C_TO_D, Worse::Higher),
            None,
            "rising is better"
        );
        assert!(Fit::through(&values[..MIN_VALUES - 1], 0.01).is_none());
    }

    #[test]
    fn one_poor_pack_at_the_end_is_not_a_trend() {
        let mut values: Vec<f64> = (0..25)
            .map(|i| 0.80 + 0.004 * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        values.push(0.55);
        let fit = Fit::through(&values, 0.01).unwrap();
        assert_eq!(fit.packs_until(C_TO_D, Worse::Lower), None, "{fit:?}");
    }

    #[test]
    fn noise_around_a_level_is_not_a_trend() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut trends = 0;
        for _ in 0..2000 {
            let values: Vec<f64> = (0..200)
                .map(|_| 0.45 + rng.random_range(-0.02..0.02))
                .collect();
            trends += usize::from(
                Fit::through(&values, 0.01)
                    .unwrap()
                    .packs_until(C_TO_D, Worse::Lower)
                    .is_some(),
            );
        }
        assert_eq!(trends, 0);
    }

    #[test]
    fn a_slow_drift_is_found_in_a_long_window() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // A point (0.01) per hundred packs, under noise of ±0.01.
        let values: Vec<f64> = (0..200)
            .map(|i| 0.60 - 0.0001 * i as f64 + rng.random_range(-0.01..0.01))
            .collect();
        let packs = Fit::through(&values, 0.01)
            .unwrap()
            .packs_until(C_TO_D, Worse::Lower)
            .expect("a significant fall");
        assert!((1500.0..2300.0).contains(&packs), "{packs}");
    }
}
