//! `simcal fuse`: several score tables or TREC runs → one fused score table.

use super::args::choice;
use super::words::count;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use simcal::fuse::{fuse_files, FuseOptions, Method, Norm};
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
    let inputs: Vec<&std::path::Path> = args.runs.iter().chain(&args.labels.qrels).map(std::path::PathBuf::as_path).collect();
    simcal::output::check_destinations(&inputs, &[("--out", &args.output.out)])?;
    let start = Instant::now();
    let o = args.options();
    if o.method == Method::Rrf && o.norm != Norm::None {
        eprintln!("note: rrf reads positions only; --norm {} changes nothing", o.norm.name());
    }
    let (table, summary) = fuse_files(&args.runs, args.labels.qrels.as_deref(), args.labels.rel_level, args.model.as_deref(), &o)?;
    simcal::table::write_table(&table, &args.output.out, args.output.format)?;
    let seconds = start.elapsed().as_secs_f64();
    if args.output.json {
        let mut v = serde_json::to_value(&summary)?;
        let fields =
            [("schema_version", json!(1)), ("command", json!("fuse")), ("seconds", json!(seconds)), ("out", json!(args.output.out))];
        super::set_fields(&mut v, fields);
        super::print_json(&v)?;
    } else {
        eprintln!(
            "{} ({}) fused from {} by {} ({}) in {:.2} s{} → {}",
            count(summary.rows, "row", "rows"),
            count(summary.queries, "query", "queries"),
            count(summary.runs.len(), "run", "runs"),
            o.method.name(),
            o.norm.name(),
            seconds,
            if summary.labeled { ", labeled" } else { "" },
            args.output.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
