//! `simcal fuse`: several score tables or TREC runs → one fused score table.

use super::args::choice;
use super::words::count;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use simcal::fuse::{fuse, fused_meta, fused_table, read_run, FuseOptions, LabelSource, Method, Norm, RunInput};
use simcal::labels::read_qrels;
use simcal::table::columns;
use simcal::Choice;

#[derive(Args)]
pub struct FuseArgs {
    /// An input: a score table (parquet) or a TREC run; repeat for each list to fuse.
    #[arg(long = "run", required = true, value_name = "FILE")]
    pub runs: Vec<PathBuf>,
    /// Fusion method.
    #[arg(long, value_parser = choice::<Method>(), default_value_t)]
    pub method: Method,
    /// Per-query, per-list score normalisation (default: none for rrf, minmax otherwise).
    #[arg(long, value_parser = choice::<Norm>())]
    pub norm: Option<Norm>,
    /// RRF's k: a document at position p of a list gets weight / (k + p).
    #[arg(long = "rrf-k", default_value_t = FuseOptions::default().rrf_k)]
    pub rrf_k: f64,
    /// One weight per --run, in order (rrf and wsum).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub weights: Option<Vec<f64>>,
    /// Documents kept per query.
    #[arg(short, long, default_value_t = FuseOptions::default().k)]
    pub k: usize,
    #[command(flatten)]
    pub labels: super::args::Labels,
    /// The fused table's model name (default: METHOD(NAME+NAME…)).
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub output: super::args::TableOut,
}

impl FuseArgs {
    pub fn options(&self) -> FuseOptions {
        let method = self.method;
        let norm = self.norm.unwrap_or_else(|| method.default_norm());
        FuseOptions { method, norm, rrf_k: self.rrf_k, weights: self.weights.clone(), k: self.k }
    }
}

pub fn run(args: FuseArgs) -> anyhow::Result<ExitCode> {
    use rayon::prelude::*;
    let inputs: Vec<&std::path::Path> = args.runs.iter().chain(&args.labels.qrels).map(std::path::PathBuf::as_path).collect();
    simcal::output::check_destinations(&inputs, &[("--out", &args.output.out)])?;
    let start = Instant::now();
    let o = args.options();
    if o.method == Method::Rrf && o.norm != Norm::None {
        eprintln!("note: rrf reads positions only; --norm {} changes nothing", o.norm.name());
    }
    let (runs, qrels) = rayon::join(
        || args.runs.par_iter().map(|p| read_run(p)).collect::<Result<Vec<RunInput>, _>>(),
        || args.labels.qrels.as_deref().map(read_qrels).transpose(),
    );
    let (runs, qrels) = (runs?, qrels?);
    let fused = fuse(&runs, &o)?;
    let labels = match &qrels {
        Some(q) => LabelSource::Qrels(q, args.labels.rel_level),
        None => LabelSource::Inputs,
    };
    let table = fused_table(&runs, &fused, labels, fused_meta(&runs, &o, args.model.as_deref()))?;
    simcal::table::write_table(&table, &args.output.out, args.output.format)?;
    let seconds = start.elapsed().as_secs_f64();
    let labeled = table.batch.column_by_name(columns::LABEL).is_some_and(|l| l.null_count() < table.len());
    if args.output.json {
        super::print_json(&json!({
            "schema_version": 1,
            "command": "fuse",
            "method": o.method.name(),
            "norm": o.norm.name(),
            "rrf_k": (o.method == Method::Rrf).then_some(o.rrf_k),
            "weights": o.weights,
            "k": o.k,
            "runs": runs.iter().map(|r| json!({"path": r.path, "format": r.format.name(), "name": r.name, "rows": r.len()})).collect::<Vec<_>>(),
            "queries": fused.queries.len(),
            "rows": table.len(),
            "labeled": labeled,
            "model": table.meta.model,
            "seconds": seconds,
            "out": args.output.out,
        }))?;
    } else {
        eprintln!(
            "{} ({}) fused from {} by {} ({}) in {:.2} s{} → {}",
            count(table.len(), "row", "rows"),
            count(fused.queries.len(), "query", "queries"),
            count(runs.len(), "run", "runs"),
            o.method.name(),
            o.norm.name(),
            seconds,
            if labeled { ", labeled" } else { "" },
            args.output.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
