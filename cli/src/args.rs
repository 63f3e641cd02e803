//! Argument groups several commands share, each defined once.

use std::path::PathBuf;

use clap::Args;

use simcal::labels::DEFAULT_REL_LEVEL;
use simcal::table::OutputFormat;

/// Where a command that writes a score table writes it, and its summary on stdout.
#[derive(Args)]
pub struct TableOut {
    /// Output format.
    #[arg(long, value_parser = choice::<OutputFormat>(), default_value_t)]
    pub format: OutputFormat,
    /// Output file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Relevance judgements, and the level that counts as relevant.
#[derive(Args)]
pub struct Labels {
    /// Relevance judgements (TREC qrels, BEIR TSV or parquet) to label the rows from (default:
    /// the tables' own labels, where they have them).
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// Relevance at or above which a judged document counts as relevant.
    #[arg(long, default_value_t = DEFAULT_REL_LEVEL)]
    pub rel_level: i32,
}

/// The relevance level alone, for commands that read the tables' own labels.
#[derive(Args)]
pub struct RelLevel {
    /// Relevance at or above which a judged document counts as relevant.
    #[arg(long, default_value_t = DEFAULT_REL_LEVEL)]
    pub rel_level: i32,
}

/// The parser of a choice among the library's named values (a [`simcal::Choice`]): clap lists
/// the library's names in the help and refuses any other, as it does for its own enums.
pub fn choice<T: simcal::Choice + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(T::names()).try_map(|name: String| T::parse(&name))
}
