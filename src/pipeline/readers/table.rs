//! Charge tables: CSV (polars; whitespace-separated text by hand) and Parquet (polars),
//! and the rules that give a charge input its unit.
//!
//! One numeric column is per-event charges; two numeric columns are a histogram
//! `charge,count` (bin centres, counts). Headerless files are common (a lab's
//! `np.savetxt`), so the first line decides: all fields numeric → no header.
//!
//! Unit rules, in order (a fit's gain is meaningless in the wrong unit, so the choice is
//! explicit and documented): the charge column's name (`charge[V·s]`, `charge (pC)`,
//! `charge_pC`), else [`ReadOptions::charge_unit`], else a guess from the magnitudes —
//! V·s charges of PMT pulses are ~1e-12, ADC·samples are ≳ 1, so a 99th percentile of
//! |charge| below 1e-6 means `V*s`, anything else `ADC*samples`.

use std::path::Path;

use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame, DataType, ParquetReader, SerReader,
};

use super::{ReadOptions, guard, map_file, read_head};
use crate::pipeline::data::ChargeInput;
use crate::pipeline::error::{Error, Result};

/// Below this 99th percentile of |charge| the values are taken to be in V·s.
pub const VS_GUESS_LIMIT: f64 = 1e-6;

/// Canonical spelling of a charge unit written in a column name or option, or `None` if
/// `s` is not a unit pmtwatch knows (`V·s`/`Vs`/`V s` → `V*s`, `nVs` → `nV*s`, `pC`,
/// `ADC·samples` → `ADC*samples`, …).
pub fn normalize_unit(s: &str) -> Option<String> {
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '·' | '⋅' | '×' | ' ' | '.' | '_' => '*',
            'µ' | 'μ' => 'u',
            c => c,
        })
        .collect();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("adc") && lower.contains("sample") {
        return Some("ADC*samples".into());
    }
    let (prefix, rest) = match s.chars().next()? {
        p @ ('f' | 'p' | 'n' | 'u' | 'm') if s.len() > 1 => (p.to_string(), &s[1..]),
        _ => (String::new(), s.as_str()),
    };
    match rest {
        "C" => Some(format!("{prefix}C")),
        "V*s" | "Vs" => Some(format!("{prefix}V*s")),
        _ => None,
    }
}

/// The unit written in a column (or branch) name: `charge[V·s]`, `charge (pC)`,
/// `charge_pC`. Brackets and parentheses are taken verbatim when not a known unit
/// (someone wrote it on purpose); a `_suffix` only when it is a known unit, so
/// `pulse_charge` does not become unit `charge`.
pub fn charge_unit_from_name(name: &str) -> Option<String> {
    let name = name.trim();
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(inner) = name
            .strip_suffix(close)
            .and_then(|n| n.rsplit_once(open))
            .map(|(_, u)| u.trim())
            .filter(|u| !u.is_empty())
        {
            return Some(normalize_unit(inner).unwrap_or_else(|| inner.to_string()));
        }
    }
    name.rsplit_once('_')
        .and_then(|(_, suffix)| normalize_unit(suffix))
}

/// Applies the unit rules: the name's unit, else the option, else a guess from the values
/// (weighted by `weights` for a histogram).
pub fn charge_unit(
    from_name: Option<String>,
    opts: &ReadOptions,
    values: &[f64],
    weights: Option<&[f64]>,
) -> String {
    from_name
        .or_else(|| {
            opts.charge_unit
                .as_deref()
                .map(|u| normalize_unit(u).unwrap_or_else(|| u.trim().to_string()))
        })
        .unwrap_or_else(|| guess_unit(values, weights).to_string())
}

/// `V*s` when the 99th percentile of |charge| is below [`VS_GUESS_LIMIT`], else
/// `ADC*samples`. With `weights` (histogram counts) the percentile is of the counts.
pub fn guess_unit(values: &[f64], weights: Option<&[f64]>) -> &'static str {
    let mut pairs: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                v.abs(),
                weights.and_then(|w| w.get(i)).copied().unwrap_or(1.0),
            )
        })
        .filter(|(v, w)| v.is_finite() && w.is_finite() && *w > 0.0)
        .collect();
    if pairs.is_empty() {
        return "ADC*samples";
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    let p99 = pairs
        .iter()
        .find(|p| {
            acc += p.1;
            acc >= 0.99 * total
        })
        .map_or(pairs[pairs.len() - 1].0, |p| p.0);
    if p99 < VS_GUESS_LIMIT {
        "V*s"
    } else {
        "ADC*samples"
    }
}

/// A numeric column: name and values.
type NumColumn = (String, Vec<f64>);

/// Reads a CSV (or whitespace-separated) charge table.
pub fn read_csv(path: &Path, opts: &ReadOptions) -> Result<ChargeInput> {
    let head = read_head(path, 4096)?;
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return Err(Error::Empty {
            path: path.into(),
            what: "no data lines; expected a charge table (`charge` or `charge,count`)".into(),
        });
    };
    let sep = [b',', b';', b'\t']
        .into_iter()
        .find(|&s| first.as_bytes().contains(&s));
    // Whitespace-separated columns: judged on the first data line, since a header such
    // as `charge (pC)` has spaces of its own.
    let numeric = |l: &str| l.split_whitespace().all(|f| f.parse::<f64>().is_ok());
    let first_data = if numeric(first) {
        Some(first)
    } else {
        lines.next()
    };
    let columns = match sep {
        None if first_data.is_some_and(|l| l.split_whitespace().count() > 1) => {
            read_whitespace(path)?
        }
        sep => {
            let sep = sep.unwrap_or(b',');
            let has_header = first
                .split(char::from(sep))
                .any(|f| f.trim().parse::<f64>().is_err());
            let df = guard(path, "the CSV reader (polars)", || {
                CsvReadOptions::default()
                    .with_has_header(has_header)
                    .with_infer_schema_length(None)
                    .with_parse_options(CsvParseOptions::default().with_separator(sep))
                    .try_into_reader_with_file_path(Some(path.to_path_buf()))
                    .and_then(|r| r.finish())
                    .map_err(|e| polars_error(path, "a numeric CSV table", &e))
            })?;
            numeric_columns(path, &df)?
        }
    };
    to_charges(path, columns, opts)
}

/// Reads a Parquet charge table.
pub fn read_parquet(path: &Path, opts: &ReadOptions) -> Result<ChargeInput> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = guard(path, "the Parquet reader (polars)", || {
        ParquetReader::new(file)
            .finish()
            .map_err(|e| polars_error(path, "a Parquet charge table", &e))
    })?;
    let columns = numeric_columns(path, &df)?;
    to_charges(path, columns, opts)
}

fn polars_error(path: &Path, expected: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Unsupported {
        path: path.into(),
        what: format!("cannot read as {expected}: {e}"),
    }
}

/// The numeric columns of a data frame as f64 (non-numeric columns are skipped).
fn numeric_columns(path: &Path, df: &DataFrame) -> Result<Vec<NumColumn>> {
    let mut out = Vec::new();
    for col in df.columns() {
        if !col.dtype().is_primitive_numeric() {
            continue;
        }
        let name = col.name().to_string();
        let err = |e: &dyn std::fmt::Display| polars_error(path, "a numeric column", e);
        let cast = col.cast(&DataType::Float64).map_err(|e| err(&e))?;
        let values = cast.f64().map_err(|e| err(&e))?;
        let mut v = Vec::with_capacity(values.len());
        for (row, x) in values.iter().enumerate() {
            v.push(x.ok_or_else(|| Error::Unsupported {
                path: path.into(),
                what: format!(
                    "column `{name}` row {}: expected a number, found an empty field",
                    row + 1
                ),
            })?);
        }
        out.push((name, v));
    }
    Ok(out)
}

/// Whitespace-separated numeric text (`np.savetxt` default), parsed line by line from the
/// mapped file. Errors name the byte offset of the offending line.
fn read_whitespace(path: &Path) -> Result<Vec<NumColumn>> {
    let map = map_file(path)?;
    let mut columns: Vec<NumColumn> = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut offset = 0usize;
    for line in map.split(|&b| b == b'\n') {
        let at = offset;
        offset += line.len() + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| Error::format(path, at as u64, "a line of UTF-8 text", "invalid bytes"))?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let parsed: Option<Vec<f64>> = fields.iter().map(|f| f.parse().ok()).collect();
        match parsed {
            None if columns.is_empty() && header.is_none() => {
                header = Some(fields.iter().map(|f| f.to_string()).collect());
            }
            None => {
                return Err(Error::format(
                    path,
                    at as u64,
                    "a line of numbers separated by whitespace",
                    format!("`{}`", text.trim()),
                ));
            }
            Some(values) => {
                if columns.is_empty() {
                    // Header names only when they line up with the data (`charge (pC) count`
                    // does not: then generic names, and the unit comes from the options).
                    columns = match header.take() {
                        Some(names) if names.len() == values.len() => {
                            names.into_iter().map(|n| (n, Vec::new())).collect()
                        }
                        _ => (1..=values.len())
                            .map(|i| (format!("column_{i}"), Vec::new()))
                            .collect(),
                    };
                }
                if values.len() != columns.len() {
                    return Err(Error::format(
                        path,
                        at as u64,
                        format!("{} numbers separated by whitespace", columns.len()),
                        format!("{} fields", values.len()),
                    ));
                }
                for (col, v) in columns.iter_mut().zip(values) {
                    col.1.push(v);
                }
            }
        }
    }
    Ok(columns)
}

/// Turns numeric columns into charges (one column, or a `charge*` column) or a histogram
/// (two columns, or `charge*` + `count*`/`entries`).
fn to_charges(path: &Path, mut cols: Vec<NumColumn>, opts: &ReadOptions) -> Result<ChargeInput> {
    let names = || {
        cols.iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let is = |name: &str, stems: &[&str]| {
        let l = name.to_ascii_lowercase();
        stems.iter().any(|s| l.starts_with(s))
    };
    let charge = cols.iter().position(|c| {
        let l = c.0.to_ascii_lowercase();
        is(&l, &["charge", "area", "q[", "q_", "q ("]) || l == "q"
    });
    let count = cols
        .iter()
        .position(|c| is(&c.0, &["count", "entries", "n_", "events"]));
    let (charge, count) = match (cols.len(), charge, count) {
        (0, ..) => {
            return Err(Error::Empty {
                path: path.into(),
                what: "no numeric column; expected `charge` or `charge,count`".into(),
            });
        }
        (1, ..) => (0, None),
        (2, None, None) => (0, Some(1)),
        (_, Some(q), Some(n)) if q != n => (q, Some(n)),
        (2, Some(q), _) => (q, Some(1 - q)),
        (2, None, Some(n)) => (1 - n, Some(n)),
        (_, Some(q), _) => (q, None),
        _ => {
            return Err(Error::Unsupported {
                path: path.into(),
                what: format!(
                    "expected one numeric column (charges) or two (charge,count); found {}: {}",
                    cols.len(),
                    names()
                ),
            });
        }
    };
    let counts = count.map(|n| std::mem::take(&mut cols[n].1));
    let (name, values) = std::mem::take(&mut cols[charge]);
    if values.is_empty() {
        return Err(Error::Empty {
            path: path.into(),
            what: "the charge table has no rows".into(),
        });
    }
    if let Some(row) = values.iter().position(|v| !v.is_finite()) {
        return Err(row_error(path, &name, row, "a finite charge"));
    }
    let from_name = charge_unit_from_name(&name);
    match counts {
        None => {
            let unit = charge_unit(from_name, opts, &values, None);
            Ok(ChargeInput::Values { values, unit })
        }
        Some(counts) => {
            check_histogram(path, &name, &values, &counts)?;
            let unit = charge_unit(from_name, opts, &values, Some(&counts));
            Ok(ChargeInput::Histogram {
                centers: values,
                counts,
                unit,
            })
        }
    }
}

fn row_error(path: &Path, column: &str, row: usize, expected: &str) -> Error {
    Error::Unsupported {
        path: path.into(),
        what: format!(
            "column `{column}` data row {}: expected {expected}",
            row + 1
        ),
    }
}

/// How far a bin centre may lie from the equally spaced grid, in bin widths: exports
/// that write a few significant digits (`999.167, 1000.83`) round each centre by up to
/// half a unit of its last digit, ~0.3 % of a bin at 6 digits; beyond this the binning is
/// not equal and the fits, which assume one width, would be wrong.
pub const CENTER_TOLERANCE: f64 = 0.02;

/// A histogram needs ascending, equally spaced centres (up to rounding: see
/// [`CENTER_TOLERANCE`]; the edges are rebuilt from the grid through the centres) and
/// non-negative counts (the fits assume a fixed bin width).
fn check_histogram(path: &Path, name: &str, centers: &[f64], counts: &[f64]) -> Result<()> {
    if let Some(row) = counts.iter().position(|c| !c.is_finite() || *c < 0.0) {
        return Err(row_error(path, "count", row, "a non-negative count"));
    }
    if centers.len() < 2 {
        return Ok(());
    }
    if let Some(i) = centers.windows(2).position(|p| p[1] <= p[0]) {
        return Err(row_error(
            path,
            name,
            i + 1,
            &format!(
                "ascending bin centres, found {:e} after {:e}",
                centers[i + 1],
                centers[i]
            ),
        ));
    }
    // The median step finds the row where an uneven binning starts; the grid through
    // all centres then checks that rounding has not accumulated into a drift.
    let mut steps: Vec<f64> = centers.windows(2).map(|p| p[1] - p[0]).collect();
    let mid = steps.len() / 2;
    let median = *steps.select_nth_unstable_by(mid, f64::total_cmp).1;
    for (i, pair) in centers.windows(2).enumerate() {
        let d = pair[1] - pair[0];
        if (d - median).abs() > 2.0 * CENTER_TOLERANCE * median {
            return Err(row_error(
                path,
                name,
                i + 1,
                &format!(
                    "equally spaced, ascending bin centres (width {median:e}, up to {:.0} % \
                     rounding), found a step of {d:e}",
                    200.0 * CENTER_TOLERANCE
                ),
            ));
        }
    }
    let (first, width) = crate::pipeline::histogram::grid_of(centers);
    for (i, &c) in centers.iter().enumerate() {
        let off = (c - (first + i as f64 * width)) / width;
        if off.abs() > CENTER_TOLERANCE {
            return Err(row_error(
                path,
                name,
                i,
                &format!(
                    "equally spaced bin centres (width {width:e}): this centre, {c:e}, lies \
                     {off:+.3} bin widths off the grid through the others"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(charge_unit_from_name("charge[V·s]").as_deref(), Some("V*s"));
        assert_eq!(charge_unit_from_name("charge (pC)").as_deref(), Some("pC"));
        assert_eq!(charge_unit_from_name("charge_pC").as_deref(), Some("pC"));
        assert_eq!(charge_unit_from_name("charge_nVs").as_deref(), Some("nV*s"));
        assert_eq!(
            charge_unit_from_name("area[ADC·samples]").as_deref(),
            Some("ADC*samples")
        );
        assert_eq!(charge_unit_from_name("pulse_charge"), None);
        assert_eq!(charge_unit_from_name("column_1"), None);
        assert_eq!(guess_unit(&[1e-12, -3e-12], None), "V*s");
        assert_eq!(guess_unit(&[120.0, 3.0], None), "ADC*samples");
    }
}
