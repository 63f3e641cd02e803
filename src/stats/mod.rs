//! The statistics every stage shares, below both `calibrate` and `metrics` and importing
//! neither: binomial tails and exact intervals ([`binomial`]), Learn-Then-Test ([`ltt`]),
//! conformal risk control ([`crc`]) and weighted quantiles ([`quantile`]).

pub mod binomial;
pub mod crc;
pub mod ltt;
pub mod quantile;

pub use quantile::quantiles;
