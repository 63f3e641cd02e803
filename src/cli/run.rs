//! `simcal run`: the pipeline. With no arguments it scores every encoder of the sample in
//! `data/` (with its qrels) into `out/`, fits a calibration per Debian section, applies it,
//! evaluates each encoder and writes `out/report.html` comparing them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use simcal::calibrate::FitOptions;
use simcal::embed::{Metric, ReadOptions};
use simcal::job::{OutputFormat, ScoreJob};
use simcal::metrics::ranking::{Measure, DEFAULT_MEASURES};
use simcal::metrics::EvalOptions;
use simcal::policy::ApplyOptions;
use simcal::score::BackendOptions;

/// Encoders of the sample, as `data/ENCODER.{queries,corpus}.parquet`.
const SAMPLE_ENCODERS: [&str; 2] = ["minilm", "lsa"];

#[derive(Args)]
pub struct RunArgs {
    /// Folder holding the sample (default: ./data, else the source tree's data/).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Hits kept per query.
    #[arg(short, long, default_value_t = 100)]
    pub k: usize,
    /// Seed of the calibration's bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let local = PathBuf::from("data");
        if local.join("qrels.tsv").exists() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
        }
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let data = data_dir(args.data);
    std::fs::create_dir_all(&args.out).map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    let mut steps = Vec::new();
    let (mut tables, mut cals) = (Vec::new(), Vec::new());
    for enc in SAMPLE_ENCODERS {
        let job = ScoreJob {
            queries: data.join(format!("{enc}.queries.parquet")),
            corpus: data.join(format!("{enc}.corpus.parquet")),
            qrels: Some(data.join("qrels.tsv")),
            k: args.k,
            metric: Metric::Cosine,
            model: Some(enc.to_owned()),
            backend: BackendOptions::default(),
            format: OutputFormat::Parquet,
            out: args.out.join(format!("{enc}.scores.parquet")),
            query_read: ReadOptions::default(),
            corpus_read: ReadOptions::default(),
            rel_level: 1,
            shard: None,
        };
        let s = super::score::execute(&job, enc)?;
        if !args.json {
            eprintln!(
                "score {enc}: {} rows, {} judged hits, {:.2} s on {} → {}",
                s.rows,
                s.labels.as_ref().map_or(0, |l| l.judged_retrieved),
                s.seconds,
                s.backend_detail,
                job.out.display()
            );
        }
        steps.push(json!({"step": "score", "encoder": enc, "summary": super::score::summary_json(&job, &s)}));

        // Calibrate per Debian section (the sample's query class), then apply it.
        let cal = args.out.join(format!("{enc}.calibration.json"));
        let opts = FitOptions { group_by: vec!["section".into()], seed: args.seed, ..FitOptions::default() };
        let (art, secs) = super::fit::execute(&job.out, &opts, &cal)?;
        if !args.json {
            let t = &art.global.thresholds[0];
            let at = match (t.score, t.recall) {
                (Some(s), Some(r)) => format!("score ≥ {s:.4} (recall {r:.3})"),
                _ => t.message.clone().unwrap_or_default(),
            };
            let fitted = art.groups.iter().filter(|g| g.fitted).count();
            eprintln!(
                "fit {enc}: precision {} at {at}; {fitted} of {} sections fitted; {secs:.2} s → {}",
                t.value,
                art.groups.len(),
                cal.display()
            );
        }
        steps.push(json!({"step": "fit", "encoder": enc, "summary": super::fit::summary_json(&art, secs, &cal)}));
        let applied = args.out.join(format!("{enc}.calibrated.parquet"));
        let decisions = args.out.join(format!("{enc}.decisions.parquet"));
        let a = super::apply::execute(&cal, &job.out, &applied, Some(&decisions), &ApplyOptions::default())?;
        if !args.json {
            eprintln!("apply {enc}: decisions {} → {}", super::apply::counts(&a), decisions.display());
        }
        steps.push(
            json!({"step": "apply", "encoder": enc, "decisions": super::apply::counts(&a), "out": applied, "decisions_file": decisions}),
        );

        // Evaluate: ranking, separation, and the calibration's reliability, per section.
        let eval_out = args.out.join(format!("{enc}.eval.json"));
        let eopts = EvalOptions { group_by: vec!["section".into()], ..EvalOptions::default() };
        let e = super::eval::execute(&job.out, None, Some(&cal), &eopts)?;
        simcal::output::write_json(&eval_out, &super::eval::document(&e, &job.out, false))?;
        if !args.json {
            let m = e.global.ranking.means();
            let sep = e.global.separation.as_ref();
            eprintln!(
                "eval {enc}: ndcg_cut_10 {:.4}, map {:.4}, ROC AUC {:.4}, ECE {:.4} → {}",
                m.get("ndcg_cut_10").and_then(|v| v.as_f64()).unwrap_or(0.0),
                m.get("map").and_then(|v| v.as_f64()).unwrap_or(0.0),
                sep.and_then(|s| s.roc_auc).unwrap_or(0.0),
                e.global.calibration.as_ref().map_or(0.0, |c| c.reliability.ece),
                eval_out.display()
            );
        }
        steps.push(json!({"step": "eval", "encoder": enc, "out": eval_out, "ranking": e.global.ranking.means()}));
        tables.push(job.out.clone());
        cals.push(cal);
    }
    let report = args.out.join("report.html");
    let measures = Measure::parse_list(&[DEFAULT_MEASURES.to_owned()])?;
    super::report::execute(&tables, &cals, None, &[], measures, 1, &report)?;
    if !args.json {
        eprintln!("report: {} → {}", SAMPLE_ENCODERS.join(" vs "), report.display());
    }
    steps.push(json!({"step": "report", "out": report}));
    if args.json {
        super::print_json(&json!({"schema_version": 1, "command": "run", "out": args.out, "steps": steps}))?;
    }
    Ok(ExitCode::SUCCESS)
}
