//! Binned charge spectra. The automatic range covers the pedestal and the signal tail
//! while ignoring far outliers; the automatic bin width follows Freedman–Diaconis,
//! bounded so that a fit always has enough bins and never absurdly many.

use serde::{Deserialize, Serialize};

/// Equal-width histogram: bin `i` covers `[lo + i·width, lo + (i+1)·width)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub width: f64,
    pub counts: Vec<f64>,
    /// Unit of the charge axis (`pC`, `ADC*samples`, `V*s`, …).
    pub unit: String,
    /// Entries that fell outside the range (not in `counts`).
    pub outside: u64,
}

impl Histogram {
    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// Upper edge of the last bin.
    pub fn hi(&self) -> f64 {
        self.lo + self.width * self.counts.len() as f64
    }

    /// Bin centres.
    pub fn centers(&self) -> Vec<f64> {
        (0..self.counts.len())
            .map(|i| self.lo + (i as f64 + 0.5) * self.width)
            .collect()
    }

    /// Sum of counts.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// Fills a histogram with explicit range and bin count.
    pub fn fill(values: &[f64], lo: f64, hi: f64, bins: usize, unit: &str) -> Histogram {
        let bins = bins.max(1);
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0.0; bins];
        let mut outside = 0u64;
        let inv = 1.0 / width;
        for &v in values {
            let k = ((v - lo) * inv).floor();
            if k >= 0.0 && k < bins as f64 {
                counts[k as usize] += 1.0;
            } else {
                outside += 1;
            }
        }
        Histogram {
            lo,
            width,
            counts,
            unit: unit.to_string(),
            outside,
        }
    }

    /// Fills with an automatic range and binning (see module docs); `bins` and `range`
    /// override either choice. Returns `None` when there are no finite values.
    pub fn auto(
        values: &[f64],
        bins: Option<usize>,
        range: Option<[f64; 2]>,
        unit: &str,
    ) -> Option<Histogram> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        let (lo, hi) = match range {
            Some([lo, hi]) => (lo, hi),
            None => {
                // Robust core of the distribution, then margins: below, a fifth of the
                // pedestal's half-width; above, up to the largest value but at most one
                // more core width, so the multi-photoelectron tail (few events, but what
                // pins Q1 and σ1 together at low occupancy) stays in the fit while a
                // far outlier cannot stretch the binning.
                let (p01, p50, p999) = (q(0.001), q(0.5), q(0.999));
                let spread = (p999 - p01).max(f64::MIN_POSITIVE);
                let lo = p01 - 0.05 * spread - (p50 - p01).abs() * 0.2;
                let max = v[v.len() - 1];
                let hi = max.min(p999 + spread).max(p999 + 0.05 * spread);
                (lo, hi)
            }
        };
        // (also catches NaN bounds from a NaN range)
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            // All values equal: one narrow bin around them.
            let c = v[0];
            let half = if c == 0.0 { 0.5 } else { c.abs() * 1e-3 };
            return Some(Histogram::fill(&v, c - half, c + half, 1, unit));
        }
        let n_bins = bins.unwrap_or_else(|| {
            let iqr = q(0.75) - q(0.25);
            let fd = 2.0 * iqr / (v.len() as f64).cbrt();
            let n = if fd > 0.0 {
                ((hi - lo) / fd).ceil() as usize
            } else {
                100
            };
            n.clamp(40, 400)
        });
        Some(Histogram::fill(&v, lo, hi, n_bins, unit))
    }

    /// Builds a histogram from already-binned data (centres must be equally spaced).
    pub fn from_centers(centers: &[f64], counts: &[f64], unit: &str) -> Option<Histogram> {
        if centers.len() < 2 || centers.len() != counts.len() {
            return None;
        }
        let width = (centers[centers.len() - 1] - centers[0]) / (centers.len() - 1) as f64;
        if !(width.is_finite() && width > 0.0) {
            return None;
        }
        Some(Histogram {
            lo: centers[0] - 0.5 * width,
            width,
            counts: counts.to_vec(),
            unit: unit.to_string(),
            outside: 0,
        })
    }

    /// A copy restricted to bins whose centres lie in `[lo, hi]`.
    pub fn slice(&self, lo: f64, hi: f64) -> Histogram {
        let centers = self.centers();
        let first = centers
            .iter()
            .position(|&c| c >= lo)
            .unwrap_or(centers.len());
        let last = centers.iter().rposition(|&c| c <= hi).map_or(0, |i| i + 1);
        let counts = if first < last {
            self.counts[first..last].to_vec()
        } else {
            Vec::new()
        };
        Histogram {
            lo: self.lo + first as f64 * self.width,
            width: self.width,
            counts,
            unit: self.unit.clone(),
            outside: self.outside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_counts_and_outside() {
        let h = Histogram::fill(&[0.0, 0.5, 0.99, 1.0, -0.1], 0.0, 1.0, 2, "pC");
        assert_eq!(h.counts, vec![1.0, 2.0]);
        assert_eq!(h.outside, 2);
        assert_eq!(h.centers(), vec![0.25, 0.75]);
    }

    #[test]
    fn auto_handles_constant_and_empty() {
        assert!(Histogram::auto(&[], None, None, "pC").is_none());
        assert!(Histogram::auto(&[f64::NAN], None, None, "pC").is_none());
        let h = Histogram::auto(&[3.0; 10], None, None, "pC").expect("hist");
        assert_eq!(h.total(), 10.0);
    }

    #[test]
    fn from_centers_recovers_edges() {
        let h = Histogram::from_centers(&[0.5, 1.5, 2.5], &[1.0, 2.0, 3.0], "V*s").expect("h");
        assert!((h.lo - 0.0).abs() < 1e-12 && (h.width - 1.0).abs() < 1e-12);
    }
}
