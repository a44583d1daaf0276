//! Prometheus' text exposition format (version 0.0.4), written by the hub's `/metrics`
//! (its fleet, `admin_api/observe.rs`) and an edge's own `/metrics` (`metrics_port.rs`): one
//! writer, so both escape and format alike.
//!
//! Each family is a `# HELP` and a `# TYPE` line followed by its samples,
//! `name{label="value",...} value`. Label values and help texts are escaped as the format
//! says; integers are written exactly (no float rounding past 2^53), floats in the shortest
//! form that reads back to the same value, `NaN` and `+Inf`/`-Inf` as Prometheus spells them.

use std::fmt::Write as _;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Integers up to this are exact in a float (2^53).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// A family's `TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset at restart); its name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(i128),
    Float(f64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(i128::from(n))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(i128::from(n))
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

/// `true` is 1, `false` 0.
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Int(i128::from(b))
    }
}

/// A document in the text format, built family by family.
#[derive(Default)]
pub struct Text {
    out: String,
}

impl Text {
    pub fn new() -> Text {
        Text::default()
    }

    /// Starts the family `name`: its `HELP` and `TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Text {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) -> &mut Text {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value.into() {
            Value::Int(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::Float(x) if x.is_nan() => self.out.push_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                self.out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
            }
            // Integral values as integers (`12`, not `12.0`) while exact.
            Value::Float(x) if x.fract() == 0.0 && x.abs() < MAX_EXACT => {
                let _ = write!(self.out, "{}", x as i64);
            }
            // Debug: the shortest form that reads back the same, with an exponent when
            // very large or small (`1e300`), which Prometheus reads.
            Value::Float(x) => {
                let _ = write!(self.out, "{x:?}");
            }
        }
        self.out.push('\n');
        self
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Into<Value>) {
        self.family(name, kind, help).sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut text = Text::new();
        text.family("x_total", Kind::Counter, "Things \\ done\nso far.")
            .sample("x_total", &[("result", "ok")], 3_u64)
            .sample("x_total", &[("a", "q\"uo\\te\nd"), ("b", "")], -2_i64);
        text.single("y", Kind::Gauge, "A gauge.", 0.25);
        text.single("whole", Kind::Gauge, "Integral float.", 12.0);
        text.single("big", Kind::Counter, "Exact.", u64::MAX);
        text.single("up", Kind::Gauge, "Bool.", true);
        text.single("nan", Kind::Gauge, "NaN.", f64::NAN);
        text.single("inf", Kind::Gauge, "Inf.", f64::NEG_INFINITY);
        assert_eq!(
            text.finish(),
            "# HELP x_total Things \\\\ done\\nso far.\n# TYPE x_total counter\n\
             x_total{result=\"ok\"} 3\n\
             x_total{a=\"q\\\"uo\\\\te\\nd\",b=\"\"} -2\n\
             # HELP y A gauge.\n# TYPE y gauge\ny 0.25\n\
             # HELP whole Integral float.\n# TYPE whole gauge\nwhole 12\n\
             # HELP big Exact.\n# TYPE big counter\nbig 18446744073709551615\n\
             # HELP up Bool.\n# TYPE up gauge\nup 1\n\
             # HELP nan NaN.\n# TYPE nan gauge\nnan NaN\n\
             # HELP inf Inf.\n# TYPE inf gauge\ninf -Inf\n"
        );
    }

    #[test]
    fn floats_read_back_to_the_same_value() {
        for x in [0.1, 1e300, 1e-300, 123_456.789, -0.5, 2f64.powi(60)] {
            let mut text = Text::new();
            text.sample("v", &[], x);
            let written = text.finish();
            let value = written.trim_end().strip_prefix("v ").unwrap();
            assert_eq!(value.parse::<f64>().unwrap(), x, "{written}");
        }
    }
}
