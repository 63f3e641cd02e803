//! Safe output: every destination is checked before a command computes anything
//! ([`check_destinations`]: never one of its inputs, only regular files, a folder that exists),
//! and every file is written to a temporary file beside its destination and renamed into place
//! only when complete, so a failure never leaves a half-written output behind.

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

/// Which file a path names: (device, inode) where the platform has them, else the canonical path.
type FileId = (u64, u64, std::path::PathBuf);

/// The file `path` names, following links. None when nothing is there.
fn identity(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino(), std::path::PathBuf::new()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0, std::fs::canonicalize(path).ok()?))
    }
}

/// Where an output that does not exist yet will be: its folder's canonical path and its name.
fn future_place(path: &Path) -> Option<std::path::PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(dir).ok()?.join(path.file_name()?))
}

/// Checks, before any work, that a command may write each of `outputs` (each with the option
/// that names it, e.g. `("--out", path)`): none is one of `inputs` or another output, compared
/// as files however the paths are spelled (relative, `..`, links); each is absent or a regular
/// file (not a folder, device, FIFO or socket; a link to a regular file is replaced by the new
/// file, its target left alone); and its folder exists. Errors name the option and the path.
pub fn check_destinations(inputs: &[&Path], outputs: &[(&str, &Path)]) -> Result<()> {
    let inputs: Vec<(&Path, FileId)> = inputs.iter().filter_map(|p| identity(p).map(|id| (*p, id))).collect();
    // Outputs so far: option, path, where it will be, and the file there now.
    let mut seen: Vec<(&str, &Path, std::path::PathBuf, Option<FileId>)> = Vec::new();
    for &(option, path) in outputs {
        let bad = |why: String| Err(Error::Invalid(format!("{option} {}: {why}", path.display())));
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            return bad("not a file name".into());
        }
        let id = identity(path);
        if id.is_some() {
            let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if !meta.is_file() {
                let what = if meta.is_dir() { "a folder" } else { "not a regular file (a device, FIFO or socket)" };
                return bad(format!("is {what}; simcal writes regular files only"));
            }
        } else if std::fs::symlink_metadata(path).is_ok() {
            return bad("is a link to nothing: remove it or choose another path".into());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return bad(format!("there is no folder {}", dir.display()));
        }
        if let Some(id) = &id {
            if let Some((input, _)) = inputs.iter().find(|(_, i)| i == id) {
                return bad(format!("is the input {}: simcal never writes over its inputs; choose another path", input.display()));
            }
        }
        let place = future_place(path).unwrap_or_else(|| path.to_path_buf());
        if let Some((other, other_path, ..)) = seen.iter().find(|(_, _, pl, oid)| *pl == place || (id.is_some() && *oid == id)) {
            return bad(format!("is also {other} {}: each output needs its own file", other_path.display()));
        }
        seen.push((option, path, place, id));
    }
    Ok(())
}
