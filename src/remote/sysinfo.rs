//! Parsers for the System tab: `nvidia-smi` CSV (GPUs and their compute processes), `sinfo`
//! (partitions) and `squeue` (the queue, with pending reasons in plain words), into the
//! `model::system` types. Pure functions on text; running the commands (over the profile's
//! SSH connection) is the caller's job, with the fixed formats defined here
//! ([`GPU_QUERY_FIELDS`], [`GPU_PROCESS_QUERY_FIELDS`], [`SINFO_FORMAT`], [`SQUEUE_FORMAT`]).
//!
//! Why by hand and tolerant: `nvidia-smi` output differs between driver generations (`[Not
//! Supported]` on old drivers, `[N/A]` on newer ones, bare `N/A`, units unless `nounits`, a
//! header unless `noheader`), so columns are found by the header when there is one and a
//! value the driver does not report becomes `None`. Anything else that does not parse is an
//! error naming the line and what was wrong; no input panics (a property test feeds garbage).
//! The samples the tests read are real outputs, listed with their sources in
//! `tests/data/system/README.md`.

use crate::model::{CpuCounts, Gpu, GpuProcess, Partition, QueuedJob};

/// The `--query-gpu` fields [`parse_gpus`] expects, in this order:
/// `nvidia-smi --query-gpu=GPU_QUERY_FIELDS --format=csv,noheader,nounits`.
pub const GPU_QUERY_FIELDS: &str = "index,name,uuid,utilization.gpu,memory.used,memory.total,\
temperature.gpu,power.draw,power.limit,mig.mode.current";

/// The `--query-compute-apps` fields [`parse_gpu_processes`] expects:
/// `nvidia-smi --query-compute-apps=GPU_PROCESS_QUERY_FIELDS --format=csv,noheader,nounits`.
pub const GPU_PROCESS_QUERY_FIELDS: &str = "gpu_uuid,pid,process_name,used_memory";

/// The `sinfo` format [`parse_partitions`] expects: `sinfo -h -o 'SINFO_FORMAT'` — partition
/// (`*` marks the default), availability, time limit, node count, compact state, CPUs
/// allocated/idle/other/total, generic resources, node list.
pub const SINFO_FORMAT: &str = "%P|%a|%l|%D|%t|%C|%G|%N";

/// The `squeue` format [`parse_queue`] expects: `squeue -h -o 'SQUEUE_FORMAT'`, and the same
/// with `--start` (pending jobs only, `%S` then being the estimated start) — job id,
/// partition, user, long state, time used, nodes, start, reason, name. The name comes last
/// because it is the only free text (it may hold spaces or `|`).
pub const SQUEUE_FORMAT: &str = "%i|%P|%u|%T|%M|%D|%S|%r|%j";

/// Output that is not what the command prints in the expected format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} output, line {line}: {why}")]
pub struct ParseError {
    /// Which output: `nvidia-smi --query-gpu`, `sinfo`, …
    pub what: &'static str,
    /// 1-based line number in the text given.
    pub line: usize,
    pub why: String,
}

/// A short excerpt of a bad line or value for an error message.
fn excerpt(text: &str) -> String {
    let mut end = text.len().min(80);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < text.len() { "…" } else { "" };
    format!("{:?}{more}", &text[..end])
}

// ---------------------------------------------------------------------------------------
// nvidia-smi
// ---------------------------------------------------------------------------------------

const QUERY_GPU: &str = "nvidia-smi --query-gpu";
const QUERY_APPS: &str = "nvidia-smi --query-compute-apps";

/// A CSV header cell without its unit: `memory.used [MiB]` → `memory.used`.
fn field_name(cell: &str) -> &str {
    cell.split(" [").next().unwrap_or(cell).trim()
}

/// Whether `line` is an `nvidia-smi` CSV header: every cell a field name and at least one of
/// them one the caller knows (a data line such as `Disabled` is not a header).
fn is_header(line: &str, known: &[&str]) -> bool {
    let cells: Vec<&str> = line.split(',').map(field_name).collect();
    cells.iter().all(|c| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
    }) && cells.iter().any(|c| known.contains(c))
}

/// A value the driver does not report: `[N/A]`, `[Not Supported]`, `[Unknown Error]`,
/// `[Requested functionality has been deprecated]`, bare `N/A`, or nothing.
fn unreported(cell: &str) -> bool {
    cell.is_empty() || cell == "N/A" || (cell.starts_with('[') && cell.ends_with(']'))
}

/// The columns of one `nvidia-smi` CSV table: the header's when there is one, else the
/// query's field list; and the data lines with their 1-based line numbers.
struct Table<'a> {
    columns: Vec<&'a str>,
    rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Table<'a> {
    fn parse(text: &'a str, fields: &'a str, known: &[&str]) -> Table<'a> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .peekable();
        let columns = match lines.peek() {
            Some((_, first)) if is_header(first, known) => {
                let header = lines.next().map(|(_, l)| l).unwrap_or_default();
                header.split(',').map(field_name).collect()
            }
            _ => fields.split(',').map(str::trim).collect(),
        };
        let rows = lines
            .map(|(n, l)| (n, l.split(',').map(str::trim).collect()))
            .collect();
        Table { columns, rows }
    }

    /// The column of the first of `names` present.
    fn column(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.columns.iter().position(|c| c == n))
    }
}

/// A number, with or without its unit (`433.78 W`, `11125 MiB`, `100.00 %`); `None` when
/// the driver does not report it.
fn number(
    what: &'static str,
    line: usize,
    column: &str,
    cell: &str,
) -> Result<Option<f64>, ParseError> {
    if unreported(cell) {
        return Ok(None);
    }
    let value = cell.split_whitespace().next().unwrap_or(cell);
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(ParseError {
            what,
            line,
            why: format!("{column} is not a number: {}", excerpt(cell)),
        }),
    }
}

fn cell_at<'a>(row: &[&'a str], column: Option<usize>) -> Option<&'a str> {
    column.and_then(|c| row.get(c).copied())
}

/// Parses `nvidia-smi --query-gpu=`[`GPU_QUERY_FIELDS`]` --format=csv,noheader,nounits`
/// (or the same with a header and units). Empty output is no GPU.
pub fn parse_gpus(csv: &str) -> Result<Vec<Gpu>, ParseError> {
    parse_gpu_table(csv, GPU_QUERY_FIELDS)
}

/// Parses `nvidia-smi --query-gpu=<fields> --format=csv[,noheader][,nounits]` for any field
/// list: a header line, when present, names the columns; otherwise `fields` does. Fields the
/// model does not hold are ignored; fields it holds and the query lacks are `None` (the
/// index then counts the lines, the name and UUID are empty).
pub fn parse_gpu_table(csv: &str, fields: &str) -> Result<Vec<Gpu>, ParseError> {
    const KNOWN: &[&str] = &[
        "index",
        "name",
        "gpu_name",
        "uuid",
        "gpu_uuid",
        "utilization.gpu",
        "memory.used",
        "memory.total",
        "temperature.gpu",
        "power.draw",
        "power.limit",
        "mig.mode.current",
    ];
    let table = Table::parse(csv, fields, KNOWN);
    let index = table.column(&["index"]);
    let name = table.column(&["name", "gpu_name"]);
    let uuid = table.column(&["uuid", "gpu_uuid"]);
    let util = table.column(&["utilization.gpu"]);
    let used = table.column(&["memory.used"]);
    let total = table.column(&["memory.total"]);
    let temp = table.column(&["temperature.gpu"]);
    let draw = table.column(&["power.draw"]);
    let limit = table.column(&["power.limit"]);
    let mig = table.column(&["mig.mode.current"]);
    let mut gpus = Vec::with_capacity(table.rows.len());
    for (i, (line, row)) in table.rows.iter().enumerate() {
        let line = *line;
        if row.len() != table.columns.len() {
            return Err(ParseError {
                what: QUERY_GPU,
                line,
                why: format!(
                    "{} values where the query has {} fields ({}): {}",
                    row.len(),
                    table.columns.len(),
                    table.columns.join(","),
                    excerpt(&row.join(", "))
                ),
            });
        }
        let num = |col: Option<usize>, label: &str| {
            number(QUERY_GPU, line, label, cell_at(row, col).unwrap_or(""))
        };
        let index = match cell_at(row, index) {
            None => u32::try_from(i).unwrap_or(u32::MAX),
            Some(v) => v.parse().map_err(|_| ParseError {
                what: QUERY_GPU,
                line,
                why: format!("index is not a GPU index: {}", excerpt(v)),
            })?,
        };
        let mig_mode = match cell_at(row, mig).unwrap_or("") {
            "Enabled" => Some(true),
            "Disabled" => Some(false),
            v if unreported(v) => None,
            v => {
                return Err(ParseError {
                    what: QUERY_GPU,
                    line,
                    why: format!(
                        "mig.mode.current is not Enabled or Disabled: {}",
                        excerpt(v)
                    ),
                });
            }
        };
        gpus.push(Gpu {
            index,
            name: cell_at(row, name).unwrap_or("").to_string(),
            uuid: cell_at(row, uuid).unwrap_or("").to_string(),
            utilisation_pct: num(util, "utilization.gpu")?,
            memory_used_mib: num(used, "memory.used")?,
            memory_total_mib: num(total, "memory.total")?,
            temperature_c: num(temp, "temperature.gpu")?,
            power_draw_w: num(draw, "power.draw")?,
            power_limit_w: num(limit, "power.limit")?,
            mig_mode,
        });
    }
    Ok(gpus)
}

/// Parses `nvidia-smi --query-compute-apps=`[`GPU_PROCESS_QUERY_FIELDS`]`
/// --format=csv,noheader,nounits` (or with a header and units). Empty output is no process.
pub fn parse_gpu_processes(csv: &str) -> Result<Vec<GpuProcess>, ParseError> {
    parse_gpu_process_table(csv, GPU_PROCESS_QUERY_FIELDS)
}

/// [`parse_gpu_processes`] for any `--query-compute-apps` field list (see
/// [`parse_gpu_table`]). A process name holding commas is put back together: the other
/// fields are read from the left and the right of it.
pub fn parse_gpu_process_table(csv: &str, fields: &str) -> Result<Vec<GpuProcess>, ParseError> {
    const KNOWN: &[&str] = &[
        "gpu_uuid",
        "pid",
        "process_name",
        "name",
        "used_memory",
        "used_gpu_memory",
    ];
    let table = Table::parse(csv, fields, KNOWN);
    let uuid = table.column(&["gpu_uuid"]);
    let pid = table.column(&["pid"]);
    let name = table.column(&["process_name", "name"]);
    let mem = table.column(&["used_memory", "used_gpu_memory"]);
    let width = table.columns.len();
    let mut out = Vec::with_capacity(table.rows.len());
    for (line, row) in &table.rows {
        let line = *line;
        let mut row: Vec<String> = row.iter().map(|c| c.to_string()).collect();
        // Rejoin a name that held ", " (names are the only free text).
        if let Some(n) = name.filter(|_| row.len() > width) {
            let extra = row.len() - width;
            let joined = row[n..=n + extra].join(", ");
            row.splice(n..=n + extra, [joined]);
        }
        if row.len() != width {
            return Err(ParseError {
                what: QUERY_APPS,
                line,
                why: format!(
                    "{} values where the query has {width} fields ({}): {}",
                    row.len(),
                    table.columns.join(","),
                    excerpt(&row.join(", "))
                ),
            });
        }
        let get = |col: Option<usize>| col.and_then(|c| row.get(c)).map_or("", String::as_str);
        let pid_text = get(pid);
        let pid = pid_text.parse().map_err(|_| ParseError {
            what: QUERY_APPS,
            line,
            why: format!("pid is not a process id: {}", excerpt(pid_text)),
        })?;
        out.push(GpuProcess {
            gpu_uuid: get(uuid).to_string(),
            pid,
            name: get(name).to_string(),
            used_memory_mib: number(QUERY_APPS, line, "used_memory", get(mem))?,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// sinfo
// ---------------------------------------------------------------------------------------

const SINFO: &str = "sinfo";

/// `1/1/0/2` → allocated 1, idle 1, other 0, total 2.
fn cpu_counts(text: &str) -> Option<CpuCounts> {
    let mut parts = text.split('/').map(|p| p.trim().parse::<u32>().ok());
    let counts = CpuCounts {
        allocated: parts.next()??,
        idle: parts.next()??,
        other: parts.next()??,
        total: parts.next()??,
    };
    parts.next().is_none().then_some(counts)
}

fn partition_name(text: &str) -> (String, bool) {
    match text.strip_suffix('*') {
        Some(name) => (name.to_string(), true),
        None => (text.to_string(), false),
    }
}

fn node_count(line: usize, text: &str) -> Result<u32, ParseError> {
    text.parse().map_err(|_| ParseError {
        what: SINFO,
        line,
        why: format!("the node count is not a number: {}", excerpt(text)),
    })
}

/// Parses `sinfo -h -o '`[`SINFO_FORMAT`]`'`: one [`Partition`] per line (a partition whose
/// nodes are in several states has several lines). Also reads plain `sinfo` (its header
/// `PARTITION AVAIL TIMELIMIT NODES STATE NODELIST`, no CPUs or GRES), as pasted in reports.
pub fn parse_partitions(text: &str) -> Result<Vec<Partition>, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .peekable();
    let plain = lines
        .peek()
        .is_some_and(|(_, l)| l.split_whitespace().next() == Some("PARTITION"));
    if plain {
        lines.next();
    }
    let mut out = Vec::new();
    for (line, l) in lines {
        let partition = if plain {
            let cells: Vec<&str> = l.split_whitespace().collect();
            if cells.len() != 6 {
                return Err(ParseError {
                    what: SINFO,
                    line,
                    why: format!(
                        "expected 6 columns (PARTITION AVAIL TIMELIMIT NODES STATE NODELIST), got {}: {}",
                        cells.len(),
                        excerpt(l)
                    ),
                });
            }
            let (name, default) = partition_name(cells[0]);
            Partition {
                name,
                default,
                availability: cells[1].to_string(),
                time_limit: cells[2].to_string(),
                nodes: node_count(line, cells[3])?,
                state: cells[4].to_string(),
                cpus: None,
                gres: None,
                node_list: cells[5].to_string(),
            }
        } else {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() != 8 {
                return Err(ParseError {
                    what: SINFO,
                    line,
                    why: format!(
                        "expected 8 fields separated by | ({SINFO_FORMAT}), got {}: {}",
                        cells.len(),
                        excerpt(l)
                    ),
                });
            }
            let (name, default) = partition_name(cells[0]);
            let cpus = cpu_counts(cells[5]).ok_or_else(|| ParseError {
                what: SINFO,
                line,
                why: format!(
                    "CPUs are not allocated/idle/other/total: {}",
                    excerpt(cells[5])
                ),
            })?;
            Partition {
                name,
                default,
                availability: cells[1].to_string(),
                time_limit: cells[2].to_string(),
                nodes: node_count(line, cells[3])?,
                state: cells[4].to_string(),
                cpus: Some(cpus),
                gres: Some(cells[6])
                    .filter(|g| !g.is_empty() && *g != "(null)")
                    .map(str::to_string),
                node_list: cells[7].to_string(),
            }
        };
        if partition.name.is_empty() {
            return Err(ParseError {
                what: SINFO,
                line,
                why: format!("no partition name: {}", excerpt(l)),
            });
        }
        out.push(partition);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// squeue
// ---------------------------------------------------------------------------------------

const SQUEUE: &str = "squeue";

/// Parses `squeue -h -o '`[`SQUEUE_FORMAT`]`'` and `squeue --start -h -o '`[`SQUEUE_FORMAT`]`'`:
/// one [`QueuedJob`] per line, each pending reason also in words ([`reason_in_words`]).
pub fn parse_queue(text: &str) -> Result<Vec<QueuedJob>, ParseError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let l = l.trim_end_matches(['\r', '\n']);
        if l.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = l.splitn(9, '|').collect();
        if cells.len() != 9 {
            return Err(ParseError {
                what: SQUEUE,
                line,
                why: format!(
                    "expected 9 fields separated by | ({SQUEUE_FORMAT}), got {}: {}",
                    cells.len(),
                    excerpt(l)
                ),
            });
        }
        let id = cells[0].trim();
        if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseError {
                what: SQUEUE,
                line,
                why: format!("not a job id: {}", excerpt(id)),
            });
        }
        let nodes = cells[5].trim();
        let reason = Some(cells[7].trim()).filter(|r| !r.is_empty() && *r != "None");
        let start = cells[6].trim();
        out.push(QueuedJob {
            id: id.to_string(),
            partition: cells[1].trim().to_string(),
            user: cells[2].trim().to_string(),
            state: cells[3].trim().to_string(),
            elapsed: cells[4].trim().to_string(),
            nodes: nodes.parse().ok(),
            reason: reason.map(str::to_string),
            reason_words: reason.map(reason_in_words),
            start_estimate: Some(start)
                .filter(|s| !s.is_empty() && !matches!(*s, "N/A" | "Unknown" | "(null)"))
                .map(str::to_string),
            // The name may hold anything but a newline; keep it as SLURM printed it.
            name: cells[8].to_string(),
        });
    }
    Ok(out)
}

/// A SLURM pending reason (`squeue %r`) in plain words; an unknown code is returned as is.
/// `ReqNodeNotAvail, UnavailableNodes:c[020-022]` keeps the nodes it names.
pub fn reason_in_words(code: &str) -> String {
    let code = code.trim();
    let words = match code {
        "Resources" => "waiting for resources",
        "Priority" => "waiting behind higher-priority jobs",
        "Dependency" => "waiting for a dependency",
        "DependencyNeverSatisfied" => "a dependency can never be satisfied (cancel it)",
        "PartitionDown" => "the partition is down",
        "PartitionInactive" => "the partition is inactive",
        "PartitionNodeLimit" => "asks for more nodes than the partition allows",
        "PartitionTimeLimit" => "asks for more time than the partition allows",
        "JobHeldUser" => "held by its user (release it to run)",
        "JobHeldAdmin" => "held by an administrator",
        "BeginTime" => "waiting for its start time",
        "Reservation" => "waiting for its reservation",
        "NodeDown" => "a node it needs is down",
        "BadConstraints" => "its constraints can never be satisfied",
        "Licenses" => "waiting for a license",
        "QOSMaxJobsPerUserLimit" => "this user has the most running jobs the QOS allows",
        "QOSMaxSubmitJobPerUserLimit" => "this user has the most queued jobs the QOS allows",
        "QOSGrpCpuLimit" => "the QOS group's CPU limit is reached",
        "AssocGrpCpuLimit" => "the account's CPU limit is reached",
        "AssocGrpGRES" => "the account's GPU/GRES limit is reached",
        "AssocMaxJobsLimit" => "the account has the most running jobs it may",
        "JobArrayTaskLimit" => "the array's limit of tasks running at once is reached",
        "Cleaning" => "its last run is being cleaned up",
        "Prolog" => "its prolog is running",
        _ => "",
    };
    if !words.is_empty() {
        return words.to_string();
    }
    if let Some(rest) = code.strip_prefix("ReqNodeNotAvail") {
        let nodes = rest
            .split("UnavailableNodes:")
            .nth(1)
            .map(str::trim)
            .filter(|n| !n.is_empty());
        return match nodes {
            Some(n) => {
                format!("a node it asks for is not available (down, drained or reserved: {n})")
            }
            None => "a node it asks for is not available (in use, reserved or down)".to_string(),
        };
    }
    let by_prefix = [
        ("QOSGrp", "a group limit of the QOS is reached"),
        ("QOSMax", "a limit of the QOS is reached"),
        ("AssocGrp", "a group limit of the account is reached"),
        ("AssocMax", "a limit of the account is reached"),
    ];
    by_prefix
        .iter()
        .find(|(p, _)| code.starts_with(p))
        .map_or_else(|| code.to_string(), |(_, w)| format!("{w} ({code})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing, with the sample at hand
mod tests {
    use super::*;

    macro_rules! sample {
        ($f:literal) => {
            include_str!(concat!("../../tests/data/system/", $f))
        };
    }

    /// The fields of the RTX 2080 sample (Ricks-Lab/gpu-utils#83), as queried there.
    const RTX2080_FIELDS: &str = "power.limit,power.min_limit,power.max_limit,memory.total,\
vbios_version,driver_version,name,gpu_uuid,power.draw,temperature.gpu,temperature.memory,\
clocks.current.graphics,clocks.sm,clocks.mem,utilization.gpu,utilization.memory,fan.speed,\
pcie.link.width.current,pstate";
    /// The fields of the i3pystatus#776 samples, as queried there.
    const I3_FIELDS: &str = "memory.total,memory.free,memory.used,temperature.gpu,fan.speed,\
utilization.gpu,utilization.memory";

    #[test]
    fn gpu_query_fields_are_the_ones_parsed() {
        assert_eq!(GPU_QUERY_FIELDS.split(',').count(), 10);
        assert!(!GPU_QUERY_FIELDS.contains(' '));
        assert_eq!(
            GPU_PROCESS_QUERY_FIELDS,
            "gpu_uuid,pid,process_name,used_memory"
        );
    }

    #[test]
    fn h100_mig_driver_590_with_header_and_units() {
        let gpus = parse_gpus(sample!("nvidia-smi-h100-mig-590.48.01-query-gpu.csv")).unwrap();
        assert_eq!(
            gpus,
            [Gpu {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                uuid: "GPU-00000000-0000-0000-0000-000000000000".into(),
                utilisation_pct: None, // [N/A]: no whole-GPU utilisation under MIG
                memory_used_mib: Some(11125.0),
                memory_total_mib: Some(81559.0),
                temperature_c: Some(53.0),
                power_draw_w: Some(433.78),
                power_limit_w: Some(700.0),
                mig_mode: Some(true),
            }]
        );
    }

    #[test]
    fn h100_mig_compute_apps_with_header_and_units() {
        let procs =
            parse_gpu_processes(sample!("nvidia-smi-h100-mig-590.48.01-compute-apps.csv")).unwrap();
        assert_eq!(procs.len(), 3);
        assert_eq!(
            procs[0].gpu_uuid,
            "GPU-00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(procs[0].pid, 21180);
        assert_eq!(procs[0].name, "/root/tools/memhog");
        assert_eq!(procs[0].used_memory_mib, Some(2296.0));
        assert_eq!(procs[2].name, "./gpu_burn");
        assert_eq!(procs[2].used_memory_mib, Some(7484.0));
    }

    #[test]
    fn rtx2080_driver_440_noheader_nounits_bare_na() {
        let gpus =
            parse_gpu_table(sample!("nvidia-smi-rtx2080-440.64.csv"), RTX2080_FIELDS).unwrap();
        assert_eq!(gpus.len(), 1);
        let g = &gpus[0];
        assert_eq!((g.index, g.name.as_str()), (0, "GeForce RTX 2080"));
        assert_eq!(g.uuid, "GPU-22b2c6ac-2d49-4863-197c-9c469071178a");
        assert_eq!(g.power_limit_w, Some(200.0));
        assert_eq!(g.power_draw_w, Some(176.98));
        assert_eq!(g.memory_total_mib, Some(7979.0));
        assert_eq!(g.temperature_c, Some(45.0));
        assert_eq!(g.utilisation_pct, Some(86.0));
        assert_eq!((g.memory_used_mib, g.mig_mode), (None, None));
    }

    #[test]
    fn not_supported_on_older_drivers_and_na_on_newer_are_both_unreported() {
        for f in [
            sample!("nvidia-smi-i3pystatus-older-driver.csv"),
            sample!("nvidia-smi-i3pystatus-newer-driver.csv"),
        ] {
            let gpus = parse_gpu_table(f, I3_FIELDS).unwrap();
            assert_eq!(gpus.len(), 1);
            assert_eq!(gpus[0].memory_total_mib, Some(2004.0));
            assert_eq!(gpus[0].memory_used_mib, Some(0.0));
            assert_eq!(gpus[0].temperature_c, Some(44.0));
            assert_eq!(gpus[0].utilisation_pct, Some(0.0));
        }
    }

    #[test]
    fn mig_mode_with_header_on_rtx_and_a100() {
        let rtx =
            parse_gpu_table(sample!("nvidia-smi-mig-mode-rtx.csv"), "mig.mode.current").unwrap();
        assert_eq!(rtx.len(), 1);
        assert_eq!(rtx[0].mig_mode, None);
        let a100 =
            parse_gpu_table(sample!("nvidia-smi-mig-mode-a100.csv"), "mig.mode.current").unwrap();
        assert_eq!(
            a100.iter().map(|g| g.mig_mode).collect::<Vec<_>>(),
            [Some(false); 2]
        );
        assert_eq!(a100[1].index, 1, "no index column: counted by line");
    }

    #[test]
    fn gpus_in_the_const_order_with_every_unreported_form() {
        let out = "0, Tesla K80, GPU-1, [Not Supported], 10, 11441, 30, [Unknown Error], 149.00, N/A\n\
                   1, NVIDIA A100-SXM4-40GB, GPU-2, 0, 0, 40960, 31, 55.1, 400.00, Enabled\n";
        let gpus = parse_gpus(out).unwrap();
        assert_eq!(gpus[0].utilisation_pct, None);
        assert_eq!(gpus[0].power_draw_w, None);
        assert_eq!(gpus[0].mig_mode, None);
        assert_eq!(gpus[1].mig_mode, Some(true));
        assert_eq!(parse_gpus("").unwrap(), []);
    }

    #[test]
    fn gpu_errors_name_the_line_and_the_field() {
        let e = parse_gpus(
            "0, A, GPU-1, 1, 2, 3, 4, 5, 6, Disabled\n1, B, GPU-2, lots, 2, 3, 4, 5, 6, Disabled",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().contains("utilization.gpu is not a number"),
            "{e}"
        );
        let e = parse_gpus("0, A, GPU-1").unwrap_err();
        assert!(
            e.to_string()
                .contains("3 values where the query has 10 fields"),
            "{e}"
        );
        let e = parse_gpus("x, A, GPU-1, 1, 2, 3, 4, 5, 6, Disabled").unwrap_err();
        assert!(e.why.contains("index"), "{e}");
        let e = parse_gpus("0, A, GPU-1, 1, 2, 3, 4, 5, 6, Maybe").unwrap_err();
        assert!(e.why.contains("mig.mode.current"), "{e}");
        let e = parse_gpus("0, A, GPU-1, NaN, 2, 3, 4, 5, 6, Disabled").unwrap_err();
        assert!(e.why.contains("not a number"), "{e}");
    }

    #[test]
    fn gpu_processes_in_the_const_order() {
        assert_eq!(parse_gpu_processes("").unwrap(), []);
        let p = parse_gpu_processes("GPU-1, 4242, python, 1024\nGPU-1, 7, my, odd, name, [N/A]\n")
            .unwrap();
        assert_eq!(p[0].pid, 4242);
        assert_eq!(p[0].used_memory_mib, Some(1024.0));
        assert_eq!(p[1].name, "my, odd, name");
        assert_eq!(p[1].used_memory_mib, None);
        let e = parse_gpu_processes("GPU-1, -3, x, 1").unwrap_err();
        assert!(e.why.contains("pid"), "{e}");
    }

    #[test]
    fn sinfo_from_the_test_cluster() {
        let parts = parse_partitions(sample!("sinfo-testcluster.txt")).unwrap();
        assert_eq!(
            parts,
            [Partition {
                name: "debug".into(),
                default: true,
                availability: "up".into(),
                time_limit: "infinite".into(),
                nodes: 1,
                state: "mix".into(),
                cpus: Some(CpuCounts {
                    allocated: 1,
                    idle: 1,
                    other: 0,
                    total: 2
                }),
                gres: None,
                node_list: "vm".into(),
            }]
        );
    }

    #[test]
    fn plain_sinfo_with_drained_and_failed_nodes() {
        let parts = parse_partitions(sample!("sinfo-default-arjuna.txt")).unwrap();
        assert_eq!(parts.len(), 9);
        assert_eq!(parts[0].name, "cpu");
        assert_eq!(parts[0].state, "drng@");
        assert_eq!(parts[0].nodes, 55);
        assert_eq!(parts[0].node_list, "d[001-032],f[001-004,006-024]");
        let debug = parts.iter().find(|p| p.default).unwrap();
        assert_eq!(
            (debug.name.as_str(), debug.time_limit.as_str()),
            ("debug", "10:00")
        );
        assert_eq!(parts.iter().filter(|p| p.name == "gpu").count(), 4);
        assert!(parts.iter().all(|p| p.cpus.is_none()));
    }

    #[test]
    fn sinfo_with_gres_and_errors() {
        let p =
            parse_partitions("gpu|up|2-00:00:00|4|mix|96/32/0/128|gpu:a100:4|g[01-04]\n").unwrap();
        assert_eq!(p[0].gres.as_deref(), Some("gpu:a100:4"));
        let e =
            parse_partitions("debug*|up|infinite|1|idle|0/2/0/2|(null)|vm\ngpu|up").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.why.contains("expected 8 fields"), "{e}");
        let e = parse_partitions("debug*|up|infinite|one|idle|0/2/0/2|(null)|vm").unwrap_err();
        assert!(e.why.contains("node count"), "{e}");
        let e = parse_partitions("debug*|up|infinite|1|idle|0/2/0|(null)|vm").unwrap_err();
        assert!(e.why.contains("CPUs"), "{e}");
    }

    #[test]
    fn squeue_from_the_test_cluster_with_reasons_in_words() {
        let jobs = parse_queue(sample!("squeue-testcluster.txt")).unwrap();
        assert_eq!(jobs.len(), 7);
        let by_id = |id: &str| jobs.iter().find(|j| j.id == id).unwrap();
        let res = by_id("166");
        assert_eq!(res.state, "PENDING");
        assert_eq!(res.name, "pend res");
        assert_eq!(res.reason_words.as_deref(), Some("waiting for resources"));
        assert_eq!(res.start_estimate.as_deref(), Some("2027-12-05T13:47:51"));
        let held = by_id("164");
        assert_eq!(held.reason.as_deref(), Some("JobHeldUser"));
        assert!(held.reason_words.as_deref().unwrap().starts_with("held"));
        assert_eq!(held.start_estimate, None);
        assert_eq!(
            by_id("169").reason_words.as_deref(),
            Some("waiting for a dependency")
        );
        assert_eq!(
            by_id("170").reason_words.as_deref(),
            Some("waiting behind higher-priority jobs")
        );
        let running = by_id("165");
        assert_eq!(
            (running.state.as_str(), running.reason.as_deref()),
            ("RUNNING", None)
        );
        assert_eq!(running.nodes, Some(1));
        assert_eq!(by_id("167").user, "root");
    }

    #[test]
    fn squeue_start_lists_the_pending_jobs_with_their_estimates() {
        let jobs = parse_queue(sample!("squeue-start-testcluster.txt")).unwrap();
        assert_eq!(jobs.len(), 6);
        assert!(jobs.iter().all(|j| j.state == "PENDING"));
        assert_eq!(
            jobs.iter().filter(|j| j.start_estimate.is_some()).count(),
            1
        );
    }

    #[test]
    fn squeue_errors_name_the_line() {
        let e =
            parse_queue("165|debug|u|RUNNING|0:01|1|N/A|None|x\nJOBID PARTITION NAME").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.why.contains("expected 9 fields"), "{e}");
        let e = parse_queue("|debug|u|RUNNING|0:01|1|N/A|None|x").unwrap_err();
        assert!(e.why.contains("job id"), "{e}");
        let j = parse_queue("12_3|debug|u|PENDING|0:00|1|N/A|Priority|a|b").unwrap();
        assert_eq!((j[0].id.as_str(), j[0].name.as_str()), ("12_3", "a|b"));
    }

    #[test]
    fn reasons_in_words() {
        assert_eq!(reason_in_words("Resources"), "waiting for resources");
        assert_eq!(
            reason_in_words("Priority"),
            "waiting behind higher-priority jobs"
        );
        assert_eq!(reason_in_words("Dependency"), "waiting for a dependency");
        assert_eq!(reason_in_words("PartitionDown"), "the partition is down");
        assert!(reason_in_words("JobHeldUser").starts_with("held"));
        assert!(reason_in_words("JobHeldAdmin").starts_with("held"));
        // Seen in squeue output pasted in ArjunaCluster/ArjunaUsers#67 and reframe-hpc/reframe#303.
        let r = reason_in_words("ReqNodeNotAvail, UnavailableNodes:d[001-032],f[001-024]");
        assert!(
            r.contains("not available") && r.contains("d[001-032],f[001-024]"),
            "{r}"
        );
        assert!(reason_in_words("ReqNodeNotAvail,  UnavailableNodes:").contains("not available"));
        assert!(reason_in_words("QOSMaxJobsPerUserLimit").contains("QOS"));
        assert!(reason_in_words("AssocGrpCpuLimit").contains("CPU limit"));
        // Seen in SlinkyProject/slurm-bridge#10 and jade-hpc-gpu#118.
        assert!(reason_in_words("QOSGrpCpuLimit").contains("QOS"));
        assert_eq!(
            reason_in_words("QOSMaxBillingPerJob"),
            "a limit of the QOS is reached (QOSMaxBillingPerJob)"
        );
        assert!(reason_in_words("AssocGrpMemLimit").contains("account"));
        assert_eq!(reason_in_words("SomethingNew"), "SomethingNew");
    }

    /// Every prefix of every sample, and lines of random text, parse or fail with a line
    /// number — never panic.
    #[test]
    fn truncated_samples_never_panic() {
        let samples = [
            sample!("nvidia-smi-h100-mig-590.48.01-query-gpu.csv"),
            sample!("nvidia-smi-h100-mig-590.48.01-compute-apps.csv"),
            sample!("nvidia-smi-rtx2080-440.64.csv"),
            sample!("nvidia-smi-mig-mode-a100.csv"),
            sample!("sinfo-testcluster.txt"),
            sample!("sinfo-default-arjuna.txt"),
            sample!("squeue-testcluster.txt"),
            sample!("squeue-start-testcluster.txt"),
        ];
        for s in samples {
            for end in (0..=s.len()).filter(|&e| s.is_char_boundary(e)).step_by(7) {
                let t = &s[..end];
                for e in [
                    parse_gpus(t).err(),
                    parse_gpu_processes(t).err(),
                    parse_partitions(t).err(),
                    parse_queue(t).err(),
                ]
                .into_iter()
                .flatten()
                {
                    assert!(e.line >= 1, "{e}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(text in "[ -~\\n|,\\[\\]/*]{0,300}", bytes in proptest::collection::vec(proptest::prelude::any::<char>(), 0..80)) {
            let other: String = bytes.into_iter().collect();
            for t in [text.as_str(), other.as_str()] {
                let _ = parse_gpus(t);
                let _ = parse_gpu_processes(t);
                let _ = parse_gpu_table(t, "mig.mode.current");
                let _ = parse_partitions(t);
                let _ = parse_queue(t);
                let _ = reason_in_words(t);
            }
        }
    }
}
