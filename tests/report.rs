//! The HTML report: every chart parses as SVG and holds data; the page is self-contained.

use std::path::Path;

use crate::calibration::write_labeled_table;
use crate::common::simcal;

/// Each `<svg …>…</svg>` of the page.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(a) = rest.find("<svg") {
        let b = rest[a..].find("</svg>").expect("unclosed svg") + a + "</svg>".len();
        out.push(&rest[a..b]);
        rest = &rest[b..];
    }
    out
}

#[test]
fn every_chart_of_the_report_has_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    write_labeled_table(Path::new(&p("a.parquet")), 300, 20, 1, "enc-a");
    write_labeled_table(Path::new(&p("b.parquet")), 300, 20, 2, "enc-b");
    let fit = simcal()
        .args([
            "fit",
            "--scores",
            &p("a.parquet"),
            "--bootstrap",
            "50",
            "--group-by",
            "section",
            "--out",
            &p("a.json"),
            "--confidence",
            "0.9",
            "--target-precision",
            "0.9",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    // enc-a with its calibration, enc-b fitted in-sample.
    let out = simcal()
        .args(["report", "--scores", &p("a.parquet"), &p("b.parquet"), "--calibration", &p("a.json"), "--out", &p("r.html")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(p("r.html")).unwrap();
    // The default measures are means, and say so; a sum and a geometric mean are named as such.
    assert!(page.contains("trec_eval measures, mean over "));
    let sums = simcal()
        .args(["report", "--scores", &p("a.parquet"), "--metrics", "num_ret", "gm_map", "map", "--out", &p("sums.html")])
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stderr));
    let sums = std::fs::read_to_string(p("sums.html")).unwrap();
    assert!(sums.contains("num_* a sum, gm_* a geometric mean) over ") && !sums.contains("measures, mean over "));
    // Self-contained: no script, nothing fetched.
    for banned in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!page.contains(banned), "page contains {banned}");
    }
    let charts = svgs(&page);
    let mut kinds = std::collections::BTreeMap::new();
    for svg in &charts {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("chart does not parse: {e}\n{svg}"));
        let root = doc.root_element();
        let kind = root.attribute("data-chart").expect("data-chart").to_owned();
        // Every chart plots something: data elements with points in them.
        let data: Vec<_> = root.descendants().filter(|n| n.attribute("class") == Some("data")).collect();
        assert!(!data.is_empty(), "{kind}: no data");
        let points: u64 = data.iter().map(|n| n.attribute("data-n").unwrap().parse::<u64>().unwrap()).sum();
        assert!(points > 0, "{kind}: empty series");
        for n in &data {
            for attr in ["d", "points"] {
                if let Some(v) = n.attribute(attr) {
                    assert!(!v.contains("NaN") && !v.contains("inf"), "{kind}: {attr} has {v}");
                }
            }
        }
        *kinds.entry(kind).or_insert(0) += 1;
    }
    // Both encoders side by side: two histograms, two reliability diagrams, one shared PR chart.
    assert_eq!(kinds.get("histogram"), Some(&2), "{kinds:?}");
    // Two reliability diagrams of pairs, two of each query's top hit under the decision map.
    assert_eq!(kinds.get("reliability"), Some(&4), "{kinds:?}");
    assert_eq!(kinds.get("precision-recall"), Some(&1), "{kinds:?}");
    let pr = charts.iter().find(|s| s.contains("data-chart=\"precision-recall\"")).unwrap();
    assert!(pr.contains("data-series=\"enc-a threshold\""), "the chosen thresholds are marked");
    let art = simcal::calibrate::artifact::Artifact::read(Path::new(&p("a.json"))).unwrap();
    let certified = art.global.thresholds.iter().filter(|t| t.certified.as_ref().is_some_and(|c| c.score.is_some())).count();
    assert!(certified > 0, "the fixture certifies a target");
    // Certified at the query unit: the certificate is about top hits and is drawn on their curve
    // (with the top-hit estimates), not on the pairs'.
    assert!(art.certification.as_ref().is_some_and(|c| simcal::Choice::name(c.unit) == "query"));
    assert!(!pr.contains("data-series=\"enc-a certified threshold\""), "a top-hit certificate on the pairs' curve");
    assert_eq!(kinds.get("top-hits"), Some(&1), "{kinds:?}");
    let top = charts.iter().find(|s| s.contains("data-chart=\"top-hits\"")).unwrap();
    let (value, cert) =
        art.global.thresholds.iter().find_map(|t| t.certified.as_ref().and_then(|c| c.score).map(|s| (t.value, s))).unwrap();
    assert!(top.contains(&format!("certified precision {value} ≥ {cert:.3}")), "the certified thresholds are marked");
    assert!(top.contains("top hits: precision"), "the top-hit estimates are marked");
    assert!(page.contains("<h2>Decisions</h2>") && page.contains("relevant in the top k"));
    // Reliability is drawn from out-of-fold probabilities, never in-sample, for tables the
    // calibration was fitted on; the three numbers of each target side by side.
    let rel: Vec<_> = charts.iter().filter(|s| s.contains("data-chart=\"reliability\"")).collect();
    assert!(rel.iter().all(|s| s.contains("cross-fitted, 5 folds")), "reliability is not cross-fitted");
    assert_eq!(rel.iter().filter(|s| s.contains("top hits")).count(), 2, "top-hit reliability");
    // Every fifth of the 300 queries is unjudged: 240 top hits.
    assert!(page.contains("240 queries"), "top hits counted by query");
    assert!(page.contains("How far to trust each threshold"));
    // What the data was, and the per-group thresholds.
    for needle in ["enc-a", "enc-b", "in-sample", "section=alpha", "ndcg_cut_10", "ROC AUC", env!("CARGO_PKG_VERSION")] {
        assert!(page.contains(needle), "page lacks {needle}");
    }
    let sha = simcal::table::sha256_file(Path::new(&p("a.parquet"))).unwrap();
    assert!(page.contains(&sha), "page lacks the table's sha256");
}

#[test]
fn the_curve_is_thinned_by_distance_keeping_its_ends_and_marks() {
    use simcal::report::thin;
    // A curve that drops steeply at the start (where thinning by index used to skip the top)
    // and then crawls.
    let pts: Vec<(f64, f64)> = (0..20_000)
        .map(|i| {
            let r = i as f64 / 20_000.0;
            (r, if i < 50 { 1.0 - i as f64 / 100.0 } else { 0.5 - 0.4 * r })
        })
        .collect();
    let keep = [3, 12_345];
    let out = thin(&pts, &keep, 400);
    assert!(out.len() <= 400 + keep.len() + 2, "{} points", out.len());
    assert_eq!(out.first(), pts.first());
    assert_eq!(out.last(), pts.last());
    for &k in &keep {
        assert!(out.contains(&pts[k]), "marked point {k} dropped");
    }
    // The steep start is drawn: no gap between kept points is much longer than the others.
    let longest = out.windows(2).map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt()).fold(0.0, f64::max);
    assert!(longest < 0.05, "a jump of {longest} between kept points");
}

/// The page as headless Chromium lays it out, with a script that lists every chart text that
/// leaves its chart, overlaps another text, or has no width (no font to draw it).
fn layout_problems(page: &Path) -> Vec<String> {
    const CHECK: &str = r#"<script>
const bad = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const r = svg.getBoundingClientRect(), kind = svg.dataset.chart;
  const texts = [...svg.querySelectorAll('text')].map(t => ({ t: t.textContent, b: t.getBoundingClientRect() }));
  for (const x of texts) {
    if (x.t.trim() && x.b.width < 1) bad.push(kind + ': "' + x.t + '" has no width');
    if (x.b.left < r.left - 0.5 || x.b.right > r.right + 0.5 || x.b.top < r.top - 0.5 || x.b.bottom > r.bottom + 0.5)
      bad.push(kind + ': "' + x.t + '" leaves the chart');
  }
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
    const a = texts[i].b, b = texts[j].b;
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
      bad.push(kind + ': "' + texts[i].t + '" overlaps "' + texts[j].t + '"');
  }
}
document.body.innerHTML = '<pre id="checked">' + JSON.stringify({ charts: document.querySelectorAll('svg.chart').length, bad }) + '</pre>';
</script>"#;
    let html = std::fs::read_to_string(page).unwrap();
    let checked = page.with_extension("check.html");
    std::fs::write(&checked, html.replace("</body>", &format!("{CHECK}</body>"))).unwrap();
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000", "--dump-dom"])
        .arg(format!("file://{}", checked.display()))
        .output()
        .expect("headless Chromium (the `chromium` package) renders the report in this test");
    let dom = String::from_utf8_lossy(&out.stdout);
    let json =
        dom.split("<pre id=\"checked\">").nth(1).and_then(|r| r.split("</pre>").next()).unwrap_or_else(|| panic!("no result: {dom}"));
    let v: serde_json::Value =
        serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")).unwrap();
    assert!(v["charts"].as_u64().unwrap() >= 6, "{v}");
    v["bad"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_rendered_report_keeps_every_text_inside_its_chart_and_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for enc in ["minilm", "lsa"] {
        crate::common::score_sample(enc, &d.join(format!("{enc}.parquet")));
        let fit = simcal()
            .current_dir(d)
            .args(["fit", "--scores", &format!("{enc}.parquet"), "--folds", "5", "--bootstrap", "50", "--confidence", "0.9"])
            .args(["--target-precision", "0.9", "0.8", "0.5", "--out", &format!("{enc}.json")])
            .output()
            .unwrap();
        assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    }
    let out = simcal()
        .current_dir(d)
        .args(["report", "--scores", "minilm.parquet", "lsa.parquet", "--calibration", "minilm.json", "lsa.json", "--out", "r.html"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A cutoff below every score reads −∞, not the lowest float's 309 digits.
    let page = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(!page.contains("17976931348623157"), "a cutoff printed as the lowest float");
    let bad = layout_problems(&d.join("r.html"));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
