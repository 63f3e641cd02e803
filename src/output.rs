//! Safe output: every destination is checked before a command computes anything
//! ([`check_destinations`]: never one of its inputs, only regular files, a folder that exists),
//! and every file is written to a temporary file beside its destination and renamed into place
//! only when complete, so a failure never leaves a half-written output behind.
//!
//! Temporary files are named `.NAME.simcal-PID.XXXXXX.tmp`. They are removed on every error,
//! on SIGINT, SIGTERM and SIGHUP ([`remove_temporaries_on_signals`]), and a write of NAME removes
//! the ones a killed process (one no longer running) left beside it. A command with several
//! outputs opens a transaction ([`begin`]): its files are staged until [`commit`] renames them
//! all into place, or [`abandon`] removes them, so it writes all of its outputs or none.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Temporary files that exist now (written or being written), for the signal handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Finished temporary files and their destinations, while a transaction is open.
static STAGED: Mutex<Option<Vec<(tempfile::TempPath, PathBuf)>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn staged() -> std::sync::MutexGuard<'static, Option<Vec<(tempfile::TempPath, PathBuf)>>> {
    STAGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A temporary file known to the signal handler while this lives.
struct Tracked(PathBuf);

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut l = live();
        if let Some(i) = l.iter().position(|p| *p == self.0) {
            l.swap_remove(i);
        }
    }
}

/// Opens a transaction: from now on `write_atomic` stages each finished file instead of
/// renaming it into place, until [`commit`] or [`abandon`].
pub fn begin() {
    *staged() = Some(Vec::new());
}

/// Renames every staged file into place, in the order written, and closes the transaction.
/// On an error the files not yet renamed are removed.
pub fn commit() -> Result<()> {
    let files = staged().take().unwrap_or_default();
    let mut files = files.into_iter();
    for (tmp, dest) in files.by_ref() {
        let _tracked = Tracked(tmp.to_path_buf());
        if let Err(e) = tmp.persist(&dest) {
            return Err(Error::io(&dest, e.error));
        }
    }
    Ok(())
}

/// Removes every staged file and closes the transaction: none of the outputs is written.
pub fn abandon() {
    let files = staged().take().unwrap_or_default();
    for (tmp, _) in files {
        let _tracked = Tracked(tmp.to_path_buf());
        drop(tmp);
    }
}

/// Installs the handler that removes this process's temporary files when it is stopped by
/// SIGINT, SIGTERM or SIGHUP, then exits with 128 + the signal's number; and ignores SIGXFSZ,
/// so that a write beyond the file-size limit is an error (and its temporary file removed)
/// instead of a kill. For programs, not libraries: it takes over those signals.
#[cfg(unix)]
pub fn remove_temporaries_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::Invalid(format!("cannot watch for signals: {e}")))?;
    std::thread::Builder::new()
        .name("simcal-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Hold the list while removing so that no new file is registered behind it.
                let l = live();
                for p in l.iter() {
                    let _ = std::fs::remove_file(p);
                }
                std::process::exit(128 + sig);
            }
        })
        .map_err(|e| Error::Invalid(format!("cannot start the signal thread: {e}")))?;
    Ok(())
}

/// The prefix of this process's temporary files for an output named `name`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.simcal-{}.", std::process::id())
}

/// Removes the temporary files of `name` in `dir` that a process no longer running left behind
/// (killed with SIGKILL, or by a power cut). Files of running processes are left alone.
#[cfg(unix)]
fn remove_stale(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let head = format!(".{name}.simcal-");
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&head)) else { continue };
        if !rest.ends_with(".tmp") {
            continue;
        }
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        if pid <= 0 || pid as u32 == std::process::id() {
            continue;
        }
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(not(unix))]
fn remove_stale(_dir: &Path, _name: &str) {}

/// Writes `path` through `write`, atomically. On error nothing is left at `path` (an older file
/// there stays as it was) and no temporary file remains. Inside a transaction ([`begin`]) the
/// file is renamed into place by [`commit`].
pub(crate) fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    remove_stale(dir, &name);
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        // Like any newly created file: read-write for everyone the umask allows.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Registered before the file exists, so that a signal never misses it.
    let mut tmp = {
        let mut l = live();
        let tmp = builder.prefix(&temp_prefix(&name)).suffix(".tmp").tempfile_in(dir).map_err(|e| Error::io(path, e))?;
        l.push(tmp.path().to_path_buf());
        tmp
    };
    let _tracked = Tracked(tmp.path().to_path_buf());
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    let mut stage = staged();
    match stage.as_mut() {
        Some(files) => {
            let tmp = tmp.into_temp_path();
            live().push(tmp.to_path_buf());
            files.push((tmp, path.to_path_buf()));
        }
        None => {
            drop(stage);
            tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        }
    }
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

/// Checks, before any work, that a command may write each of `outputs` (each with what names
/// it: an option in the markup of [`crate::error::word_options`], ``("`out`", path)``): none is
/// one of `inputs` or another output, compared as files however the paths are spelled (relative, `..`, links); each is absent or a regular
/// file (not a folder, device, FIFO or socket; a link to a regular file is replaced by the new
/// file, its target left alone); and its folder exists. Errors name the option and the path.
pub fn check_destinations(inputs: &[&Path], outputs: &[(&str, &Path)]) -> Result<()> {
    // Inputs not there yet (an earlier stage of a job would make them) are compared by where
    // they would be.
    let missing: Vec<(&Path, std::path::PathBuf)> =
        inputs.iter().filter(|p| identity(p).is_none()).filter_map(|p| future_place(p).map(|pl| (*p, pl))).collect();
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
        if let Some((input, _)) = missing.iter().find(|(_, pl)| *pl == place) {
            return bad(format!("is the input {}: simcal never writes over its inputs; choose another path", input.display()));
        }
        if let Some((other, other_path, ..)) = seen.iter().find(|(_, _, pl, oid)| *pl == place || (id.is_some() && *oid == id)) {
            return bad(format!("is also {other} {}: each output needs its own file", other_path.display()));
        }
        seen.push((option, path, place, id));
    }
    Ok(())
}
