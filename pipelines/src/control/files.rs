//! Reading the config files a client names, so that no path can hold a client thread or
//! grow vnfd: the file is opened without blocking (a FIFO with no writer, a device), must be
//! a regular file by `fstat` on what was opened (no race with a rename), is read up to a
//! size cap, and, when `[control] config_dir` is set, must lie inside that directory.
//! Refusals name the path and never quote the file.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use vnf_core::config::{Config, Control as ControlCfg, Valid};

/// The largest file vnfd reads at startup (the most `max_config_bytes` can be).
pub const STARTUP_MAX: u64 = 1 << 30;

/// Where config files may come from, and how large they may be.
#[derive(Clone, Debug)]
pub struct FileLimits {
    pub max_bytes: u64,
    pub dir: Option<PathBuf>,
}

impl From<&ControlCfg> for FileLimits {
    fn from(c: &ControlCfg) -> Self {
        FileLimits { max_bytes: c.max_config_bytes, dir: c.config_dir.as_ref().map(PathBuf::from) }
    }
}

impl FileLimits {
    /// Any path, up to `max_bytes`.
    pub fn anywhere(max_bytes: u64) -> FileLimits {
        FileLimits { max_bytes, dir: None }
    }
}

fn kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The text of the regular file at `path`, within `limits`. Errors start with `path: `.
pub fn read_text(path: &Path, limits: &FileLimits) -> Result<String, String> {
    let shown = path.display();
    let mut open_path = path.to_path_buf();
    if let Some(dir) = &limits.dir {
        let d = std::fs::canonicalize(dir)
            .map_err(|e| format!("path: control.config_dir {} cannot be resolved: {e}", dir.display()))?;
        let p = std::fs::canonicalize(path).map_err(|e| format!("path: cannot read {shown}: {e}"))?;
        if !p.starts_with(&d) {
            return Err(format!("path: {shown} is outside control.config_dir ({})", d.display()));
        }
        open_path = p;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    // Non-blocking: opening a FIFO with no writer returns at once instead of waiting for one.
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if limits.dir.is_some() {
        // The resolved path has no symlink; one put in its place since is not followed.
        flags |= libc::O_NOFOLLOW;
    }
    opts.custom_flags(flags);
    let f = opts.open(&open_path).map_err(|e| format!("path: cannot read {shown}: {e}"))?;
    let md = f.metadata().map_err(|e| format!("path: cannot read {shown}: {e}"))?;
    if !md.is_file() {
        return Err(format!("path: {shown} is {}, not a regular file", kind(md.file_type())));
    }
    let cap = limits.max_bytes;
    if md.len() > cap {
        return Err(format!("path: {shown} has {} bytes, more than control.max_config_bytes ({cap})", md.len()));
    }
    let mut bytes = Vec::with_capacity(md.len() as usize);
    // A file that grows while it is read is cut at the cap plus one byte, and refused.
    f.take(cap + 1).read_to_end(&mut bytes).map_err(|e| format!("path: cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("path: {shown} grew past control.max_config_bytes ({cap}) while being read"));
    }
    String::from_utf8(bytes)
        .map_err(|e| format!("path: {shown} is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// Reads a config file and parses its syntax and types only (file and line in the error).
pub fn read_config_syntax(path: &Path, limits: &FileLimits) -> Result<Config, String> {
    let text = read_text(path, limits)?;
    Config::parse_syntax(&text, Some(&path.display().to_string())).map_err(|e| e.to_string())
}

/// Reads, parses and validates a config file (file and line in the error).
pub fn read_config(path: &Path, limits: &FileLimits) -> Result<(Valid<Config>, String), String> {
    let text = read_text(path, limits)?;
    let file = path.display().to_string();
    let cfg = Config::parse(&text, Some(&file)).map_err(|e| e.to_string())?;
    Ok((cfg, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn fifos_devices_directories_and_big_files_are_refused_at_once_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let lim = FileLimits::anywhere(1024);
        let t = Instant::now();
        let e = read_text(&fifo, &lim).unwrap_err();
        assert_eq!(e, format!("path: {} is a FIFO, not a regular file", fifo.display()));
        assert!(t.elapsed() < Duration::from_secs(1), "no wait for a writer");
        assert_eq!(
            read_text(Path::new("/dev/zero"), &lim).unwrap_err(),
            "path: /dev/zero is a character device, not a regular file"
        );
        assert_eq!(
            read_text(d.path(), &lim).unwrap_err(),
            format!("path: {} is a directory, not a regular file", d.path().display())
        );
        let big = d.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 1025]).unwrap();
        assert_eq!(
            read_text(&big, &lim).unwrap_err(),
            format!("path: {} has 1025 bytes, more than control.max_config_bytes (1024)", big.display())
        );
        std::fs::write(&big, vec![b'#'; 1024]).unwrap();
        assert_eq!(read_text(&big, &lim).unwrap().len(), 1024);
        std::fs::write(&big, [b'#', 0xff]).unwrap();
        assert_eq!(read_text(&big, &lim).unwrap_err(), format!("path: {} is not UTF-8 text (byte 1)", big.display()));
    }

    #[test]
    fn a_config_dir_takes_only_files_inside_it_after_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let inside = d.path().join("conf");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(inside.join("a.toml"), "x").unwrap();
        let outside = d.path().join("secret");
        std::fs::write(&outside, "root:x").unwrap();
        std::os::unix::fs::symlink(&outside, inside.join("link.toml")).unwrap();
        let lim = FileLimits { max_bytes: 1024, dir: Some(inside.clone()) };
        assert_eq!(read_text(&inside.join("a.toml"), &lim).unwrap(), "x");
        let canon = std::fs::canonicalize(&inside).unwrap();
        for p in [outside.clone(), inside.join("link.toml"), inside.join("../secret")] {
            let e = read_text(&p, &lim).unwrap_err();
            assert_eq!(e, format!("path: {} is outside control.config_dir ({})", p.display(), canon.display()));
            assert!(!e.contains("root:x"), "{e}");
        }
    }
}
