//! The report's charts: SVG drawn by `plotters`, with the Okabe–Ito palette (distinguishable
//! under the common colour-vision deficiencies). Coordinates are `f64` (the only place money
//! becomes a float: a pixel position); every figure printed as text stays a `Decimal`.
//!
//! Long series are downsampled by [`downsample`], which keeps the first, lowest, highest and
//! last point of each bucket, so a drawdown or a spike survives at any zoom.

use std::ops::Range;

use chrono::{DateTime, Utc};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Okabe–Ito: blue, orange, bluish green, vermillion, sky blue.
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// Chart size in pixels (the page scales the SVG to its column).
const SIZE: (u32, u32) = (900, 320);

/// At most this many buckets per series; each keeps up to 4 points.
pub const BUCKETS: usize = 500;

/// A point of a time series: seconds since the Unix epoch (UTC), value.
pub type Point = (f64, f64);

/// Reduces `points` (in time order) to at most `4 × buckets` points: for each run of
/// consecutive points, its first, lowest, highest and last, in their original order. The
/// lowest and highest values of the whole series are always kept.
pub fn downsample(points: &[Point], buckets: usize) -> Vec<Point> {
    let buckets = buckets.max(1);
    if points.len() <= 4 * buckets {
        return points.to_vec();
    }
    let mut kept = Vec::with_capacity(4 * buckets);
    for b in 0..buckets {
        let start = b * points.len() / buckets;
        let end = (b + 1) * points.len() / buckets;
        let run = &points[start..end];
        let (mut low, mut high) = (0, 0);
        for (i, p) in run.iter().enumerate() {
            if p.1 < run[low].1 {
                low = i;
            }
            if p.1 > run[high].1 {
                high = i;
            }
        }
        let mut picks = [0, low, high, run.len() - 1];
        picks.sort_unstable();
        let mut last = None;
        for i in picks {
            if last != Some(i) {
                kept.push(run[i]);
                last = Some(i);
            }
        }
    }
    kept
}

/// A time axis label: the date, with the time of day when the chart spans less than three
/// days, to the second when it spans less than an hour.
fn time_label(seconds: f64, span: f64) -> String {
    let Some(time) = DateTime::<Utc>::from_timestamp(seconds as i64, 0) else {
        return String::new();
    };
    let format = if span < 3600.0 {
        "%H:%M:%S"
    } else if span < 3.0 * 86_400.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    time.format(format).to_string()
}

fn money_label(value: f64) -> String {
    format!("{value:.0}")
}

/// `lo..hi` with a margin, never empty.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo).abs() * 0.05).max(1e-9);
    if hi - lo < 1e-9 {
        return (lo - 1.0)..(hi + 1.0);
    }
    (lo - pad)..(hi + pad)
}

fn bounds<'a>(series: impl IntoIterator<Item = &'a Point>) -> (Range<f64>, Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0..1.0, 0.0..1.0);
    }
    let x = if x1 - x0 < 1.0 {
        (x0 - 3600.0)..(x1 + 3600.0)
    } else {
        x0..x1
    };
    (x, padded(y0, y1))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Axes with their descriptions and labels, a light grid, on `xs × ys`.
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    (xs, ys): (Range<f64>, Range<f64>),
    (x_desc, y_desc): (&str, &str),
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> anyhow::Result<Plot<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(76)
        .build_cartesian_2d(xs, ys)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(6)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Draws into an SVG string; a drawing error (which plotters reports for impossible ranges)
/// is an error of the report.
fn svg(draw: impl FnOnce(&Area) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("draw a chart: {e}")
}

/// Lines over time (equity and balance, cumulative P&L), each `(name, colour, points)`.
pub fn lines(y_desc: &str, series: &[(&str, RGBColor, Vec<Point>)]) -> anyhow::Result<String> {
    let (xs, ys) = bounds(series.iter().flat_map(|(_, _, points)| points));
    let span = xs.end - xs.start;
    svg(|root| {
        let x_label = |x: &f64| time_label(*x, span);
        let y_label = |y: &f64| money_label(*y);
        let mut chart = frame(root, (xs, ys), ("Time (UTC)", y_desc), &x_label, &y_label)?;
        for (name, colour, points) in series {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

/// The drawdown below the running peak of equity, as a filled area under zero.
pub fn drawdown(points: &[Point]) -> anyhow::Result<String> {
    let (xs, _) = bounds(points);
    let low = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let span = xs.end - xs.start;
    svg(|root| {
        let x_label = |x: &f64| time_label(*x, span);
        let y_label = |y: &f64| format!("{y:.1}");
        let mut chart = frame(
            root,
            (xs, padded(low, 0.0)),
            ("Time (UTC)", "Drawdown from peak equity (%)"),
            &x_label,
            &y_label,
        )?;
        chart
            .draw_series(
                AreaSeries::new(points.iter().copied(), 0.0, VERMILLION.mix(0.35))
                    .border_style(VERMILLION.stroke_width(1)),
            )
            .map_err(err)?;
        Ok(())
    })
}

/// One bar per UTC day: `(day start in seconds, net P&L)`, blue above zero, vermillion below.
pub fn daily_bars(days: &[Point]) -> anyhow::Result<String> {
    const DAY: f64 = 86_400.0;
    let (xs, _) = bounds(days);
    let xs = (xs.start - DAY)..(xs.end + 2.0 * DAY);
    let low = days.iter().map(|d| d.1).fold(0.0, f64::min);
    let high = days.iter().map(|d| d.1).fold(0.0, f64::max);
    let span = xs.end - xs.start;
    svg(|root| {
        let x_label = |x: &f64| time_label(*x, span);
        let y_label = |y: &f64| money_label(*y);
        let mut chart = frame(
            root,
            (xs, padded(low, high)),
            ("Day (UTC)", "Net P&L per day (account currency)"),
            &x_label,
            &y_label,
        )?;
        chart
            .draw_series(days.iter().map(|&(x, y)| {
                let colour = if y >= 0.0 { BLUE } else { VERMILLION };
                Rectangle::new([(x + 0.1 * DAY, 0.0), (x + 0.9 * DAY, y)], colour.filled())
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// A histogram of closed trades' profits: `(bucket low, bucket high, trades)`, each bucket
/// entirely at or below zero (losses, vermillion) or at or above it (wins, blue).
pub fn distribution(buckets: &[(f64, f64, u64)]) -> anyhow::Result<String> {
    let low = buckets.iter().map(|b| b.0).fold(f64::MAX, f64::min);
    let high = buckets.iter().map(|b| b.1).fold(f64::MIN, f64::max);
    let xs = if low < high { low..high } else { -1.0..1.0 };
    let top = buckets.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64;
    svg(|root| {
        let x_label = |x: &f64| money_label(*x);
        let y_label = |y: &f64| format!("{y:.0}");
        let mut chart = frame(
            root,
            (xs, 0.0..top * 1.08),
            ("Profit per closed trade (account currency)", "Trades"),
            &x_label,
            &y_label,
        )?;
        chart
            .draw_series(buckets.iter().filter(|b| b.2 > 0).map(|&(lo, hi, n)| {
                let colour = if hi <= 0.0 { VERMILLION } else { BLUE };
                Rectangle::new([(lo, 0.0), (hi, n as f64)], colour.filled())
            }))
            .map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_every_extreme_and_the_ends() {
        // A year of hourly points: a slow climb with one sharp one-hour dip and one spike.
        let mut points: Vec<Point> = (0..8760).map(|h| (h as f64 * 3600.0, h as f64)).collect();
        points[4321].1 = -5000.0;
        points[7000].1 = 99_999.0;
        let kept = downsample(&points, 300);
        assert!(kept.len() <= 1200, "{} points", kept.len());
        assert!(kept.contains(&points[4321]), "the dip survives");
        assert!(kept.contains(&points[7000]), "the spike survives");
        assert_eq!(kept.first(), points.first());
        assert_eq!(kept.last(), points.last());
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "time order kept");
    }

    #[test]
    fn short_series_are_kept_whole() {
        let points: Vec<Point> = (0..100).map(|i| (i as f64, (i % 7) as f64)).collect();
        assert_eq!(downsample(&points, 50), points);
    }

    #[test]
    fn charts_draw_their_data_in_the_palette() {
        let points: Vec<Point> = (0..50).map(|i| (i as f64 * 3600.0, i as f64)).collect();
        let svg = lines("Equity", &[("Equity", BLUE, points.clone())]).unwrap();
        assert!(svg.contains("#0072B2"), "{svg}");
        assert!(svg.contains("Time (UTC)"));
        let bars = daily_bars(&[(0.0, 5.0), (86_400.0, -3.0)]).unwrap();
        assert!(bars.contains("#D55E00") && bars.contains("#0072B2"));
    }
}
