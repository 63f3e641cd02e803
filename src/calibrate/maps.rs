//! The two calibration maps, isotonic regression and Platt scaling, behind one trait
//! ([`Calibrator`]: predict a probability, find where the map reaches one), and the fits that
//! hold up to one of each ([`FittedMaps`]: a group's fit, the decisions' top-hit fit, a fold's
//! fit), so that which map a [`Method`] names is decided in one place.

use super::isotonic::Isotonic;
use super::platt::Platt;
use super::Method;
use crate::policy::EVERY_SCORE;

/// A fitted map from a score to the probability that its pair is relevant.
pub trait Calibrator {
    /// P(relevant | `score`).
    fn predict(&self, score: f64) -> f64;

    /// The lowest score at which the map reaches `q`: [`EVERY_SCORE`] when it reaches `q`
    /// everywhere, None when nowhere.
    fn reaches(&self, q: f64) -> Option<f64>;
}

impl Calibrator for Isotonic {
    fn predict(&self, score: f64) -> f64 {
        Isotonic::predict(self, score)
    }

    fn reaches(&self, q: f64) -> Option<f64> {
        // Clipped below its first breakpoint: at or above q there, so at every score.
        if self.y.first().is_some_and(|&y| y >= q) {
            Some(EVERY_SCORE)
        } else {
            self.score_for(q)
        }
    }
}

impl Calibrator for Platt {
    fn predict(&self, score: f64) -> f64 {
        Platt::predict(self, score)
    }

    /// A decreasing map has no lowest such score: None.
    fn reaches(&self, q: f64) -> Option<f64> {
        if q <= 0.0 {
            Some(EVERY_SCORE)
        } else {
            self.score_for(q).filter(|_| self.a < 0.0)
        }
    }
}

/// A fit holding up to one map of each method.
pub trait FittedMaps {
    /// The isotonic map, if fitted.
    fn isotonic(&self) -> Option<&Isotonic>;

    /// The Platt map, if fitted.
    fn platt(&self) -> Option<&Platt>;

    /// The map `method` names, if fitted.
    fn map(&self, method: Method) -> Option<&dyn Calibrator> {
        match method {
            Method::Isotonic => self.isotonic().map(|m| m as &dyn Calibrator),
            Method::Platt => self.platt().map(|m| m as &dyn Calibrator),
        }
    }

    /// Whether the map `method` names is fitted.
    fn has(&self, method: Method) -> bool {
        self.map(method).is_some()
    }

    /// The map a reader uses when none is named: isotonic where fitted, else Platt.
    fn default_method(&self) -> Method {
        if self.isotonic().is_some() {
            Method::Isotonic
        } else {
            Method::Platt
        }
    }
}

/// [`FittedMaps`] for the structs that hold the maps as `isotonic` and `platt` fields.
macro_rules! fitted_maps {
    ($($ty:ty),*) => {$(
        impl $crate::calibrate::maps::FittedMaps for $ty {
            fn isotonic(&self) -> Option<&$crate::calibrate::isotonic::Isotonic> {
                self.isotonic.as_ref()
            }
            fn platt(&self) -> Option<&$crate::calibrate::platt::Platt> {
                self.platt.as_ref()
            }
        }
    )*};
}
pub(crate) use fitted_maps;
