//! Number and text formatting for plot labels. Charges span many decades between
//! digitizer units (≈1e-11 V·s, ≈1e3 ADC·samples, ≈1 pC), so every number goes through
//! one place that switches to scientific notation outside a readable range and rounds a
//! value to the precision its error supports.

/// Decimal exponents (of 10) shown in plain notation; outside this range numbers are
/// written in scientific notation.
const PLAIN: std::ops::Range<i32> = -3..5;

/// Decimal exponent of `|v|` (`v` finite and non-zero).
fn exponent(v: f64) -> i32 {
    v.abs().log10().floor() as i32
}

/// `v` with `n` significant digits, plain or scientific.
pub fn sig(v: f64, n: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let n = n.max(1);
    let ev = exponent(v);
    if PLAIN.contains(&ev) {
        let dec = (n as i32 - 1 - ev).max(0) as usize;
        format!("{v:.dec$}")
    } else {
        format!("{v:.prec$e}", prec = n - 1)
    }
}

/// `value ± error` with the error rounded to two significant digits and the value to
/// the same decimal place; a shared power of ten is factored out in scientific range
/// (`(1.234 ± 0.031)e-12`). Without a usable error the value gets four digits.
pub fn value_err(v: f64, err: Option<f64>) -> String {
    let Some(e) = err.filter(|e| e.is_finite() && *e > 0.0) else {
        return sig(v, 4);
    };
    if !v.is_finite() {
        return format!("{v} ± {}", sig(e, 2));
    }
    let ee = exponent(e);
    // Decimal position of the error's second significant digit.
    let last = ee - 1;
    let ev = if v == 0.0 { ee } else { exponent(v).max(ee) };
    if PLAIN.contains(&ev) {
        let dec = (-last).max(0) as usize;
        format!("{v:.dec$} ± {e:.dec$}")
    } else {
        let scale = 10f64.powi(ev);
        let dec = (ev - last).clamp(0, 8) as usize;
        format!("({:.dec$} ± {:.dec$})e{ev}", v / scale, e / scale)
    }
}

/// Tick label for a linear axis spanning `[lo, hi]`: the fewest digits that still show
/// the tick's value (to a millionth of the span), so ticks read `1`, `2`, `2.5`, not
/// `1.00`, `2.00`, `2.50`.
pub fn tick(v: f64, lo: f64, hi: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let span = (hi - lo).abs();
    let mag = lo.abs().max(hi.abs());
    if !(span > 0.0 && span.is_finite() && mag > 0.0) {
        return sig(v, 3);
    }
    let tol = span * 1e-6;
    if v.abs() < tol {
        return "0".to_string();
    }
    let step_exp = exponent(span / 10.0);
    let mag_exp = exponent(mag);
    if PLAIN.contains(&mag_exp) {
        let max_dec = (1 - step_exp).clamp(0, 9) as usize;
        let dec = (0..max_dec)
            .find(|&d| {
                let p = 10f64.powi(d as i32);
                ((v * p).round() / p - v).abs() < tol
            })
            .unwrap_or(max_dec);
        format!("{v:.dec$}")
    } else {
        let ev = exponent(v);
        let max_prec = (ev - step_exp + 1).clamp(0, 6) as usize;
        let scale = 10f64.powi(ev);
        let prec = (0..max_prec)
            .find(|&d| {
                let p = 10f64.powi(d as i32);
                ((v / scale * p).round() / p * scale - v).abs() < tol
            })
            .unwrap_or(max_prec);
        format!("{v:.prec$e}")
    }
}

/// `v` with `n` significant digits and trailing zeros dropped (`0.05`, `5e-13`).
pub fn short(v: f64, n: usize) -> String {
    let s = sig(v, n);
    let (mant, exp) = match s.find('e') {
        Some(i) => s.split_at(i),
        None => (s.as_str(), ""),
    };
    if mant.contains('.') {
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        format!("{mant}{exp}")
    } else {
        s
    }
}

/// Tick label on a logarithmic count axis: integers where counts are whole numbers,
/// powers of ten written compactly beyond 10⁵.
pub fn count_tick(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return format!("{v}");
    }
    if (1.0..1e5).contains(&v) && (v - v.round()).abs() < 1e-9 * v {
        format!("{v:.0}")
    } else if v < 1e5 {
        sig(v, 2)
    } else {
        format!("{v:.0e}")
    }
}

/// Greedy word wrap of `text` into lines no wider than `max_w` as measured by `width`;
/// a single word longer than a line is broken by characters.
pub fn wrap(text: &str, max_w: u32, width: impl Fn(&str) -> u32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if width(&candidate) <= max_w {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // Break an over-long word by characters.
            for c in word.chars() {
                line.push(c);
                if width(&line) > max_w && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_err_plain_and_scientific() {
        assert_eq!(value_err(1234.56, Some(12.3)), "1235 ± 12");
        assert_eq!(value_err(0.5123, Some(0.0123)), "0.512 ± 0.012");
        assert_eq!(value_err(1.2344e-11, Some(3.1e-13)), "(1.234 ± 0.031)e-11");
        assert_eq!(value_err(1.0123e7, Some(2.0e5)), "(1.012 ± 0.020)e7");
        assert_eq!(value_err(2.5, None), "2.500");
        assert_eq!(value_err(f64::NAN, Some(1.0)), "NaN ± 1.0");
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(2e-11, 0.0, 1e-10), "2e-11");
        assert_eq!(tick(2.5e-11, 0.0, 1e-10), "2.5e-11");
        assert_eq!(tick(250.0, 0.0, 1000.0), "250");
        assert_eq!(tick(0.25, 0.0, 1.0), "0.25");
        assert_eq!(tick(2.0, -0.5, 8.0), "2");
        assert_eq!(tick(1e-17, -0.5, 8.0), "0");
        assert_eq!(short(0.05, 3), "0.05");
        assert_eq!(short(5e-13, 3), "5e-13");
        assert_eq!(short(1234.0, 3), "1234");
        assert_eq!(count_tick(100.0), "100");
        assert_eq!(count_tick(0.5), "0.50");
        assert_eq!(count_tick(1e6), "1e6");
    }

    #[test]
    fn wrap_breaks_lines() {
        let w = |s: &str| s.chars().count() as u32;
        assert_eq!(wrap("aa bb cc", 5, w), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefg", 3, w), vec!["abc", "def", "g"]);
    }
}
