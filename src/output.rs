//! Atomic output: every file is written to a temporary file beside its destination and renamed
//! into place only when complete, so a failure never leaves a half-written output behind.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` through `write`, atomically. On error nothing is left at `path` (an older file
/// there stays as it was).
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        // Like any newly created file: read-write for everyone the umask allows.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes `value` as pretty JSON (and a final newline) to `path`, atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| Error::format(path, e.to_string()))?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))
    })
}
