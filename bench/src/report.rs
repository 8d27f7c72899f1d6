//! What a scenario's repetitions add up to, and the table printed at the end.

use serde::Serialize;

use crate::load::{AccessInfo, RunResult, Scenario};

/// The median of a set of measurements, and their range.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values. The median of an even count is the mean of the middle two.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// A scenario's measured runs (warm-ups excluded) and their summary.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    pub name: &'static str,
    pub scenario: Scenario,
    /// Which users (or pages) the requests are drawn from, and how; null if none.
    pub access: Option<AccessInfo>,
    /// Requests per second: the median run, and the slowest and fastest.
    pub rps: Spread,
    /// Each run's median latency: the median over runs, and the range; likewise p99.
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    /// The slowest request of all runs.
    pub max_ms: f64,
    /// Summed over the runs.
    pub requests: u64,
    pub errors: u64,
    /// Median rps ÷ the median rps of the bare actix-web route in the same invocation.
    pub ratio_to_bare: Option<f64>,
    /// Median rps ÷ the median rps of `/health/live` in the same invocation.
    pub ratio_to_health: Option<f64>,
    /// Each run's rps ÷ that of a run of its ceiling (`Scenario::ceiling`) made just before it:
    /// the median and the range. Measured when the ceiling's scenario runs too: the machine's
    /// speed drifts over the minutes between scenarios (a shared VM's by a fifth and more), and
    /// adjacent runs see the same machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_adjacent_ceiling: Option<Spread>,
    /// The median over runs of the server's CPU use (100% = one core busy).
    pub server_cpu_percent: f64,
    /// The server's CPU time per request answered, in microseconds, over runs: what a request
    /// costs the server alone. The rps ratios also carry the load generator, which shares the
    /// cores and costs about as much per request as `/health/live` costs the server, so they
    /// understate how much more one request costs than another.
    pub server_cpu_us_per_request: Option<Spread>,
    /// The server's RSS after the last run.
    pub server_rss_mb: f64,
    /// Users in the server's GetUser cache after the last run, the most it may hold, and the hit
    /// rate over runs (each run's hits ÷ lookups); null where the server does not report them
    /// (no `/metrics`).
    pub cache_entries: Option<u64>,
    pub cache_capacity: Option<u64>,
    pub cache_hit_rate: Option<Spread>,
    pub runs: Vec<RunResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    /// With a baseline build: the same scenario on it, run for run alternately with this one
    /// (the baseline first in each pair); its ratios are to its own `/health/live`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Box<ScenarioResult>>,
    /// This build's rps ÷ the baseline's, pair by pair: the median pair, and the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<Spread>,
}

impl ScenarioResult {
    pub fn summarise(
        scenario: Scenario,
        access: Option<AccessInfo>,
        runs: Vec<RunResult>,
    ) -> anyhow::Result<Self> {
        let spread = |f: fn(&RunResult) -> f64| {
            Spread::of(runs.iter().map(f)).ok_or_else(|| anyhow::anyhow!("no measured run"))
        };
        let mut error_samples: Vec<String> = runs
            .iter()
            .flat_map(|r| r.error_samples.iter().cloned())
            .collect();
        error_samples.truncate(3);
        Ok(Self {
            name: scenario.name(),
            scenario,
            access,
            rps: spread(|r| r.rps)?,
            p50_ms: spread(|r| r.p50_ms)?,
            p99_ms: spread(|r| r.p99_ms)?,
            max_ms: runs.iter().map(|r| r.max_ms).fold(0.0, f64::max),
            requests: runs.iter().map(|r| r.requests).sum(),
            errors: runs.iter().map(|r| r.errors).sum(),
            ratio_to_bare: None,
            ratio_to_health: None,
            ratio_to_adjacent_ceiling: Spread::of(
                runs.iter()
                    .filter_map(|r| Some(r.rps / r.adjacent_ceiling_rps?)),
            ),
            server_cpu_percent: spread(|r| r.server_cpu_percent)?.median,
            server_cpu_us_per_request: Spread::of(
                runs.iter()
                    .filter(|r| r.rps > 0.0)
                    .map(|r| r.server_cpu_percent / 100.0 * 1e6 / r.rps),
            ),
            server_rss_mb: runs.last().map_or(0.0, |r| r.server_rss_mb),
            cache_entries: runs.last().and_then(|r| r.cache_entries),
            cache_capacity: runs.last().and_then(|r| r.cache_capacity),
            cache_hit_rate: Spread::of(runs.iter().filter_map(|r| r.cache_hit_rate)),
            error_samples,
            runs,
            baseline: None,
            ratio_to_baseline: None,
        })
    }

    /// Records `baseline`, whose runs alternated with these, and the ratio of each pair.
    pub fn compare_with(&mut self, baseline: ScenarioResult) {
        self.ratio_to_baseline = Spread::of(
            self.runs
                .iter()
                .zip(&baseline.runs)
                .map(|(candidate, baseline)| candidate.rps / baseline.rps),
        );
        self.baseline = Some(Box::new(baseline));
    }
}

/// One measured run, as it finishes.
pub fn progress(scenario: Scenario, n: usize, of: usize, side: &str, run: &RunResult) -> String {
    format!(
        "  {:<22} {:<w$} {:>9} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}{}",
        scenario.name(),
        format!("run {n}/{of}{side}:"),
        thousands(run.rps),
        run.p50_ms,
        run.p99_ms,
        run.errors,
        run.cache_hit_rate.map_or(String::new(), |h| format!(
            "  cache hits {:.0}% of {}",
            h * 100.0,
            run.cache_hits.unwrap_or(0) + run.cache_misses.unwrap_or(0)
        )),
        // Room for " candidate" when runs alternate between two builds.
        w = if side.is_empty() { 0 } else { 19 },
    )
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |x| format!("{:.0}%", x * 100.0))
}

/// A whole number with thousands separators, for the table.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn row(r: &ScenarioResult) -> String {
    let range = format!("{}–{}", thousands(r.rps.min), thousands(r.rps.max));
    format!(
        "{:<22} {:>9} {:>17} {:>7.2} {:>7.2} {:>6} {:>6} {:>6} {:>5.0}% {:>7} {:>7.1} {:>7}",
        r.name,
        thousands(r.rps.median),
        range,
        r.p50_ms.median,
        r.p99_ms.median,
        percent(r.ratio_to_bare),
        percent(r.ratio_to_health),
        percent(r.cache_hit_rate.map(|h| h.median)),
        r.server_cpu_percent,
        r.server_cpu_us_per_request
            .map_or("-".into(), |us| format!("{:.1}", us.median)),
        r.server_rss_mb,
        r.errors,
    ) + &if r.error_samples.is_empty() {
        String::new()
    } else {
        format!("\n    errors, e.g.: {}", r.error_samples.join(" | "))
    }
}

pub fn table(results: &[ScenarioResult]) -> String {
    let header = format!(
        "{:<22} {:>9} {:>17} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "scenario",
        "req/s",
        "min–max",
        "p50 ms",
        "p99 ms",
        "÷bare",
        "÷live",
        "hits",
        "cpu",
        "µs/req",
        "rss MB",
        "errors"
    );
    std::iter::once(header)
        .chain(results.iter().map(row))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The scenarios measured against an adjacent run of their ceiling, if any.
pub fn adjacent_ceilings(results: &[ScenarioResult]) -> Option<String> {
    let rows: Vec<String> = results
        .iter()
        .filter_map(|r| {
            let ratio = r.ratio_to_adjacent_ceiling?;
            let ceiling = r.scenario.ceiling()?;
            Some(format!(
                "  {:<22} ÷ {:<15} {:>5} ({}–{})",
                r.name,
                ceiling.name(),
                percent(Some(ratio.median)),
                percent(Some(ratio.min)),
                percent(Some(ratio.max)),
            ))
        })
        .collect();
    (!rows.is_empty()).then(|| {
        format!(
            "each run ÷ a run of its ceiling just before it (median, min–max):\n{}",
            rows.join("\n")
        )
    })
}

/// Each scenario on the candidate build beside the baseline build, for a run with a baseline.
pub fn comparison(results: &[ScenarioResult], candidate: &str, baseline: &str) -> String {
    let header = format!(
        "{:<22} {:>10} {:>10} {:>9} {:>15} {:>9} {:>9} {:>9} {:>9}",
        "scenario",
        "candidate",
        "baseline",
        "cand÷base",
        "min–max",
        "p99 cand",
        "p99 base",
        "hits cand",
        "hits base",
    );
    let rows = results.iter().filter_map(|r| {
        let base = r.baseline.as_deref()?;
        let ratio = r.ratio_to_baseline?;
        let hits = |x: &ScenarioResult| percent(x.cache_hit_rate.map(|h| h.median));
        Some(format!(
            "{:<22} {:>10} {:>10} {:>9} {:>15} {:>9.2} {:>9.2} {:>9} {:>9}",
            r.name,
            thousands(r.rps.median),
            thousands(base.rps.median),
            format!("{:.1}%", ratio.median * 100.0),
            format!("{:.1}–{:.1}%", ratio.min * 100.0, ratio.max * 100.0),
            r.p99_ms.median,
            base.p99_ms.median,
            hits(r),
            hits(base),
        ))
    });
    format!("candidate {candidate} ÷ baseline {baseline}, median of paired runs:\n")
        + &std::iter::once(header)
            .chain(rows)
            .collect::<Vec<_>>()
            .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_is_divided_by_the_ceiling_run_just_before_it() {
        let run = |rps, ceiling| RunResult {
            rps,
            adjacent_ceiling_rps: ceiling,
            ..RunResult::default()
        };
        // The machine slows down between runs: the pairs see it, one median of each would not.
        let runs = vec![
            run(50.0, Some(100.0)),
            run(30.0, Some(50.0)),
            run(40.0, Some(100.0)),
        ];
        let result = ScenarioResult::summarise(Scenario::GetUserUniform, None, runs).unwrap();
        let ratio = result.ratio_to_adjacent_ceiling.unwrap();
        assert_eq!((ratio.median, ratio.min, ratio.max), (0.5, 0.4, 0.6));
        let line = adjacent_ceilings(&[result]).unwrap();
        assert!(line.contains("GetUser uniform"), "{line}");
        assert!(line.contains("÷ health/live"), "{line}");
        assert!(line.contains("50% (40%–60%)"), "{line}");

        let unpaired =
            ScenarioResult::summarise(Scenario::Health, None, vec![run(100.0, None)]).unwrap();
        assert!(unpaired.ratio_to_adjacent_ceiling.is_none());
        assert!(adjacent_ceilings(&[unpaired]).is_none());
    }

    #[test]
    fn the_server_cpu_of_a_request_is_its_cpu_time_over_requests_answered() {
        let run = |rps, server_cpu_percent| RunResult {
            rps,
            server_cpu_percent,
            ..RunResult::default()
        };
        // One core busy for 50k requests a second: 20 µs each; a run with no answer is left out.
        let runs = vec![run(50_000.0, 100.0), run(40_000.0, 120.0), run(0.0, 5.0)];
        let result = ScenarioResult::summarise(Scenario::Health, None, runs).unwrap();
        let us = result.server_cpu_us_per_request.unwrap();
        assert_eq!((us.min, us.max), (20.0, 30.0));
        assert!(row(&result).contains(" 25.0 "), "{}", row(&result));
    }
}
