//! The bench's chart: messages per second of each server relative to the hand-written
//! tokio-tungstenite server, per row, as grouped horizontal bars in SVG. Written directly:
//! plotters would need a font backend for its text layout, which a fresh machine may lack,
//! and the chart is a handful of rectangles and labels.

use std::fmt::Write as _;

use super::{ROWS, Results};

const COLOURS: [&str; 7] = [
    "#1f77b4", "#7f7f7f", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document.
pub fn draw(results: &Results) -> Result<String, String> {
    let baseline = results
        .servers
        .iter()
        .position(|s| *s == "tokio-tungstenite")
        .ok_or("no tokio-tungstenite baseline")?;
    let ratio = |r: usize, s: usize| -> Option<f64> {
        let base = results.cells[r][baseline].as_ref()?;
        Some(results.cells[r][s].as_ref()?.paired(base)?.median)
    };
    let max = (0..ROWS.len())
        .flat_map(|r| (0..results.servers.len()).filter_map(move |s| ratio(r, s)))
        .fold(1.0f64, f64::max)
        .ceil();
    let (left, width, bar, gap) = (230.0, 520.0, 9.0, 14.0);
    let group = bar * results.servers.len() as f64 + gap;
    let height = 60.0 + group * ROWS.len() as f64 + 30.0 + 18.0 * results.servers.len() as f64;
    let x = |v: f64| left + width * v / max;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">"#,
        w = left + width + 40.0
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14">Messages per second relative to hand-written tokio-tungstenite (= 1.0), median of the per-round ratios{}</text>"#,
        if results.quick { " (quick run)" } else { "" }
    );
    // Grid lines at each whole ratio.
    let mut tick = 0.0;
    while tick <= max {
        let _ = writeln!(
            svg,
            r##"<line x1="{x0:.1}" y1="40" x2="{x0:.1}" y2="{y1:.1}" stroke="{c}"/><text x="{x0:.1}" y="36" text-anchor="middle">{tick:.0}x</text>"##,
            x0 = x(tick),
            y1 = 50.0 + group * ROWS.len() as f64,
            c = if tick == 1.0 { "#000" } else { "#ddd" }
        );
        tick += 1.0;
    }
    for (r, row) in ROWS.iter().enumerate() {
        let top = 50.0 + group * r as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            top + group / 2.0,
            escape(row.label)
        );
        for s in 0..results.servers.len() {
            let Some(value) = ratio(r, s) else { continue };
            let y = top + bar * s as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{left}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" font-size="9">{value:.2}</text>"#,
                w = (x(value) - left).max(0.5),
                h = bar - 1.0,
                c = COLOURS[s % COLOURS.len()],
                tx = x(value) + 3.0,
                ty = y + bar - 2.0
            );
        }
    }
    let legend = 70.0 + group * ROWS.len() as f64;
    for (s, name) in results.servers.iter().enumerate() {
        let y = legend + 18.0 * s as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{left}" y="{y:.1}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty:.1}">{n}</text>"#,
            c = COLOURS[s % COLOURS.len()],
            tx = left + 18.0,
            ty = y + 10.0,
            n = escape(name)
        );
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}
