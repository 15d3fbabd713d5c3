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
            let n = n.clamp(40, 400);
            // At high occupancy the spread (hence Freedman–Diaconis) is set by the
            // photoelectrons, and a bin can be wider than the pedestal: the fit could then
            // not see it. Bins are made narrow enough for ≥ 2 per pedestal σ.
            let est = leftmost_peak_sigma(&v, lo, hi);
            match est {
                Some(s) if s > 0.0 && (hi - lo) / n as f64 > 0.5 * s => {
                    (((hi - lo) / (0.5 * s)).ceil() as usize).clamp(n, MAX_AUTO_BINS)
                }
                _ => n,
            }
        });
        // Only where both range and bins are automatic: an explicit range (the old
        // analysis's 0.5–4.5 pC cut window, a configured one) is kept exactly.
        if bins.is_none()
            && range.is_none()
            && let Some((lo, width, n)) = snapped_to_quantum(&v, lo, hi, n_bins)
        {
            return Some(Histogram::fill(&v, lo, lo + width * n as f64, n, unit));
        }
        Some(Histogram::fill(&v, lo, hi, n_bins, unit))
    }

    /// Builds a histogram from already-binned data (centres equally spaced, up to the
    /// rounding of an export: the readers check that). The bin width and the first edge
    /// come from a least-squares line through the centres, so centres written with a few
    /// significant digits (`999.167, 1000.83`) give the true grid, not one rounding's.
    pub fn from_centers(centers: &[f64], counts: &[f64], unit: &str) -> Option<Histogram> {
        if centers.len() < 2 || centers.len() != counts.len() {
            return None;
        }
        let (first, width) = grid_of(centers);
        if !(width.is_finite() && width > 0.0 && first.is_finite()) {
            return None;
        }
        Some(Histogram {
            lo: first - 0.5 * width,
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

/// Fewest values for a charge quantum to be looked for.
const MIN_QUANTUM_VALUES: usize = 100;

/// Share of the values that must lie on the lattice for the charges to count as quantised
/// (a few may come from elsewhere: an event integrated differently, a float's rounding).
const ON_LATTICE: f64 = 0.999;

/// The quantum `q` and one lattice point of sorted values `v` that all (but
/// [`ON_LATTICE`]) lie on a lattice `origin + m·q`; `None` when they do not.
///
/// A digitiser's samples are integers, so a charge summed over a window with a baseline
/// averaged over a fixed number of samples takes only the values of a lattice (0.5 ADC·
/// sample for 60 window and 40 baseline samples; integers for the UZH areas). Bins that
/// hold alternately k and k + 1 lattice points then differ by 1/k whatever the spectrum
/// (2 % for the UZH areas' 45–46, 7 % on a simulated point), which a fit of 50,000 events
/// or more reads as a lack of fit: χ²/⟨χ²⟩ of 1.2–1.3, and errors scaled up by as much.
pub fn charge_quantum(v: &[f64]) -> Option<(f64, f64)> {
    if v.len() < MIN_QUANTUM_VALUES {
        return None;
    }
    let (first, last) = (v[0], v[v.len() - 1]);
    // Values closer than this are the same lattice point (a float's rounding).
    let same = 1e-5 * (last - first);
    if !(same > 0.0 && same.is_finite()) {
        return None;
    }
    // The lattice spacing is the gap between neighbouring distinct values where the
    // spectrum is dense (the pedestal), where every lattice point is taken: the smallest
    // gap but for the 2 % smallest, which a value off the lattice may make.
    let mut gaps: Vec<f64> = v
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > same)
        .collect();
    if gaps.len() < 10 {
        return None;
    }
    let at = gaps.len() / 50;
    let (_, &mut q, _) = gaps.select_nth_unstable_by(at, f64::total_cmp);
    if !(q.is_finite() && (last - first) / q < 1e7) {
        return None;
    }
    let origin = v[v.len() / 2];
    let off = v
        .iter()
        .filter(|&&x| {
            let r = (x - origin) / q;
            (r - r.round()).abs() > 0.01
        })
        .count();
    (off as f64 <= (1.0 - ON_LATTICE) * v.len() as f64).then_some((q, origin))
}

/// The automatic binning `(lo, hi, n)` moved onto the charge lattice of sorted `v`, when
/// there is one ([`charge_quantum`]): edges halfway between lattice points, and a width of
/// a whole number of them (no wider than asked; one at least), so every bin holds the same
/// number of possible values. `(lo, width, bins)`, covering at least `[lo, hi)`.
fn snapped_to_quantum(v: &[f64], lo: f64, hi: f64, n: usize) -> Option<(f64, f64, usize)> {
    let (q, origin) = charge_quantum(v)?;
    let k = ((hi - lo) / n as f64 / q).floor().max(1.0);
    let width = k * q;
    let lo = origin + (((lo - origin) / q - 0.5).floor() + 0.5) * q;
    let bins = ((hi - lo) / width).ceil();
    (bins.is_finite() && bins >= 1.0 && bins <= 2.0 * MAX_AUTO_BINS as f64).then_some((
        lo,
        width,
        bins as usize,
    ))
}

/// Most bins the automatic binning makes (when the pedestal needs them).
const MAX_AUTO_BINS: usize = 1000;

/// Entries per bin of the coarser grid a suspect fine-grid peak is looked at again on.
/// With 1000 bins for 4,000 entries, the pedestal's lower flank held a few entries a bin,
/// a noise bump there passed for the leftmost peak, and the spectrum was cut into 400–900
/// bins of σ0/20–σ0/40 (one simulated 4,000-event point in seven at μ 0.1; one such fit
/// failed, one read the gain 50 % low). The fine grid stays first: at μ 3 the pedestal
/// holds 5 % of the entries, and a coarse grid alone can miss it.
const ENTRIES_PER_PEAK_BIN: usize = 20;

/// Fewest entries within ±σ of the fine grid's leftmost peak for it to count as the
/// pedestal without a second look: a real one holds 68 % of its events there (≥ 130 of a
/// 4,000-event point at μ 3), a noise bump on a sparse flank a handful.
const MIN_PEAK_ENTRIES: usize = 25;

/// Most a fine-grid peak's density may be, relative to the coarse grid's peak beside it,
/// for it to be taken as a bump on that peak's flank. Measured on 1,000 draws each of the
/// two tests below: the bumps that shredded the binning 0.1–0.35; a real sparse pedestal
/// at μ 3 beside the photoelectrons' hump ≥ 0.38 (0.46–0.6 on the simulated grid points
/// that failed). The few bumps above 0.35 lie within ~1.5σ of the pedestal's centre and
/// leave ≥ 1/20 of its σ a bin, which the fit takes.
const FLANK_DENSITY: f64 = 0.35;

/// Fewest entries within ±σ of a fine-grid peak for it to stand alone (see
/// [`stands_alone`]): a sparse pedestal at μ 5 holds ~18 of 4,000 entries, a noise bump on a
/// sparse flank a handful.
const MIN_ALONE_ENTRIES: usize = 10;

/// How many times a peak's entries within ±σ must outnumber those of a 2σ window
/// somewhere 2σ–10σ above it for the peak to stand alone.
const ALONE_RATIO: usize = 3;

/// Most fine-grid peaks looked at, left to right, for the pedestal.
const MAX_PEAK_CANDIDATES: usize = 50;

/// The width (σ, from the half maximum of its left flank) of the leftmost clear peak of
/// sorted `v` in `[lo, hi)` — the pedestal of a charge spectrum — on a fine grid of
/// [`MAX_AUTO_BINS`] bins; `None` when there is no such peak.
///
/// On a sparse spectrum the fine grid's leftmost "peak" can be a noise bump where the
/// pedestal's lower flank crosses the detection threshold (~2.5σ out). It is then looked
/// at again on a coarser grid ([`ENTRIES_PER_PEAK_BIN`] entries a bin): when the fine
/// peak holds fewer than [`MIN_PEAK_ENTRIES`] within ±σ, or the coarse peak is resolved
/// (σ ≥ 2 bins) and over twice as wide, *and* the fine peak sits on the coarse one's flank
/// (the coarse counts do not dip between the two, and the fine peak is far less dense
/// than the coarse one: [`FLANK_DENSITY`]), the coarse width is taken. The flank test
/// keeps a real but sparse pedestal at μ 3, where the coarse grid's leftmost peak can be
/// the photoelectrons' hump beyond it. Before that, a fine-grid peak that stands alone
/// ([`stands_alone`]) is taken as it is, after passing over any noise bumps left of it:
/// at μ 4–5 the pedestal holds 0.7–2 % of the entries, the coarse grid smears it into the
/// hump's flank, and its width was replaced by the hump's.
fn leftmost_peak_sigma(v: &[f64], lo: f64, hi: f64) -> Option<f64> {
    let fine = smoothed(v, lo, hi, MAX_AUTO_BINS);
    let (first, x_fine, s_fine) = peak_after(&fine, lo, hi, 0)?;
    let n = (v.len() / ENTRIES_PER_PEAK_BIN).clamp(100, MAX_AUTO_BINS);
    if n == MAX_AUTO_BINS {
        return Some(s_fine);
    }
    let held = count_within(v, x_fine - s_fine, x_fine + s_fine);
    // A peak that stands alone is the pedestal, however sparse (μ 5: 0.7 % of the
    // entries, whose dip before the photoelectrons the coarse grid does not resolve);
    // noise bumps before it (too few entries) are passed over.
    let mut from = first;
    for _ in 0..MAX_PEAK_CANDIDATES {
        let Some((i, xc, sc)) = peak_after(&fine, lo, hi, from) else {
            break;
        };
        if stands_alone(v, xc, sc) {
            return Some(sc);
        }
        if count_within(v, xc - sc, xc + sc) >= MIN_PEAK_ENTRIES {
            break;
        }
        from = i + 1;
    }
    let coarse = smoothed(v, lo, hi, n);
    let Some((x, s)) = peak_on(&coarse, lo, hi) else {
        return Some(s_fine);
    };
    let width = (hi - lo) / n as f64;
    let bin = |x: f64| (((x - lo) / width).floor().max(0.0) as usize).min(n - 1);
    let (a, b) = (bin(x_fine.min(x)), bin(x_fine.max(x)));
    let valley = coarse[a..=b].iter().copied().fold(f64::INFINITY, f64::min);
    // On the coarse peak's flank: no dip between the two, and the fine peak's density
    // (its entries within ±σ over 2σ) well below the coarse peak's. A real pedestal left
    // of a photoelectron hump dips before it and is about as dense; a noise bump where the
    // pedestal's flank crosses the detection threshold holds a tenth or a fifth of it.
    let dense = held as f64 / (2.0 * s_fine);
    let on_flank =
        valley >= 0.7 * coarse[a].min(coarse[b]) && dense < FLANK_DENSITY * coarse[bin(x)] / width;
    let suspicious = held < MIN_PEAK_ENTRIES || (s >= 2.0 * width && s > 2.0 * s_fine);
    Some(if suspicious && on_flank { s } else { s_fine })
}

/// Entries of sorted `v` in `[a, b]`.
fn count_within(v: &[f64], a: f64, b: f64) -> usize {
    v.partition_point(|&x| x <= b) - v.partition_point(|&x| x < a)
}

/// Whether the peak of sorted `v` at `x` with width `sigma` stands alone: it holds
/// [`MIN_ALONE_ENTRIES`] within ±σ, and [`ALONE_RATIO`] times more than some 2σ window
/// 2σ–10σ above it (a real peak's density falls there before the next one rises; a noise
/// bump on a broader peak's flank has as much beside it as in it).
fn stands_alone(v: &[f64], x: f64, sigma: f64) -> bool {
    let held = count_within(v, x - sigma, x + sigma);
    held >= MIN_ALONE_ENTRIES
        && (2..=8).any(|k| {
            let a = x + f64::from(k) * sigma;
            ALONE_RATIO * count_within(v, a, a + 2.0 * sigma) <= held
        })
}

/// Counts of `v` on `n` bins over `[lo, hi)`, averaged over 5 bins.
fn smoothed(v: &[f64], lo: f64, hi: f64, n: usize) -> Vec<f64> {
    moving_average(&Histogram::fill(v, lo, hi, n, "").counts, 2)
}

/// The centre and σ of the leftmost clear peak of smoothed counts `s` over `[lo, hi)`.
fn peak_on(s: &[f64], lo: f64, hi: f64) -> Option<(f64, f64)> {
    peak_after(s, lo, hi, 0).map(|(_, x, sigma)| (x, sigma))
}

/// The bin, centre and σ of the first clear peak of smoothed counts `s` over `[lo, hi)`
/// at or after bin `from`.
fn peak_after(s: &[f64], lo: f64, hi: f64, from: usize) -> Option<(usize, f64, f64)> {
    let n = s.len();
    let w = (hi - lo) / n as f64;
    let max = s.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    let peak = (from..n).find(|&i| {
        let left = if i > 0 { s[i - 1] } else { 0.0 };
        s[i] >= 0.05 * max
            && s[i] >= left
            && s[(i + 1).min(n - 1)..(i + 12).min(n)]
                .iter()
                .all(|&x| x <= s[i])
    })?;
    let half = 0.5 * s[peak];
    let mut j = peak;
    while j > 0 && s[j] > half {
        j -= 1;
    }
    if s[j] > half {
        return None;
    }
    // The 5-bin average widens a narrow peak by ~1.4 bins (its own σ); take it off.
    let hwhm = (peak - j) as f64 * w;
    let sigma_s = hwhm / 1.1774;
    let smear = 1.414 * w;
    let sigma = (sigma_s * sigma_s - smear * smear).max(0.25 * w * w).sqrt();
    Some((peak, lo + (peak as f64 + 0.5) * w, sigma))
}

/// The equally spaced grid `c_i ≈ first + i·width` closest (least squares) to `centers`.
pub fn grid_of(centers: &[f64]) -> (f64, f64) {
    let n = centers.len() as f64;
    if centers.len() < 2 {
        return (centers.first().copied().unwrap_or(0.0), f64::NAN);
    }
    // Σ over i of (i − ī)(c_i − c̄) / Σ (i − ī)², with ī = (n − 1)/2.
    let ibar = (n - 1.0) / 2.0;
    let cbar = centers.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &c) in centers.iter().enumerate() {
        let dx = i as f64 - ibar;
        sxy += dx * (c - cbar);
        sxx += dx * dx;
    }
    let width = sxy / sxx;
    (cbar - width * ibar, width)
}

/// Moving average over `2·half + 1` bins (fewer at the edges, where the window is cut).
pub fn moving_average(c: &[f64], half: usize) -> Vec<f64> {
    let n = c.len();
    let mut prefix = vec![0.0; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + c[i];
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(n);
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sparse low-occupancy spectrum (4,000 entries: 90 % a pedestal of σ 0.19, the rest
    /// photoelectrons up to ~3.5, a few dark-pulse outliers below): the pedestal's noisy
    /// lower flank on the 1000-bin grid must not pass for the pedestal. Before the coarse
    /// re-measure, some draws were cut into ~950 bins of σ0/42 (now: at least σ0/20).
    #[test]
    fn a_sparse_pedestal_flank_does_not_shred_the_binning() {
        use rand::{RngExt, SeedableRng};
        use rand_distr::{Distribution, Normal};
        let ped = Normal::new(0.0_f64, 0.19).expect("normal");
        let spe = Normal::new(1.7_f64, 0.5).expect("normal");
        for seed in 0..200_u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let v: Vec<f64> = (0..4000)
                .map(|i| match i {
                    0..3600 => ped.sample(&mut rng),
                    3600..3990 => ped.sample(&mut rng) + f64::max(spe.sample(&mut rng), 0.05),
                    _ => -0.4 - rng.random::<f64>() * 2.0,
                })
                .collect();
            let h = Histogram::auto(&v, None, None, "pC").expect("histogram");
            assert!(
                h.width > 0.19 / 20.0 && h.counts.len() < 500,
                "seed {seed}: {} bins of {:.4}",
                h.counts.len(),
                h.width
            );
        }
    }

    /// The other side: at μ 3 a 4,000-entry pedestal holds only ~200 entries, sparse on the
    /// fine grid, and photoelectron peaks lie beyond a valley; at μ 4–5 only ~75–27, left
    /// of a hump that rises without a dip on the coarse grid. Its width must still set the
    /// binning (≥ 1 bin per pedestal σ; the fine grid alone gave 1.07–4.5), not the
    /// photoelectrons' coarse-grid peak: at μ 5 that made bins of 0.4 Q1, the pedestal one
    /// bin, and the fit put it inside the hump (`unresolved`). At μ 5 the 27 entries are
    /// not always enough to tell the pedestal from noise: 186 of 200 draws.
    #[test]
    fn a_sparse_pedestal_at_high_occupancy_keeps_narrow_bins() {
        for (mu, least) in [(3.0, 200), (4.0, 200), (5.0, 180)] {
            let narrow = draws_with_narrow_bins(mu);
            assert!(narrow >= least, "μ {mu}: {narrow} of 200 draws");
        }
    }

    /// Of 200 draws of 4,000 entries at occupancy `mu` (pedestal σ 0.19, SPE 1.7 ± 0.5),
    /// how many are binned finer than the pedestal's σ.
    fn draws_with_narrow_bins(mu: f64) -> usize {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal, Poisson};
        let ped = Normal::new(0.0_f64, 0.19).expect("normal");
        let spe = Normal::new(1.7_f64, 0.5).expect("normal");
        let npe = Poisson::new(mu).expect("poisson");
        (0..200_u64)
            .filter(|&seed| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let v: Vec<f64> = (0..4000)
                    .map(|_| {
                        let k = npe.sample(&mut rng) as usize;
                        ped.sample(&mut rng) + (0..k).map(|_| spe.sample(&mut rng)).sum::<f64>()
                    })
                    .collect();
                Histogram::auto(&v, None, None, "pC").is_some_and(|h| h.width < 0.19)
            })
            .count()
    }

    /// Integer charges (a digitiser's ADC·samples) binned with a width that is not a whole
    /// number of integers alternate between k and k + 1 values a bin: the automatic
    /// binning puts its edges halfway between integers instead, with a whole number of
    /// them a bin, so a flat spectrum fills every bin alike. Charges off any lattice keep
    /// the plain binning.
    #[test]
    fn quantised_charges_get_bins_of_whole_quanta() {
        // Every integer from −500 to 1499 twice, scaled to a quantum of 0.5 and shifted.
        let v: Vec<f64> = (0..4000)
            .map(|i| 0.25 + 0.5 * f64::from(i / 2 - 500))
            .collect();
        assert_eq!(charge_quantum(&v).map(|(q, _)| q), Some(0.5));
        let h = Histogram::auto(&v, None, None, "ADC*samples").expect("histogram");
        let k = h.width / 0.5;
        assert!(
            (k - k.round()).abs() < 1e-9 && k >= 1.0,
            "width {}",
            h.width
        );
        let edge = (h.lo - 0.25) / 0.5;
        assert!((edge - edge.floor() - 0.5).abs() < 1e-9, "lo {}", h.lo);
        // Inside the data (its first and last bin may hold only part of a bin's values).
        let filled: Vec<f64> = h.counts.iter().copied().filter(|&c| c > 0.0).collect();
        let inner = &filled[1..filled.len() - 1];
        let (min, max) = inner
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(a, b), &c| (a.min(c), b.max(c)));
        assert!(min == max, "uneven bins: {min} … {max} a bin");
        // Off the lattice: a smooth spread of values is binned as before.
        let smooth: Vec<f64> = (0..4000)
            .map(|i| f64::from(i) * 0.2371 + 0.013 * f64::from(i % 7))
            .collect();
        assert_eq!(charge_quantum(&smooth), None);
    }

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
    fn auto_bins_resolve_the_pedestal_with_far_outliers() {
        // A simulated point's charges: pedestal N(0, 0.124) with 37 % of 20,000 events, a
        // broad signal, and outliers far below (dark pulses in the baseline samples) and
        // above, which stretch the range.
        let mut state = 7u64;
        let mut uni = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut v = Vec::new();
        for _ in 0..7400 {
            let (a, b) = (uni(), uni());
            v.push(0.124 * (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos());
        }
        for _ in 0..12_550 {
            v.push(0.5 + 6.0 * uni() * uni());
        }
        for i in 0..50 {
            v.push(-3.6 + 2.9 * i as f64 / 50.0);
        }
        v.push(10.8);
        let h = Histogram::auto(&v, None, None, "pC").expect("hist");
        assert!(
            h.width <= 0.08,
            "width {} for a pedestal σ of 0.124",
            h.width
        );
    }

    #[test]
    fn auto_bins_resolve_the_pedestal_at_high_occupancy() {
        // A narrow pedestal (σ 0.1) with 5 % of the events, and broad signal to 20.
        let mut v: Vec<f64> = (0..1000)
            .map(|i| 0.1 * ((i as f64 + 0.5) / 1000.0 * 6.0 - 3.0))
            .collect();
        v.extend((0..19_000).map(|i| 1.0 + 19.0 * (i as f64 / 19_000.0)));
        let h = Histogram::auto(&v, None, None, "pC").expect("hist");
        assert!(
            h.width <= 0.12,
            "width {} for a pedestal σ of ~0.1",
            h.width
        );
    }

    #[test]
    fn from_centers_recovers_edges() {
        let h = Histogram::from_centers(&[0.5, 1.5, 2.5], &[1.0, 2.0, 3.0], "V*s").expect("h");
        assert!((h.lo - 0.0).abs() < 1e-12 && (h.width - 1.0).abs() < 1e-12);
        // Centres of 1500 bins of 2500/1500 from −500, written with 6 significant digits.
        let centers: Vec<f64> = (0..1500)
            .map(|i| {
                let c: f64 = -500.0 + (i as f64 + 0.5) * 2500.0 / 1500.0;
                format!("{c:.5e}").parse::<f64>().expect("a number")
            })
            .collect();
        let h = Histogram::from_centers(&centers, &vec![1.0; 1500], "mV*ns").expect("h");
        assert!((h.lo + 500.0).abs() < 1e-3, "lo {}", h.lo);
        assert!(
            (h.width - 2500.0 / 1500.0).abs() < 1e-6,
            "width {}",
            h.width
        );
    }
}
