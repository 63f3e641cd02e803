//! The library's one error type.
//!
//! Every variant that comes from user data names the file it came from and, where there is one,
//! the row or id, so that the CLI can print a message a person can act on without a backtrace.
//!
//! Messages name the library's options by their field names in backquotes (`` `rrf_k` must be a
//! finite number ``, `` use `backend` cpu ``): the library speaks no front end's language. Each
//! front end words them its own way: the CLI as its flags (`--rrf-k`, with [`word_options`]),
//! Python as they are (its keyword arguments have the fields' names).

use std::path::{Path, PathBuf};

/// Errors returned by every fallible function of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A parquet or arrow file could not be decoded (corrupt, truncated, not parquet).
    #[error("{}: not a readable parquet file: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A file could not be written (a full disk, a file-size limit, a failed encoder).
    #[error("{}: cannot write it: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file's content is not what simcal accepts: wrong column types, bad header, and so on.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One row of a file is bad: a null or ragged vector, NaN, a zero vector, a duplicate id.
    #[error("{}: row {row}{}: {message}", path.display(), id.as_deref().map(shown_id).unwrap_or_default())]
    Row {
        /// The file.
        path: PathBuf,
        /// 0-based row where the problem is.
        row: u64,
        /// The row's id, when it is known.
        id: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// One line of a text file is bad: too few fields, a value that is not a number.
    #[error("{}: line {line}{}: {message}", path.display(), id.as_deref().map(shown_id).unwrap_or_default())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The line's id, when it is known.
        id: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Two inputs do not fit together (dimension mismatch, for example).
    #[error("{message}")]
    Mismatch {
        /// What does not fit.
        message: String,
    },
    /// A parameter is out of its range (k = 0, for example).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The requested backend is not available in this build or on this machine.
    #[error("{0}")]
    Unavailable(String),
    /// The caller stopped the work (its progress hook said so: a Ctrl-C); nothing was written
    /// by the step it stopped.
    #[error("interrupted")]
    Interrupted,
    /// A calibration map could not be fitted to a group's data.
    #[error("fitting {group}: {message}")]
    Fit {
        /// The group (`all` for the global fit).
        group: String,
        /// Why.
        message: String,
    },
    /// The GPU failed while simcal was using it.
    #[error("GPU {adapter:?}: {kind}: {message}")]
    Gpu {
        /// The adapter's name.
        adapter: String,
        /// What kind of failure.
        kind: GpuFailure,
        /// What the driver or wgpu said.
        message: String,
    },
}

/// How a GPU failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuFailure {
    /// The device could not be created.
    NoDevice,
    /// The device was lost (driver reset, GPU removed, timeout).
    DeviceLost,
    /// The GPU ran out of memory.
    OutOfMemory,
    /// A buffer, kernel or limit was refused (a simcal bug, or a driver that misreports limits).
    Refused,
}

impl std::fmt::Display for GpuFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuFailure::NoDevice => "device could not be created",
            GpuFailure::DeviceLost => "device lost",
            GpuFailure::OutOfMemory => "out of memory",
            GpuFailure::Refused => "operation refused",
        })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

thread_local! {
    /// Whether this thread is inside [`decoding`].
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The longest id a message prints whole, in characters.
const ID_SHOWN: usize = 64;

/// " (id \"…\")" for a message: an id longer than [`ID_SHOWN`] characters is cut, with its length.
fn shown_id(id: &str) -> String {
    format!(" (id {})", quoted(id))
}

/// An id quoted for a message's text: one longer than 64 characters is cut, with its length
/// ("\"abc…\"…, 5242880 bytes").
pub fn quoted(id: &str) -> String {
    match id.char_indices().nth(ID_SHOWN) {
        None => format!("{id:?}"),
        Some((cut, _)) => format!("{:?}…, {} bytes", id.get(..cut).unwrap_or_default(), id.len()),
    }
}

/// Runs `f`, which decodes the parquet file `path`: a panic inside the decoder (the parquet
/// crate indexes out of bounds on some corrupt pages instead of returning an error; found by
/// fuzzing) becomes an error naming the file, not a crash. Such a panic is not printed.
pub(crate) fn decoding<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(std::cell::Cell::get) {
                previous(info)
            }
        }));
    });
    let was = DECODING.with(|d| d.replace(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    DECODING.with(|d| d.set(was));
    out.unwrap_or_else(|p| {
        let what = p.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        Err(Error::Parquet { path: path.to_path_buf(), message: format!("corrupt data: the decoder failed ({what})") })
    })
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn write(path: &Path, e: impl std::fmt::Display) -> Self {
        let m = e.to_string();
        // The encoder wraps the OS's error as "External: …": the OS's words are the message.
        let message = m.strip_prefix("External: ").map(str::to_owned).unwrap_or(m);
        Error::Write { path: path.to_path_buf(), message }
    }
    pub(crate) fn parquet(path: &Path, e: impl std::fmt::Display) -> Self {
        Error::Parquet { path: path.to_path_buf(), message: e.to_string() }
    }
    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Error::Format { path: path.to_path_buf(), message: message.into() }
    }
    pub(crate) fn line(path: &Path, line: u64, id: Option<&str>, message: impl Into<String>) -> Self {
        Error::Line { path: path.to_path_buf(), line, id: id.map(str::to_owned), message: message.into() }
    }
    pub(crate) fn row(path: &Path, row: u64, id: Option<&str>, message: impl Into<String>) -> Self {
        Error::Row { path: path.to_path_buf(), row, id: id.map(str::to_owned), message: message.into() }
    }
}

/// Starts a thread in scope `s`, named `name`; a failure to start it (a process or memory
/// limit) is an error, not a panic.
pub fn spawn_scoped<'s, 'e, T: Send + 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    name: &str,
    f: impl FnOnce() -> T + Send + 's,
) -> Result<std::thread::ScopedJoinHandle<'s, T>> {
    spawn_scoped_with(std::thread::Builder::new(), s, name, f)
}

/// [`spawn_scoped`] with `builder`'s settings (its stack size).
pub fn spawn_scoped_with<'s, 'e, T: Send + 's>(
    builder: std::thread::Builder,
    s: &'s std::thread::Scope<'s, 'e>,
    name: &str,
    f: impl FnOnce() -> T + Send + 's,
) -> Result<std::thread::ScopedJoinHandle<'s, T>> {
    builder.name(name.to_owned()).spawn_scoped(s, f).map_err(|e| Error::Unavailable(format!("cannot start the {name} thread: {e}")))
}

/// `message` with each option named in backquotes (`` `max_ks` ``: lowercase letters, digits and
/// underscores) replaced by `word(name)`, or left as it is where `word` gives None.
pub fn word_options(message: &str, word: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let after = after.get(1..).unwrap_or("");
        let name_len = after.find('`').filter(|&n| {
            n > 0 && after.get(..n).is_some_and(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        });
        match name_len.and_then(|n| Some((n, word(after.get(..n)?)?))) {
            Some((n, worded)) => {
                out.push_str(&worded);
                rest = after.get(n + 1..).unwrap_or("");
            }
            None => {
                out.push('`');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of another library's error (serde's, toml's), to embed in one of ours: its
/// backquotes become single quotes (`` unknown field `max_ks` `` → `unknown field 'max_ks'`), so
/// that no front end takes the fields it names for the library's options.
pub(crate) fn foreign_text(e: impl std::fmt::Display) -> String {
    e.to_string().replace('`', "'")
}
