//! A parquet file that several readers share without a shared cursor: every read names its
//! offset (`pread`), so columns decode in parallel from one open file.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

/// An open file read at explicit offsets; cloning shares the file, not a position.
#[derive(Clone)]
pub struct PositionedFile {
    file: Arc<File>,
    len: u64,
}

impl PositionedFile {
    pub fn new(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(PositionedFile { file: Arc::new(file), len })
    }
}

impl Length for PositionedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// A reader of a [`PositionedFile`] from an offset on, with its own position.
pub struct At {
    file: Arc<File>,
    offset: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = read_at(&self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl ChunkReader for PositionedFile {
    type T = std::io::BufReader<At>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::new(At { file: self.file.clone(), offset: start }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        // The file's own length bounds the buffer: a damaged footer may claim more.
        let available = self.len.saturating_sub(start);
        if length as u64 > available {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "expected to read {length} bytes at offset {start}, the file has {available} there"
            )));
        }
        let mut buf = vec![0u8; length];
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            match read_at(&self.file, rest, start + done as u64)? {
                0 => return Err(parquet::errors::ParquetError::EOF(format!("the file ends before offset {}", start + length as u64))),
                n => done += n,
            }
        }
        Ok(buf.into())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
