//! Small pure helpers the views share: UTC dates for the History filters and tables
//! (through `humantime`, as the store's timestamps), byte sizes, a run's review
//! in words, a point's coordinates, the names of the profile kinds and modes, a grid cell's
//! CSS class, gains and durations as shown. No component lives here; everything is a plain
//! function.

use crate::model::backend::Kind;
use crate::model::{Review, Run};
use crate::monitor::Mode;
use crate::monitor::board::CellStatus;
use crate::pipeline::scan::PointLabel;

/// Unix seconds of `YYYY-MM-DD` at 00:00 UTC; `None` unless it is a real date.
pub fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    // Exactly `YYYY-MM-DD` (humantime also takes other shapes inside a timestamp).
    let shape = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    let at = humantime::parse_rfc3339(&format!("{t}T00:00:00Z")).ok()?;
    let secs = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC).
pub fn fmt_utc(secs: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ` → `YYYY-MM-DD HH:MM`.
    let t = crate::model::rfc3339(secs);
    format!(
        "{} {}",
        t.get(..10).unwrap_or(&t),
        t.get(11..16).unwrap_or("")
    )
}

/// An optional time as `YYYY-MM-DD HH:MM`, or a dash.
pub fn fmt_utc_opt(secs: Option<i64>) -> String {
    secs.map(fmt_utc).unwrap_or_else(|| "—".into())
}

/// A size in decimal units: `812 B`, `4.1 kB`, `12.3 MB`, `1.20 GB`.
pub fn fmt_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// A review state in words: `archive requested`, `flagged`, …
pub fn review_word(review: Review) -> String {
    review.as_str().replace('_', " ")
}

/// A run's review as the operator reads it: the state, and while a move is under way that
/// it waits for the confirmation; once done, the reason (flagged) and where the data went.
pub fn review_text(run: &Run) -> String {
    let word = review_word(run.review);
    match run.review {
        Review::Unreviewed => word,
        Review::ArchiveRequested | Review::FlagRequested => {
            format!("{word} — waiting for the move to be confirmed")
        }
        Review::Archived | Review::Flagged => {
            let mut s = word;
            if !run.review_reason.is_empty() {
                s.push_str(&format!(": {}", run.review_reason));
            }
            if !run.review_dest.is_empty() {
                s.push_str(&format!(" → {}", run.review_dest));
            }
            if !run.reviewed_by.is_empty() {
                s.push_str(&format!(" (by {}", run.reviewed_by));
                if let Some(at) = run.reviewed_at {
                    s.push_str(&format!(", {} UTC", fmt_utc(at)));
                }
                s.push(')');
            }
            s
        }
    }
}

/// A figure of a point (resolution, dark rate, …): three decimals, scientific beyond 1e4
/// or below 1e-2.
pub fn fmt_figure(x: f64) -> String {
    if x != 0.0 && !(1e-2..1e4).contains(&x.abs()) {
        format!("{x:.3e}")
    } else {
        format!("{x:.3}")
    }
}

/// A point's coordinates: `θ 10° φ 90°` or `1500 V`.
pub fn fmt_coords(p: &PointLabel) -> String {
    match *p {
        PointLabel::Surface { theta, phi } => format!("θ {theta}° φ {phi}°"),
        PointLabel::Hv { volts } => format!("{volts} V"),
        PointLabel::Dark { n } => format!("dark run {n}"),
    }
}

/// Every profile kind with its name in the form.
pub const KINDS: [(Kind, &str); 3] = [
    (Kind::Local, "local"),
    (Kind::Ssh, "ssh"),
    (Kind::Slurm, "slurm"),
];

/// A profile kind's name: `local`, `ssh`, `slurm`.
pub fn kind_name(kind: Kind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| *n)
        .unwrap_or("local")
}

/// Every profile mode with its name in the form.
pub const MODES: [(Mode, &str); 2] = [(Mode::Pipeline, "pipeline"), (Mode::Command, "command")];

/// A profile mode's name: `pipeline`, `command`.
pub fn mode_name(mode: Mode) -> &'static str {
    MODES
        .iter()
        .find(|(m, _)| *m == mode)
        .map(|(_, n)| *n)
        .unwrap_or("pipeline")
}

/// A grid cell's CSS class: the stored verdict's name, `processing` or `pending`.
pub fn cell_class(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Done(s) => s.as_str(),
        CellStatus::Processing => "processing",
        CellStatus::Pending => "pending",
    }
}

/// A run's operating voltage for History: an HV check's result `1712 ± 6 V`, a surface
/// scan's `1712 V (HV check 7)`, or `—`.
pub fn fmt_run_hv(run: &Run) -> String {
    match (run.hv, run.hv_err, run.hv_from) {
        (Some(v), _, Some(from)) => format!("{v:.0} V (HV check {from})"),
        (Some(v), Some(e), None) => format!("{v:.0} ± {e:.0} V"),
        (Some(v), None, None) => format!("{v:.0} V"),
        (None, ..) => "—".into(),
    }
}

/// Formats a gain like `1.02e7`.
pub fn fmt_gain(g: Option<f64>) -> String {
    match g {
        Some(g) if g.is_finite() => format!("{g:.3e}"),
        _ => "—".into(),
    }
}

/// Formats seconds as `1h 02m`, `3m 05s` or `42s`.
pub fn fmt_secs(s: i64) -> String {
    let s = s.max(0);
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_nonsense_is_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-01-01"), Some(946_684_800));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date("2026-12-31"), Some(1_798_675_200));
        assert_eq!(parse_date(" 2024-02-29 "), Some(1_709_164_800));
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-",
            "x-1-1",
            "2024/01/01",
            "+2024-01-01",
            "2024-01-01-",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert_eq!(fmt_utc(0), "1970-01-01 00:00");
        assert_eq!(fmt_utc(1_754_006_399), "2025-07-31 23:59");
        assert_eq!(fmt_utc(1_709_164_800 + 3600 + 120), "2024-02-29 01:02");
        for day in (0..40_000).step_by(37) {
            let secs = day * 86_400;
            let shown = fmt_utc(secs);
            assert_eq!(parse_date(&shown[..10]), Some(secs), "{shown}");
        }
    }

    #[test]
    fn sizes_and_words() {
        assert_eq!(fmt_bytes(812), "812 B");
        assert_eq!(fmt_bytes(4_100), "4.1 kB");
        assert_eq!(fmt_bytes(12_300_000), "12.3 MB");
        assert_eq!(fmt_bytes(1_200_000_000), "1.20 GB");
        assert_eq!(review_word(Review::ArchiveRequested), "archive requested");
        assert_eq!(kind_name(Kind::Slurm), "slurm");
        assert_eq!(mode_name(Mode::Command), "command");
        assert_eq!(
            fmt_coords(&PointLabel::Surface {
                theta: 10.0,
                phi: 90.0
            }),
            "θ 10° φ 90°"
        );
        assert_eq!(fmt_coords(&PointLabel::Hv { volts: 1500.0 }), "1500 V");
    }
}
