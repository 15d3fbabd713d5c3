//! A scan's points as one table (polars), written as CSV for people and spreadsheets and
//! as Parquet for analysis code that wants exact types and nulls. One row per point;
//! quantities a point does not have (no θ/φ for an HV point, no gain without a fit) are
//! null, never a made-up number.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::error::{Error, Result};
use super::output::write_atomic_with;
use super::point::{Health, PointResult};

/// Fit parameters copied into their own columns, as (column, parameter, with error?).
const PARAM_COLUMNS: [(&str, &str, bool); 3] = [
    ("q1", "q1", true),
    ("mu", "mu", true),
    ("sigma1", "sigma1", false),
];

fn table_err(e: PolarsError) -> Error {
    Error::Input(format!("table: {e}"))
}

fn health_str(h: Health) -> &'static str {
    h.as_str()
}

/// One row per point, in the given order, with the columns `point, theta, phi, hv,
/// status, model, gain, gain_err, q1, q1_err, mu, mu_err, sigma1, chi2, ndf, events,
/// selected, health, charge_unit`. Fit parameters are taken from the point's parameters
/// as reported (whatever the status says about their meaning); absent ones are null.
pub fn scan_table(points: &[PointResult]) -> Result<DataFrame> {
    let f64_col = |name: &str, f: &dyn Fn(&PointResult) -> Option<f64>| {
        Column::new(name.into(), points.iter().map(f).collect::<Vec<_>>())
    };
    let str_col = |name: &str, f: &dyn Fn(&PointResult) -> &str| {
        Column::new(name.into(), points.iter().map(f).collect::<Vec<_>>())
    };
    let mut cols = vec![
        str_col("point", &|p| p.point.as_str()),
        f64_col("theta", &|p| p.theta),
        f64_col("phi", &|p| p.phi),
        f64_col("hv", &|p| p.hv),
        str_col("status", &|p| p.status.as_str()),
        str_col("model", &|p| p.model.as_str()),
        f64_col("gain", &|p| p.gain),
        f64_col("gain_err", &|p| p.gain_err),
    ];
    for (col, param, with_err) in PARAM_COLUMNS {
        cols.push(f64_col(col, &|p| p.params.get(param).map(|v| v.value)));
        if with_err {
            let err_col = format!("{col}_err");
            cols.push(f64_col(&err_col, &|p| {
                p.params.get(param).and_then(|v| v.error)
            }));
        }
    }
    cols.extend([
        f64_col("chi2", &|p| p.chi2),
        Column::new(
            "ndf".into(),
            points.iter().map(|p| p.ndf).collect::<Vec<_>>(),
        ),
        Column::new(
            "events".into(),
            points.iter().map(|p| p.events).collect::<Vec<_>>(),
        ),
        Column::new(
            "selected".into(),
            points.iter().map(|p| p.selected).collect::<Vec<_>>(),
        ),
        str_col("health", &|p| health_str(p.health)),
        str_col("charge_unit", &|p| p.charge_unit.as_str()),
    ]);
    DataFrame::new(points.len(), cols).map_err(table_err)
}

/// Writes `<stem>.csv` and `<stem>.parquet` into `dir`, each atomically (temp file and
/// rename), and returns their paths.
pub fn write_scan_tables(
    points: &[PointResult],
    dir: &Path,
    stem: &str,
) -> Result<(PathBuf, PathBuf)> {
    let mut df = scan_table(points)?;
    let csv = dir.join(format!("{stem}.csv"));
    let parquet = dir.join(format!("{stem}.parquet"));
    let io_err = |e: PolarsError| std::io::Error::other(e.to_string());
    write_atomic_with(&csv, |f| {
        CsvWriter::new(f)
            .include_header(true)
            .finish(&mut df)
            .map_err(io_err)
    })?;
    write_atomic_with(&parquet, |f| {
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(io_err)
    })?;
    Ok((csv, parquet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scan_gives_empty_table_with_all_columns() {
        let df = scan_table(&[]).expect("table");
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 19);
    }
}
