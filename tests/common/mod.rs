//! Fixture builders shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float16Array, Float32Array, Float64Array, Int64Array, LargeListArray, ListArray, RecordBatch, StringArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use simcal::embed::Embeddings;

/// Deterministic values in [-0.5, 0.5).
pub fn random_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

pub fn embeddings(prefix: &str, n: usize, dim: usize, seed: u64) -> Embeddings {
    Embeddings::from_rows(prefix, ids(prefix, n), dim, random_values(n * dim, seed)).unwrap()
}

/// The reference: every score in f64, the top k by (score desc, row asc).
pub fn naive_topk(q: &Embeddings, c: &Embeddings, k: usize, cosine: bool) -> Vec<Vec<(u64, f64)>> {
    let norm = |v: &[f32]| if cosine { v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt() } else { 1.0 };
    let qs = q.vectors.as_slice().unwrap();
    let cs = c.vectors.as_slice().unwrap();
    let d = q.dim();
    (0..q.len())
        .map(|i| {
            let qv = &qs[i * d..(i + 1) * d];
            let qn = norm(qv);
            let mut all: Vec<(u64, f64)> = (0..c.len())
                .map(|j| {
                    let cv = &cs[j * d..(j + 1) * d];
                    let dot: f64 = qv.iter().zip(cv).map(|(&a, &b)| a as f64 * b as f64).sum();
                    (j as u64, dot / (qn * norm(cv)))
                })
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        })
        .collect()
}

#[derive(Clone, Copy)]
pub enum VecType {
    Fixed,
    List,
    LargeList,
}

#[derive(Clone, Copy)]
pub enum ValueType {
    F16,
    F32,
    F64,
}

/// Writes an embeddings parquet file with the given vector and value types.
pub fn write_embeddings_parquet(
    path: &Path,
    ids: ArrayRef,
    values: &[f32],
    dim: usize,
    vt: VecType,
    val: ValueType,
    extra: Vec<(&str, ArrayRef)>,
) {
    let n = values.len() / dim;
    let (child, dt): (ArrayRef, DataType) = match val {
        ValueType::F16 => {
            (Arc::new(Float16Array::from(values.iter().map(|&v| half::f16::from_f32(v)).collect::<Vec<_>>())), DataType::Float16)
        }
        ValueType::F32 => (Arc::new(Float32Array::from(values.to_vec())), DataType::Float32),
        ValueType::F64 => (Arc::new(Float64Array::from(values.iter().map(|&v| v as f64).collect::<Vec<_>>())), DataType::Float64),
    };
    let item = Arc::new(Field::new("item", dt, true));
    let vectors: ArrayRef = match vt {
        VecType::Fixed => Arc::new(FixedSizeListArray::new(item, dim as i32, child, None)),
        VecType::List => Arc::new(ListArray::new(item, OffsetBuffer::from_lengths(std::iter::repeat_n(dim, n)), child, None)),
        VecType::LargeList => Arc::new(LargeListArray::new(item, OffsetBuffer::from_lengths(std::iter::repeat_n(dim, n)), child, None)),
    };
    let mut cols = vec![("id", ids), ("embedding", vectors)];
    cols.extend(extra);
    write_batch(path, cols);
}

pub fn write_batch(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(37)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

pub fn string_ids(ids: &[String]) -> ArrayRef {
    Arc::new(StringArray::from(ids.to_vec()))
}

pub fn int_ids(n: usize) -> ArrayRef {
    Arc::new(Int64Array::from((0..n as i64).map(|i| i * 10).collect::<Vec<_>>()))
}

/// The start of an .npy file (magic, version 1, header) of dtype `descr` and the shape `shape`
/// as the header writes it ("(2, 8)"), whatever the data that follows.
pub fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// Writes an .npy file of the given dtype ("<f2", "<f4", "<f8").
pub fn write_npy(path: &Path, values: &[f32], rows: usize, dim: usize, descr: &str) {
    let mut out = npy_header(descr, &format!("({rows}, {dim})"));
    for &v in values {
        match descr {
            "<f2" => out.extend(half::f16::from_f32(v).to_le_bytes()),
            "<f4" => out.extend(v.to_le_bytes()),
            "<f8" => out.extend((v as f64).to_le_bytes()),
            _ => panic!("dtype"),
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The repository's data/ folder (SIMCAL_DATA overrides).
pub fn data_dir() -> PathBuf {
    std::env::var_os("SIMCAL_DATA").map(PathBuf::from).unwrap_or_else(|| Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("data"))
}

pub fn simcal() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_simcal"))
}

/// Scores the sample's encoder `enc` (data/ENC.*, cosine, k = 100, CPU) with its qrels into
/// the score table `out`; returns the run (its summary on stderr).
pub fn score_sample(enc: &str, out: &Path) -> std::process::Output {
    let data = data_dir();
    let o = simcal()
        .args(["score", "--backend", "cpu", "-k", "100", "--queries"])
        .arg(data.join(format!("{enc}.queries.parquet")))
        .arg("--corpus")
        .arg(data.join(format!("{enc}.corpus.parquet")))
        .arg("--qrels")
        .arg(data.join("qrels.tsv"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Scores `queries` random queries (ids q0…, each in section `s{i % 3}`) against `docs` random
/// documents (ids d0…) at top `k` with `qrels`, into the score table `path`.
pub fn write_scored_table(path: &Path, qrels: &Path, queries: usize, docs: usize, k: usize) {
    let dir = path.parent().unwrap();
    let (q, c) = (dir.join("wst.queries.parquet"), dir.join("wst.corpus.parquet"));
    let sections: ArrayRef = Arc::new(StringArray::from((0..queries).map(|i| format!("s{}", i % 3)).collect::<Vec<_>>()));
    write_embeddings_parquet(
        &q,
        string_ids(&ids("q", queries)),
        &random_values(queries * 8, 21),
        8,
        VecType::Fixed,
        ValueType::F32,
        vec![("section", sections)],
    );
    write_embeddings_parquet(&c, string_ids(&ids("d", docs)), &random_values(docs * 8, 22), 8, VecType::Fixed, ValueType::F32, vec![]);
    let out = simcal()
        .args(["score", "--backend", "cpu", "-k", &k.to_string()])
        .args([
            "--queries",
            q.to_str().unwrap(),
            "--corpus",
            c.to_str().unwrap(),
            "--qrels",
            qrels.to_str().unwrap(),
            "--out",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A golden file of tests/golden/, parsed.
pub fn golden_json(name: &str) -> serde_json::Value {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/golden").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A golden number.
pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

/// A golden count.
pub fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap()
}

/// Equal within a relative 1e-9, or both below 1e-300.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.abs() < 1e-300 && b.abs() < 1e-300)
}
