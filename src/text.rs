//! Text files as every reader of them takes them: UTF-8, an error naming the line of the first
//! byte that is not, and no byte-order mark (as some editors write) before the first line.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads the text file at `path`.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    text_of(path, bytes)
}

/// `bytes`, read from `path`, as text.
pub(crate) fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String> {
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let good = e.as_bytes().get(..at).unwrap_or_default();
        let line = good.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let column = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        Error::line(path, line, None, format!("not UTF-8 text: an invalid byte at column {column} (byte {at} of the file)"))
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}
