//! Score table metadata, stored as parquet key-value pairs under `simcal.*`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The score table schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// What produced a score table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableMeta {
    /// Schema version (see [`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// simcal version that wrote it.
    pub version: String,
    /// Model name (`--model`, default the corpus file's stem).
    pub model: String,
    /// `cosine` or `dot`.
    pub metric: String,
    /// Hits kept per query.
    pub k: usize,
    /// `cpu` or the GPU adapter's name.
    pub backend: String,
    /// sha256 of the queries file.
    pub queries_sha256: String,
    /// sha256 of the corpus file.
    pub corpus_sha256: String,
    /// Any other `simcal.*` keys (kept when a table is read and written again).
    pub extra: BTreeMap<String, String>,
}

pub use super::keys::FOREIGN_KEY;

impl TableMeta {
    /// Whether another tool wrote the table (it had no simcal metadata).
    pub(crate) fn is_foreign(&self) -> bool {
        self.extra.contains_key(FOREIGN_KEY)
    }

    /// The key-value pairs written to the file.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut v = vec![
            (super::keys::SCHEMA_VERSION.to_owned(), self.schema_version.to_string()),
            (super::keys::VERSION.to_owned(), self.version.clone()),
            (super::keys::MODEL.to_owned(), self.model.clone()),
            (super::keys::METRIC.to_owned(), self.metric.clone()),
            (super::keys::K.to_owned(), self.k.to_string()),
            (super::keys::BACKEND.to_owned(), self.backend.clone()),
            (super::keys::QUERIES_SHA256.to_owned(), self.queries_sha256.clone()),
            (super::keys::CORPUS_SHA256.to_owned(), self.corpus_sha256.clone()),
        ];
        v.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        v
    }

    /// Reads the pairs back; `path` names the file in errors.
    pub fn from_pairs(path: &Path, pairs: &[(String, Option<String>)]) -> Result<TableMeta> {
        let mut m = TableMeta::default();
        let mut saw_version = false;
        for (k, v) in pairs {
            let v = v.clone().unwrap_or_default();
            match k.as_str() {
                super::keys::SCHEMA_VERSION => {
                    let n: u32 = v.parse().map_err(|_| Error::format(path, format!("bad simcal.schema_version {v:?}")))?;
                    if n != SCHEMA_VERSION {
                        return Err(Error::format(path, format!("score table schema version {n} is not one this simcal reads (it reads {SCHEMA_VERSION}); use a matching simcal version")));
                    }
                    m.schema_version = n;
                    saw_version = true;
                }
                super::keys::VERSION => m.version = v,
                super::keys::MODEL => m.model = v,
                super::keys::METRIC => m.metric = v,
                super::keys::K => m.k = v.parse().map_err(|_| Error::format(path, format!("bad simcal.k {v:?}")))?,
                super::keys::BACKEND => m.backend = v,
                super::keys::QUERIES_SHA256 => m.queries_sha256 = v,
                super::keys::CORPUS_SHA256 => m.corpus_sha256 = v,
                k if k.starts_with(super::keys::PREFIX) => {
                    m.extra.insert(k.to_owned(), v);
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(Error::format(path, "not a simcal score table (no simcal.schema_version in its metadata)"));
        }
        Ok(m)
    }
}

/// Hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The sha256 of `bytes`, in hex (what [`sha256_file`] gives for a file holding them).
pub fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
