//! Inline SVG charts: pure functions from numbers to markup. A chart is a frame with axes and
//! ticks in data coordinates; series are drawn into it. Every series element carries the class
//! `data`, so a reader (or a test) can find what was plotted.

use std::fmt::Write;

/// Escapes text for HTML and SVG.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Colours of the series, in order (colour-blind safe).
pub const PALETTE: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

/// A chart under construction.
pub struct Chart {
    kind: String,
    title: String,
    w: f64,
    h: f64,
    x: (f64, f64),
    y: (f64, f64),
    body: String,
    legend: Vec<(String, String)>,
    /// The title's lines and their font size.
    title_lines: (Vec<String>, f64),
    /// The plot's top edge (below the title).
    top: f64,
    /// Labelled markers, placed when the chart is finished (where their labels fit).
    markers: Vec<Marker>,
}

/// A labelled marker: its series, its point in pixels, its label and colour.
struct Marker {
    series: String,
    at: (f64, f64),
    label: String,
    colour: String,
}

/// A text's box in pixels: left, top, right, bottom.
type TextBox = (f64, f64, f64, f64);

const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;
/// The title's size, line height and left edge; it is wrapped (then shrunk) to the chart's width.
const TITLE_SIZE: f64 = 12.0;
const TITLE_LINE: f64 = 15.0;
const TITLE_X: f64 = 8.0;
/// The legend's width: its entries are drawn from there to the right edge.
const LEGEND_W: f64 = 150.0;

/// The width a text of `chars` characters takes at `size` pixels, rounded up: an average
/// sans-serif glyph is about 0.55 em wide, bold about 0.6; 0.62 leaves room for wide glyphs.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.62
}

/// `title` in lines no wider than `width` at the largest size down to 9 px that needs at most
/// two lines (words are not split; a single word wider than the chart is shrunk to fit).
fn wrap_title(title: &str, width: f64) -> (Vec<String>, f64) {
    let lines_at = |size: f64| {
        let mut lines: Vec<String> = Vec::new();
        for word in title.split_whitespace() {
            match lines.last_mut() {
                Some(l) if text_width(&format!("{l} {word}"), size) <= width => {
                    l.push(' ');
                    l.push_str(word);
                }
                _ => lines.push(word.to_owned()),
            }
        }
        lines
    };
    let mut size = TITLE_SIZE;
    loop {
        let lines = lines_at(size);
        let fits = lines.len() <= 2 && lines.iter().all(|l| text_width(l, size) <= width);
        if fits || size <= 9.0 {
            let widest = lines.iter().map(|l| text_width(l, size)).fold(0.0, f64::max);
            // Still too wide at the smallest size: shrink to fit whatever it takes.
            let size = if widest > width { size * width / widest } else { size };
            return (lines, size);
        }
        size -= 0.5;
    }
}

/// Whether two boxes overlap.
fn overlaps(a: TextBox, b: TextBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Round tick positions covering [lo, hi].
fn ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / want as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..=want * 2 + 2).map(|i| first + i as f64 * step).take_while(|v| *v <= hi + step * 1e-9).collect()
}

fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

impl Chart {
    /// A `w`×`h` chart of kind `kind` (its `data-chart`) over x in `x` and y in `y`.
    pub fn new(kind: &str, title: &str, w: f64, h: f64, x: (f64, f64), y: (f64, f64)) -> Chart {
        let fix = |(a, b): (f64, f64)| if b > a { (a, b) } else { (a - 0.5, a + 0.5) };
        let title_lines = wrap_title(title, w - 2.0 * TITLE_X);
        let top = TOP + TITLE_LINE * (title_lines.0.len().max(1) - 1) as f64;
        Chart {
            kind: kind.into(),
            title: title.into(),
            w,
            h,
            x: fix(x),
            y: fix(y),
            body: String::new(),
            legend: Vec::new(),
            title_lines,
            top,
            markers: Vec::new(),
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (self.w - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        self.h - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (self.h - self.top - BOTTOM)
    }

    /// Adds a legend entry.
    pub(crate) fn legend(&mut self, label: &str, colour: &str) {
        self.legend.push((label.into(), colour.into()));
    }

    /// A step histogram: `counts[i]` over [edges[i], edges[i+1]), filled translucent.
    #[expect(clippy::indexing_slicing, reason = "edge positions run below the number of edges")]
    pub fn histogram(&mut self, series: &str, edges: &[f64], heights: &[f64], colour: &str) {
        let mut d = String::new();
        let base = self.py(self.y.0.max(0.0));
        for (i, &v) in heights.iter().enumerate() {
            let (x0, x1) = (self.px(edges[i]), self.px(edges[i + 1]));
            let y = self.py(v);
            if i == 0 {
                let _ = write!(d, "M{x0:.1},{base:.1}");
            }
            let _ = write!(d, " L{x0:.1},{y:.1} L{x1:.1},{y:.1}");
            if i + 1 == heights.len() {
                let _ = write!(d, " L{x1:.1},{base:.1} Z");
            }
        }
        let _ = write!(
            self.body,
            r#"<path class="data" data-series="{}" data-n="{}" d="{d}" fill="{colour}" fill-opacity="0.35" stroke="{colour}" stroke-width="1.2"/>"#,
            esc(series),
            heights.len()
        );
    }

    /// A polyline through `pts`.
    pub fn line(&mut self, series: &str, pts: &[(f64, f64)], colour: &str, dashed: bool) {
        if pts.is_empty() {
            return;
        }
        let d: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y))).collect();
        let dash = if dashed { r#" stroke-dasharray="4 3""# } else { "" };
        let _ = write!(
            self.body,
            r#"<polyline class="data" data-series="{}" data-n="{}" points="{}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>"#,
            esc(series),
            pts.len(),
            d.join(" ")
        );
    }

    /// Points with vertical intervals.
    pub fn points(&mut self, series: &str, pts: &[(f64, f64, f64, f64)], colour: &str) {
        let mut g = format!(r#"<g class="data" data-series="{}" data-n="{}" stroke="{colour}" fill="{colour}">"#, esc(series), pts.len());
        for &(x, y, lo, hi) in pts {
            let (cx, cy) = (self.px(x), self.py(y));
            let _ = write!(g, r#"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke-width="1.2"/>"#, self.py(lo), self.py(hi));
            let _ = write!(g, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3"/>"#);
        }
        g.push_str("</g>");
        self.body.push_str(&g);
    }

    /// A labelled marker at (x, y); its label is placed when the chart is finished, beside the
    /// point where it overlaps no other text.
    pub(crate) fn marker(&mut self, series: &str, x: f64, y: f64, label: &str, colour: &str) {
        let at = (self.px(x), self.py(y));
        self.markers.push(Marker { series: series.into(), at, label: label.into(), colour: colour.into() });
    }

    /// The boxes of the title and the legend: no marker's label may cover them.
    fn fixed_boxes(&self) -> Vec<TextBox> {
        let (lines, size) = &self.title_lines;
        let mut boxes: Vec<TextBox> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let base = 16.0 + TITLE_LINE * i as f64;
                (TITLE_X, base - size, TITLE_X + text_width(l, *size), base + 3.0)
            })
            .collect();
        let x = self.w - RIGHT - LEGEND_W;
        boxes.extend(self.legend.iter().enumerate().map(|(i, (label, _))| {
            let y = self.top + 4.0 + 14.0 * i as f64;
            (x, y - 8.0, x + 14.0 + text_width(label, 10.0), y + 3.0)
        }));
        boxes
    }

    /// Each marker's circle and label: the label right and above the point, else at the first of
    /// the other corners (then further away) where it stays inside the plot and clear of the
    /// title, the legend and the labels placed before it.
    fn place_markers(&self) -> String {
        let mut placed = self.fixed_boxes();
        let mut out = String::new();
        for m in &self.markers {
            let (cx, cy) = m.at;
            let (w, size) = (text_width(&m.label, 10.0), 10.0);
            // Inside the plot: clear of the axes' ticks and labels.
            let inside = |b: TextBox| b.0 >= LEFT && b.2 <= self.w - RIGHT && b.1 >= self.top && b.3 <= self.h - BOTTOM;
            let candidates = (0..8).flat_map(|step| {
                let d = 6.0 + 12.0 * f64::from(step);
                // (left edge, baseline) right-above, right-below, left-above, left-below.
                [(cx + 6.0, cy - d), (cx + 6.0, cy + d + size), (cx - 6.0 - w, cy - d), (cx - 6.0 - w, cy + d + size)]
            });
            let boxed = |(x, base): (f64, f64)| (x, base - size, x + w, base + 3.0);
            let spot = candidates
                .clone()
                .find(|&c| inside(boxed(c)) && !placed.iter().any(|&b| overlaps(b, boxed(c))))
                .or_else(|| candidates.clone().find(|&c| inside(boxed(c))))
                .unwrap_or((cx + 6.0, cy - 6.0));
            placed.push(boxed(spot));
            let _ = write!(
                out,
                r#"<g class="data" data-series="{}" data-n="1"><circle cx="{cx:.1}" cy="{cy:.1}" r="4.5" fill="none" stroke="{}" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{}">{}</text></g>"#,
                esc(&m.series),
                m.colour,
                spot.0,
                spot.1,
                m.colour,
                esc(&m.label)
            );
        }
        out
    }

    /// The finished `<svg>`, with axes, axis labels and legend.
    // Long: the chart's SVG elements in drawing order.
    pub fn finish(self, xlabel: &str, ylabel: &str) -> String {
        let mut s = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">"#,
            esc(&self.kind),
            self.w,
            self.h,
            self.w,
            self.h,
            esc(&self.title)
        );
        let (lines, size) = &self.title_lines;
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text class="title" x="{TITLE_X}" y="{:.1}" font-size="{size:.1}" font-weight="600">{}</text>"#,
                16.0 + TITLE_LINE * i as f64,
                esc(line)
            );
        }
        let (x0, x1, y0, y1) = (self.px(self.x.0), self.px(self.x.1), self.py(self.y.0), self.py(self.y.1));
        let _ = write!(
            s,
            r##"<g stroke="#999" stroke-width="1"><line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y0:.1}"/><line x1="{x0:.1}" y1="{y0:.1}" x2="{x0:.1}" y2="{y1:.1}"/></g>"##
        );
        for t in ticks(self.x.0, self.x.1, 5) {
            let x = self.px(t);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                y0 + 4.0,
                y0 + 15.0,
                fmt_tick(t)
            );
        }
        for t in ticks(self.y.0, self.y.1, 4) {
            let y = self.py(t);
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
                x0,
                x0 - 5.0,
                y + 3.5,
                fmt_tick(t)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            self.h - 6.0,
            esc(xlabel)
        );
        let _ = write!(
            s,
            r#"<text x="12" y="{:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"#,
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            esc(ylabel)
        );
        s.push_str(&self.body);
        s.push_str(&self.place_markers());
        for (i, (label, colour)) in self.legend.iter().enumerate() {
            let y = self.top + 4.0 + 14.0 * i as f64;
            let x = self.w - RIGHT - LEGEND_W;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{colour}" fill-opacity="0.6"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                y - 8.0,
                x + 14.0,
                y + 1.0,
                esc(label)
            );
        }
        s.push_str("</svg>");
        s
    }
}
