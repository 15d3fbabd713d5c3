//! Argv builders for `sbatch`, `scontrol`, `squeue`, `sacct` and `scancel`, and the checks
//! on every value they splice in: each value becomes one argv word that can be neither taken
//! for an option nor split by sbatch.

use serde::{Deserialize, Serialize};

use super::parse::excerpt;
use crate::pipeline::serial::Serial;
use crate::remote::error::{Error, Result};

/// The batch script for a full scan (relative to the repository / install root).
pub const SCAN_SCRIPT: &str = "slurm/pmtwatch-scan.sbatch";
/// The batch script for an HV-check scan (5 points).
pub const HV_SCRIPT: &str = "slurm/pmtwatch-hv.sbatch";

/// The `squeue -o` format [`parse_squeue`] reads: id, long state name, reason. The reason
/// comes last because it is the only field that may hold spaces or punctuation.
///
/// [`parse_squeue`]: super::parse_squeue
pub const SQUEUE_FORMAT: &str = "%i|%T|%r";
/// The `sacct -o` fields [`parse_sacct`] reads (with `-P -n`: `|`-separated, no header).
///
/// [`parse_sacct`]: super::parse_sacct
pub const SACCT_FIELDS: &str = "JobID,State,ExitCode,Reason";

/// Options of one `sbatch` submission; `None` keeps the script's `#SBATCH` default (the
/// command line overrides `#SBATCH` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbatchOptions {
    pub partition: Option<String>,
    /// `--time`: `MM`, `HH:MM:SS`, `D-HH:MM:SS`, …
    pub time: Option<String>,
    /// `--mem`: `4000`, `4G`, `500M`, …
    pub mem: Option<String>,
    pub account: Option<String>,
    /// `--output`; SLURM expands `%j` (job id), `%x` (job name).
    pub output_path: Option<String>,
    /// `--chdir`: the job's working directory.
    pub chdir: Option<String>,
    /// `--gres`: generic resources, `gpu:N` (a run's GPU choice on a SLURM profile).
    #[serde(default)]
    pub gres: Option<String>,
    /// Environment variables for the job (`--export=ALL,NAME=value,…`); see [`scan_env`].
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

fn refuse(what: &str, why: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        why: why.into(),
    }
}

/// Free text that becomes one argv word: non-empty, no control characters (a newline
/// would end a `#SBATCH`-style line or a log record), bounded.
fn check_text(what: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(refuse(what, "it is empty"));
    }
    if v.len() > 4096 {
        return Err(refuse(what, "it is longer than 4096 bytes"));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(refuse(
            what,
            format!("{} contains the control character {c:?}", excerpt(v)),
        ));
    }
    Ok(())
}

/// A path: text as above that also cannot be read as an option.
fn check_path(what: &str, v: &str) -> Result<()> {
    check_text(what, v)?;
    if v.starts_with('-') {
        return Err(refuse(what, format!("{} starts with '-'", excerpt(v))));
    }
    Ok(())
}

/// Partition / account names: `[A-Za-z0-9_.-]+`.
fn check_name(what: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(refuse(
            what,
            format!(
                "{} is not a name of letters, digits, '_', '.' and '-' (starting with a letter, digit or '_')",
                excerpt(v)
            ),
        ))
    }
}

/// `--time`: digits separated by `:` or `-`, or `UNLIMITED` / `INFINITE`.
fn check_time(v: &str) -> Result<()> {
    let ok = matches!(v, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite")
        || (!v.is_empty()
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.len() <= 32
            && v.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ':' | '-')));
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "SLURM time limit",
            format!(
                "{} is not a time like 90, 02:00:00 or 1-12:00:00",
                excerpt(v)
            ),
        ))
    }
}

/// `--mem`: a number with an optional `K`/`M`/`G`/`T` unit.
fn check_mem(v: &str) -> Result<()> {
    let digits = v.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let ok = !digits.is_empty()
        && digits.len() <= 16
        && v.len() - digits.len() <= 1
        && digits.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "SLURM memory request",
            format!("{} is not an amount like 4000, 500M or 4G", excerpt(v)),
        ))
    }
}

/// `--gres`: `gpu:N` or `gpu:TYPE:N`, N from 1 to 64 (what a run's GPU choice asks for;
/// nothing else is ever requested this way, so nothing else is accepted).
fn check_gres(v: &str) -> Result<()> {
    let mut parts = v.split(':');
    let ok = parts.next() == Some("gpu") && {
        let rest: Vec<&str> = parts.collect();
        let count_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 2
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n))
        };
        match rest.as_slice() {
            [n] => count_ok(n),
            [ty, n] => check_name("GPU type", ty).is_ok() && count_ok(n),
            _ => false,
        }
    };
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "SLURM --gres request",
            format!(
                "{} is not a GPU request like gpu:1 or gpu:a100:2",
                excerpt(v)
            ),
        ))
    }
}

/// One `--export` entry. sbatch splits `--export` at every comma (quotes do not protect
/// one: `A="x,y"` arrives as `"x,y"` with the quotes), so values with commas are refused;
/// spaces, `$`, quotes and backticks arrive unchanged (checked on the test cluster).
fn check_env(name: &str, value: &str) -> Result<()> {
    if !crate::remote::quote::is_env_name(name) {
        return Err(refuse(
            "job environment variable name",
            format!("{} is not of the form [A-Z_][A-Z0-9_]*", excerpt(name)),
        ));
    }
    if matches!(name, "ALL" | "NONE" | "NIL") {
        return Err(refuse(
            "job environment variable name",
            format!("{name} is a keyword of sbatch --export"),
        ));
    }
    let what = format!("value of job environment variable {name}");
    check_text(&what, value)?;
    if value.contains(',') {
        return Err(refuse(
            &what,
            format!(
                "{} contains ',' which sbatch --export cannot carry (it splits there)",
                excerpt(value)
            ),
        ));
    }
    Ok(())
}

/// Checks one of a profile's SLURM options by its profile field name (`partition`,
/// `time_limit`, `mem`, `account`) with the rule `sbatch_args` applies, so a saved profile
/// never fails at its first submission.
pub fn check_option(field: &str, v: &str) -> Result<()> {
    let named = |e: Error| match e {
        Error::Invalid { why, .. } => Error::Invalid {
            what: format!("{field} {}", excerpt(v)),
            why,
        },
        other => other,
    };
    match field {
        "time_limit" => check_time(v),
        "mem" => check_mem(v),
        _ => check_name(field, v),
    }
    .map_err(named)
}

/// `sbatch --parsable --job-name=… [options] [--export=ALL,…] -- SCRIPT`. Every option is
/// one `--opt=value` word, so no value can be taken for an option; the script comes after
/// `--`. Nothing here is a shell string: the SSH layer quotes each word.
pub fn sbatch_args(script: &str, job_name: &str, extra: &SbatchOptions) -> Result<Vec<String>> {
    check_path("batch script path", script)?;
    check_text("job name", job_name)?;
    if job_name.len() > 128 {
        return Err(refuse("job name", "it is longer than 128 bytes"));
    }
    let mut argv = vec![
        "sbatch".to_string(),
        "--parsable".to_string(),
        format!("--job-name={job_name}"),
    ];
    if let Some(p) = &extra.partition {
        check_name("SLURM partition", p)?;
        argv.push(format!("--partition={p}"));
    }
    if let Some(t) = &extra.time {
        check_time(t)?;
        argv.push(format!("--time={t}"));
    }
    if let Some(m) = &extra.mem {
        check_mem(m)?;
        argv.push(format!("--mem={m}"));
    }
    if let Some(a) = &extra.account {
        check_name("SLURM account", a)?;
        argv.push(format!("--account={a}"));
    }
    if let Some(g) = &extra.gres {
        check_gres(g)?;
        argv.push(format!("--gres={g}"));
    }
    if let Some(o) = &extra.output_path {
        check_path("job output path", o)?;
        argv.push(format!("--output={o}"));
    }
    if let Some(d) = &extra.chdir {
        check_path("job working directory", d)?;
        argv.push(format!("--chdir={d}"));
    }
    if !extra.env.is_empty() {
        // ALL: the job also gets the submitting environment (PATH to pmtwatch, modules).
        let mut export = String::from("--export=ALL");
        for (name, value) in &extra.env {
            check_env(name, value)?;
            export.push(',');
            export.push_str(name);
            export.push('=');
            export.push_str(value);
        }
        argv.push(export);
    }
    argv.push("--".to_string());
    argv.push(script.to_string());
    Ok(argv)
}

/// The environment the batch scripts in `slurm/` read: `SCAN_DIR`, `SN`, `OUT_DIR`.
pub fn scan_env(scan_dir: &str, serial: &Serial, out_dir: &str) -> Result<Vec<(String, String)>> {
    check_path("scan directory", scan_dir)?;
    check_path("output directory", out_dir)?;
    let env = vec![
        ("SCAN_DIR".to_string(), scan_dir.to_string()),
        ("SN".to_string(), serial.as_str().to_string()),
        ("OUT_DIR".to_string(), out_dir.to_string()),
    ];
    for (k, v) in &env {
        check_env(k, v)?;
    }
    Ok(env)
}

/// `scontrol show job -o ID` (one line per job).
pub fn scontrol_args(id: u64) -> Vec<String> {
    vec![
        "scontrol".into(),
        "show".into(),
        "job".into(),
        "-o".into(),
        id.to_string(),
    ]
}

/// `squeue -h -t all -j ID -o '%i|%T|%r'`. `-t all`: without it squeue hides jobs that
/// already ended (it printed nothing for a FAILED job on the test cluster).
pub fn squeue_args(id: u64) -> Vec<String> {
    vec![
        "squeue".into(),
        "-h".into(),
        "-t".into(),
        "all".into(),
        "-j".into(),
        id.to_string(),
        "-o".into(),
        SQUEUE_FORMAT.into(),
    ]
}

/// `squeue -h -t all --me --name=NAME -o '%i|%T|%r'`: this user's jobs of that name the
/// controller still lists (pending, running, or ended less than `MinJobAge` ago).
pub fn squeue_named_args(name: &str) -> Result<Vec<String>> {
    check_text("job name", name)?;
    if name.contains(',') {
        // squeue reads `--name=a,b` as a list of names.
        return Err(refuse("job name", "it contains ',' (squeue reads a list)"));
    }
    Ok(vec![
        "squeue".into(),
        "-h".into(),
        "-t".into(),
        "all".into(),
        "--me".into(),
        format!("--name={name}"),
        "-o".into(),
        SQUEUE_FORMAT.into(),
    ])
}

/// `sacct -P -n -j ID -o JobID,State,ExitCode,Reason` (steps included, to refine exit
/// codes).
pub fn sacct_args(id: u64) -> Vec<String> {
    vec![
        "sacct".into(),
        "-P".into(),
        "-n".into(),
        "-j".into(),
        id.to_string(),
        "-o".into(),
        SACCT_FIELDS.into(),
    ]
}

/// `scancel ID`. Note: slurm 22.05's scancel exits 0 even for an unknown or finished job.
pub fn scancel_args(id: u64) -> Vec<String> {
    vec!["scancel".into(), id.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_argv() {
        let serial = Serial::parse("KM12345").expect("valid serial");
        let opts = SbatchOptions {
            partition: Some("debug".into()),
            time: Some("02:00:00".into()),
            mem: Some("500M".into()),
            account: Some("pmt_lab-1.x".into()),
            output_path: Some("/data/run 1/pmtwatch-%j.out".into()),
            chdir: Some("/data/run 1".into()),
            gres: Some("gpu:2".into()),
            env: scan_env("/data/scan $HOME `id`", &serial, "/data/out").expect("valid"),
        };
        let argv = sbatch_args(SCAN_SCRIPT, "pmtwatch-KM12345", &opts).expect("valid");
        assert_eq!(
            argv,
            [
                "sbatch",
                "--parsable",
                "--job-name=pmtwatch-KM12345",
                "--partition=debug",
                "--time=02:00:00",
                "--mem=500M",
                "--account=pmt_lab-1.x",
                "--gres=gpu:2",
                "--output=/data/run 1/pmtwatch-%j.out",
                "--chdir=/data/run 1",
                "--export=ALL,SCAN_DIR=/data/scan $HOME `id`,SN=KM12345,OUT_DIR=/data/out",
                "--",
                "slurm/pmtwatch-scan.sbatch",
            ]
        );
        let plain = sbatch_args("job.sh", "j", &SbatchOptions::default()).expect("valid");
        assert_eq!(
            plain,
            ["sbatch", "--parsable", "--job-name=j", "--", "job.sh"]
        );
    }

    #[test]
    fn sbatch_refuses_bad_values() {
        let ok = SbatchOptions::default();
        assert!(sbatch_args("job.sh", "a\nb", &ok).is_err());
        assert!(sbatch_args("job.sh", "", &ok).is_err());
        assert!(sbatch_args("-x.sh", "j", &ok).is_err());
        assert!(sbatch_args("job\r.sh", "j", &ok).is_err());
        let bad = [
            SbatchOptions {
                partition: Some("debug;rm".into()),
                ..ok.clone()
            },
            SbatchOptions {
                partition: Some("-p".into()),
                ..ok.clone()
            },
            SbatchOptions {
                account: Some("a b".into()),
                ..ok.clone()
            },
            SbatchOptions {
                time: Some("1h".into()),
                ..ok.clone()
            },
            SbatchOptions {
                mem: Some("4GB".into()),
                ..ok.clone()
            },
            SbatchOptions {
                output_path: Some("out\n.txt".into()),
                ..ok.clone()
            },
            SbatchOptions {
                chdir: Some("--help".into()),
                ..ok.clone()
            },
            SbatchOptions {
                gres: Some("gpu:1,mps:100".into()),
                ..ok.clone()
            },
            SbatchOptions {
                gres: Some("gpu:0".into()),
                ..ok.clone()
            },
            SbatchOptions {
                gres: Some("--gpus=8".into()),
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("SCAN_DIR".into(), "a,b".into())],
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("scan dir".into(), "a".into())],
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("ALL".into(), "a".into())],
                ..ok.clone()
            },
        ];
        for opts in bad {
            assert!(
                matches!(
                    sbatch_args("job.sh", "j", &opts),
                    Err(Error::Invalid { .. })
                ),
                "{opts:?}"
            );
        }
        for g in ["gpu:1", "gpu:a100:4", "gpu:64"] {
            let o = SbatchOptions {
                gres: Some(g.into()),
                ..ok.clone()
            };
            assert!(sbatch_args("job.sh", "j", &o).is_ok(), "{g}");
        }
        for t in ["90", "2-00:00:00", "UNLIMITED"] {
            let o = SbatchOptions {
                time: Some(t.into()),
                ..ok.clone()
            };
            assert!(sbatch_args("job.sh", "j", &o).is_ok(), "{t}");
        }
    }

    #[test]
    fn other_builders() {
        assert_eq!(scontrol_args(6), ["scontrol", "show", "job", "-o", "6"]);
        assert_eq!(
            squeue_args(6),
            ["squeue", "-h", "-t", "all", "-j", "6", "-o", "%i|%T|%r"]
        );
        assert_eq!(
            squeue_named_args("pmtwatch-scan-KM1-0a1b2c3d").expect("a plain name"),
            [
                "squeue",
                "-h",
                "-t",
                "all",
                "--me",
                "--name=pmtwatch-scan-KM1-0a1b2c3d",
                "-o",
                "%i|%T|%r"
            ]
        );
        assert!(squeue_named_args("a\nb").is_err());
        assert!(squeue_named_args("a,b").is_err());
        assert_eq!(
            sacct_args(6),
            [
                "sacct",
                "-P",
                "-n",
                "-j",
                "6",
                "-o",
                "JobID,State,ExitCode,Reason"
            ]
        );
        assert_eq!(scancel_args(6), ["scancel", "6"]);
    }
}
