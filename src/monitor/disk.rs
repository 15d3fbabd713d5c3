//! Free space of the filesystem holding a directory: the one measurement the System tab's
//! host status, the "cannot fit the next scan" refusal and the disk alarm share. Blocking
//! (a `statvfs` call, which can hang on a dead network mount): call it from
//! `spawn_blocking`, never inside an async task directly.

use std::path::Path;

use crate::model::system::DiskSpace;

/// `statvfs` of the filesystem holding `path`. A path that does not exist yet is measured
/// at its nearest existing ancestor (a data directory the first scan will create), so a
/// fresh setup still gets a reading; the error names the path when none exists.
pub fn disk_space(path: &Path) -> std::io::Result<DiskSpace> {
    let mut probe = path;
    let stat = loop {
        match rustix::fs::statvfs(probe) {
            Ok(s) => break s,
            Err(e) if e == rustix::io::Errno::NOENT => match probe.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
                _ => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "cannot measure free space: {} does not exist",
                            path.display()
                        ),
                    ));
                }
            },
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::Error::from(e).kind(),
                    format!("cannot measure free space of {}: {e}", path.display()),
                ));
            }
        }
    };
    let unit = stat.f_frsize.max(1);
    Ok(DiskSpace {
        path: path.display().to_string(),
        free_bytes: stat.f_bavail.saturating_mul(unit),
        total_bytes: stat.f_blocks.saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_directory_has_some_space_and_a_missing_child_is_measured_at_its_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let here = disk_space(dir.path()).expect("statvfs");
        assert!(
            here.total_bytes > 0 && here.free_bytes <= here.total_bytes,
            "{here:?}"
        );
        let later = disk_space(&dir.path().join("not/yet")).expect("statvfs of ancestor");
        assert_eq!(later.total_bytes, here.total_bytes);
        assert!(later.path.ends_with("not/yet"));
        assert!((0.0..=1.0).contains(&here.free_fraction()));
    }
}
