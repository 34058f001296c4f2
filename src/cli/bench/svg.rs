//! A small SVG line chart: axes, ticks, grid, one polyline with markers per series,
//! a legend and a title. Enough for the bench plots without a plotting crate.

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 460.0;
/// The plot area; the legend sits to its right.
const LEFT: f64 = 80.0;
const RIGHT: f64 = 600.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 390.0;
const PALETTE: [&str; 10] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Powers of two: ticks at the data's own x values (sequence lengths).
    Log2,
    /// Powers of ten: ticks at decades (1, 2, 5 between them when the range is short).
    Log10,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed lines mark the peers' series.
    pub dashed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: Vec<Series>,
}

/// Text for an SVG text node or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A sequence length as people say it: 32K, 512K, 1M (exact multiples of 1024 only).
pub fn length_label(x: f64) -> String {
    let n = x.round() as u64;
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}M", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}K", n >> 10),
        n => n.to_string(),
    }
}

fn number_label(x: f64) -> String {
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One axis: its data range mapped onto `from .. to` pixels.
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Axis {
    /// The range of `values` (positive ones on a log scale), widened to whole ticks.
    fn fit(scale: Scale, values: &[f64], from: f64, to: f64) -> Axis {
        let usable: Vec<f64> =
            values.iter().copied().filter(|v| v.is_finite() && (scale == Scale::Linear || *v > 0.0)).collect();
        let min = usable.iter().copied().fold(f64::INFINITY, f64::min);
        let max = usable.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = match scale {
            _ if usable.is_empty() => (if scale == Scale::Linear { 0.0 } else { 1.0 }, 10.0),
            Scale::Linear => {
                let top = if max > 0.0 { max } else { 1.0 };
                let step = nice_step(top / 5.0);
                (min.min(0.0), (top / step).ceil() * step)
            }
            Scale::Log2 if min == max => (min / 2.0, max * 2.0),
            Scale::Log2 => (min / 2f64.sqrt(), max * 2f64.sqrt()),
            Scale::Log10 => {
                (10f64.powf(min.log10().floor()), 10f64.powf(max.log10().ceil().max(min.log10().floor() + 1.0)))
            }
        };
        Axis { scale, lo, hi, from, to }
    }

    fn unit(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => (v - self.lo) / (self.hi - self.lo),
            Scale::Log2 | Scale::Log10 => (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln()),
        }
    }

    fn pixel(&self, v: f64) -> f64 {
        self.from + self.unit(v) * (self.to - self.from)
    }

    fn contains(&self, v: f64) -> bool {
        v.is_finite() && (self.scale == Scale::Linear || v > 0.0) && (-1e-9..=1.0 + 1e-9).contains(&self.unit(v))
    }

    /// Tick values with their labels; `data` gives a log2 axis its ticks.
    fn ticks(&self, data: &[f64]) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Log2 => {
                let mut xs: Vec<f64> = data.iter().copied().filter(|&v| self.contains(v)).collect();
                xs.sort_by(f64::total_cmp);
                xs.dedup();
                xs.into_iter().map(|x| (x, length_label(x))).collect()
            }
            Scale::Linear => {
                let step = nice_step((self.hi - self.lo) / 5.0);
                let first = (self.lo / step).ceil() as i64;
                let last = (self.hi / step).floor() as i64;
                (first..=last).map(|i| i as f64 * step).map(|v| (v, number_label(v))).collect()
            }
            Scale::Log10 => {
                let (a, b) = (self.lo.log10().round() as i32, self.hi.log10().round() as i32);
                let steps: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
                (a..=b)
                    .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
                    .filter(|&v| self.contains(v))
                    .map(|v| (v, number_label(v)))
                    .collect()
            }
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * power)
}

impl Chart {
    pub fn render(&self) -> String {
        // A point with a missing coordinate (a failed run) is left out, axes included.
        let finite: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(px, py)| px.is_finite() && py.is_finite())
            .collect();
        let xs: Vec<f64> = finite.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = finite.iter().map(|p| p.1).collect();
        let x = Axis::fit(self.x_scale, &xs, LEFT, RIGHT);
        let y = Axis::fit(self.y_scale, &ys, BOTTOM, TOP);
        let mut svg = String::new();
        // Writing to a String cannot fail.
        let mut put = |s: String| svg.push_str(&s);
        put(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        ));
        put(format!("<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n"));
        put(format!(
            "<text x=\"{}\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
            (LEFT + RIGHT) / 2.0,
            escape(&self.title)
        ));
        for (v, label) in x.ticks(&xs) {
            let px = x.pixel(v);
            put(format!("<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{BOTTOM}\" stroke=\"#e0e0e0\"/>\n"));
            put(format!(
                "<text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                BOTTOM + 18.0,
                escape(&label)
            ));
        }
        for (v, label) in y.ticks(&ys) {
            let py = y.pixel(v);
            put(format!("<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{RIGHT}\" y2=\"{py:.1}\" stroke=\"#e0e0e0\"/>\n"));
            put(format!(
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                LEFT - 6.0,
                py + 4.0,
                escape(&label)
            ));
        }
        put(format!("<line x1=\"{LEFT}\" y1=\"{BOTTOM}\" x2=\"{RIGHT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>\n"));
        put(format!("<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{BOTTOM}\" stroke=\"black\"/>\n"));
        put(format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            (LEFT + RIGHT) / 2.0,
            BOTTOM + 44.0,
            escape(&self.x_label)
        ));
        put(format!(
            "<text x=\"20\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {0})\">{1}</text>\n",
            (TOP + BOTTOM) / 2.0,
            escape(&self.y_label)
        ));
        if xs.is_empty() {
            put(format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n",
                (LEFT + RIGHT) / 2.0,
                (TOP + BOTTOM) / 2.0
            ));
        }
        for (i, series) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let dash = if series.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
            let points: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter(|(px, py)| x.contains(*px) && y.contains(*py))
                .map(|&(px, py)| (x.pixel(px), y.pixel(py)))
                .collect();
            if points.len() > 1 {
                let list: Vec<String> = points.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
                put(format!(
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n",
                    list.join(" ")
                ));
            }
            for (px, py) in &points {
                put(format!("<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{color}\"/>\n"));
            }
            let ly = TOP + 8.0 + 20.0 * i as f64;
            put(format!(
                "<line x1=\"{}\" y1=\"{ly:.1}\" x2=\"{}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n",
                RIGHT + 16.0,
                RIGHT + 40.0
            ));
            put(format!(
                "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\">{}</text>\n",
                RIGHT + 46.0,
                ly + 4.0,
                escape(&series.name)
            ));
        }
        put("</svg>\n".to_string());
        svg
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Checks that `svg` is well-formed XML as far as the writer goes: one `svg` root,
    /// every tag closed in order, attributes quoted, no stray `<`, `>` or `&` in text.
    pub fn assert_well_formed(svg: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        let mut roots = 0;
        while let Some(start) = rest.find('<') {
            check_text(&rest[..start]);
            let end = rest[start..].find('>').map(|e| start + e).unwrap_or_else(|| panic!("unclosed tag in {rest}"));
            let tag = &rest[start + 1..end];
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
            assert!(!tag.contains('<'), "`<` inside <{tag}>");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "</{name}> closes another tag");
            } else {
                let name = tag.split_whitespace().next().unwrap_or("");
                if open.is_empty() {
                    roots += 1;
                    assert_eq!(name, "svg", "the root must be <svg>");
                }
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        check_text(rest);
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert_eq!(roots, 1);
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>'), "`>` in text {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].contains(&entity), "bad entity {entity:?}");
        }
    }

    fn chart(series: Vec<Series>, y_scale: Scale) -> Chart {
        Chart {
            title: "t <&> \"q\"".into(),
            x_label: "S".into(),
            y_label: "ms".into(),
            x_scale: Scale::Log2,
            y_scale,
            series,
        }
    }

    fn line(name: &str, points: &[(f64, f64)]) -> Series {
        Series { name: name.into(), points: points.to_vec(), dashed: false }
    }

    #[test]
    fn a_chart_is_well_formed_and_escapes_its_text() {
        let svg = chart(vec![line("a & b", &[(32768.0, 5.0), (131072.0, 50.0)])], Scale::Log10).render();
        assert_well_formed(&svg);
        assert!(svg.contains("t &lt;&amp;&gt; &quot;q&quot;") && svg.contains("a &amp; b"));
    }

    #[test]
    fn log2_ticks_are_the_lengths_and_log10_ticks_the_decades() {
        let svg = chart(vec![line("a", &[(32768.0, 3.0), (524288.0, 3000.0)])], Scale::Log10).render();
        for label in [">32K<", ">512K<", ">1<", ">10<", ">100<", ">1000<", ">10000<"] {
            assert!(svg.contains(label), "{label} missing from {svg}");
        }
    }

    #[test]
    fn linear_ticks_are_round_numbers_from_zero() {
        let svg = chart(vec![line("a", &[(1024.0, 0.7), (2048.0, 3.3)])], Scale::Linear).render();
        for label in [">0<", ">1<", ">2<", ">3<", ">4<"] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(!svg.contains(">5<"));
    }

    #[test]
    fn one_point_draws_a_marker_and_no_line() {
        let svg = chart(vec![line("a", &[(4096.0, 2.0)])], Scale::Linear).render();
        assert_well_formed(&svg);
        assert_eq!((svg.matches("<circle").count(), svg.matches("<polyline").count()), (1, 0));
    }

    #[test]
    fn no_data_says_so() {
        let svg = chart(vec![line("a", &[(4096.0, f64::NAN)])], Scale::Log10).render();
        assert_well_formed(&svg);
        assert!(svg.contains(">no data<") && !svg.contains("<circle"), "{svg}");
    }

    #[test]
    fn lengths_read_as_people_say_them() {
        assert_eq!(
            [1000.0, 4096.0, 131072.0, 1048576.0, 3145728.0].map(length_label),
            ["1000", "4K", "128K", "1M", "3M"]
        );
    }
}
