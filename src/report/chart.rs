//! A control chart as SVG, from the `ControlChart` a controller gets from `GetControlChart`:
//! the subgroup means joined in order, the centre line, the 3-sigma limits, where the profile
//! starts failing, and the points that broke a rule marked. `verigrade chart --svg` writes it
//! to a file; the dashboard's line page shows it.

use super::svg::escape;
use crate::proto::{ChartViolation, ControlChart};

/// The values a chart's vertical axis spans: its points and lines, with a little room around.
pub fn span(chart: &ControlChart) -> (f64, f64) {
    let values = chart
        .points
        .iter()
        .map(|p| p.value)
        .chain(chart.centre)
        .chain(chart.upper_limit)
        .chain(chart.lower_limit)
        .chain(chart.failing_at);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    // A flat series still gets a band to sit in.
    let pad = ((hi - lo) * 0.08).max(hi.abs().max(1.0) * 0.01);
    (lo - pad, hi + pad)
}

/// The rules point `i` of `chart` broke.
pub fn broken_at(chart: &ControlChart, i: usize) -> Vec<&ChartViolation> {
    chart
        .violations
        .iter()
        .filter(|v| v.point as usize == i)
        .collect()
}

/// Room for the value labels on the left, and above and below the plot.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 8.0;

/// The chart as an SVG picture `width` x `height`, standalone (presentation attributes, no
/// style sheet) so it reads the same as a file and inside a page; `title` on top when given.
pub fn svg(chart: &ControlChart, title: Option<&str>, width: f64, height: f64) -> String {
    let (low, high) = span(chart);
    let top = TOP + if title.is_some() { 16.0 } else { 0.0 };
    let n = chart.points.len().max(2) as f64;
    let x = |i: usize| LEFT + (width - LEFT - RIGHT) * i as f64 / (n - 1.0);
    let y = |v: f64| top + (height - top - BOTTOM) * (high - v) / (high - low);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\" \
         role=\"img\" aria-label=\"control chart of {name}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        name = escape(&chart.parameter),
    );
    if let Some(title) = title {
        out += &format!(
            "<text x=\"{LEFT}\" y=\"14\" font-size=\"12\">{}</text>",
            escape(title)
        );
    }
    // Labels sit above the upper limit and below the lower one, so close limits stay legible.
    for (label, value, colour, dash, dy) in [
        ("UCL", chart.upper_limit, "#c00", "6 4", -2.0),
        ("CL", chart.centre, "#080", "", 3.5),
        ("LCL", chart.lower_limit, "#c00", "6 4", 9.0),
        ("fails", chart.failing_at, "#000", "2 3", 3.5),
    ] {
        if let Some(v) = value {
            out += &format!(
                "<line class=\"{class}\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yv:.1}\" y2=\"{yv:.1}\" \
                 stroke=\"{colour}\" stroke-dasharray=\"{dash}\"/><text x=\"{lx}\" y=\"{ty:.1}\" \
                 fill=\"{colour}\" text-anchor=\"end\">{label} {v:.3}</text>",
                class = label.to_lowercase(),
                x2 = width - RIGHT,
                yv = y(v),
                lx = LEFT - 3.0,
                ty = y(v) + dy,
            );
        }
    }
    let path: Vec<String> = chart
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.value)))
        .collect();
    out += &format!(
        "<polyline fill=\"none\" stroke=\"#246\" stroke-width=\"1.2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (i, point) in chart.points.iter().enumerate() {
        let broken = broken_at(chart, i);
        // Red where a rule that raises an alarm is broken, orange where another is.
        let (class, colour, radius) = if broken.iter().any(|v| v.alarms) {
            ("violation", "#c00", 3.5)
        } else if !broken.is_empty() {
            ("violation", "#e80", 3.0)
        } else {
            ("point", "#246", 2.0)
        };
        let rules: Vec<&str> = broken.iter().map(|v| v.rule.as_str()).collect();
        out += &format!(
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius}\" fill=\"{colour}\">\
             <title>frames {}–{}: {:.4}{}</title></circle>",
            x(i),
            y(point.value),
            escape(&point.first_frame_id),
            escape(&point.last_frame_id),
            point.value,
            if rules.is_empty() {
                String::new()
            } else {
                format!(" — {}", rules.join(", "))
            },
        );
    }
    out += "</svg>";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChartPoint, ChartViolation};

    fn chart(values: &[f64]) -> ControlChart {
        ControlChart {
            parameter: "symbol_contrast".into(),
            subgroup_size: 5,
            points: values
                .iter()
                .map(|&value| ChartPoint {
                    value,
                    ..ChartPoint::default()
                })
                .collect(),
            ..ControlChart::default()
        }
    }

    #[test]
    fn every_point_is_drawn_and_the_broken_one_is_marked() {
        let mut c = chart(&[0.80, 0.81, 0.79, 0.50]);
        c.centre = Some(0.80);
        c.upper_limit = Some(0.83);
        c.lower_limit = Some(0.77);
        c.violations.push(ChartViolation {
            point: 3,
            rule: "beyond_3_sigma".into(),
            direction: "down".into(),
            alarms: true,
        });
        let svg = svg(&c, None, 420.0, 150.0);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 3, "{svg}");
        assert_eq!(
            svg.matches("<circle class=\"violation\"").count(),
            1,
            "{svg}"
        );
        assert!(svg.contains("beyond_3_sigma"), "{svg}");
        assert_eq!(svg.matches("<line class=\"ucl\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("<line class=\"lcl\"").count(), 1, "{svg}");
        // The lowest value sits lowest: the greatest y.
        let ys: Vec<f64> = svg
            .split("cy=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 4);
        assert!(ys[3] > ys[0] && ys[3] > ys[1] && ys[3] > ys[2], "{ys:?}");
    }

    #[test]
    fn a_chart_of_one_point_or_none_draws_inside_the_box() {
        for values in [&[][..], &[0.5]] {
            let one = svg(&chart(values), Some("t"), 420.0, 150.0);
            assert!(!one.contains("NaN") && !one.contains("inf"), "{one}");
        }
    }
}
