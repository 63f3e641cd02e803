//! The statistics every stage shares, below both `calibrate` and `metrics` and importing
//! neither: binomial tails and exact intervals ([`binomial`]), Learn-Then-Test ([`ltt`]),
//! conformal risk control ([`crc`]), weighted quantiles (`quantile`) and the two-sample tests
//! of the drift gate ([`twosample`]), and the paired tests that compare two systems query by
//! query ([`paired`]).

pub mod binomial;
pub mod crc;
pub mod ltt;
pub mod paired;
pub(crate) mod quantile;
pub mod tukey;
pub mod twosample;

pub use quantile::quantiles;
