//! Table-driven allocation tests: every case of `cases.txt` run through `whatif`, whose
//! output (log lines, then results) must match exactly. The file's header explains the format.

use rctdb_ipalloc::{whatif, WhatIfArgs};

#[derive(Default)]
struct Step {
    args: Vec<String>,
    home: String,
    stdin: Vec<String>,
    expected: Vec<String>,
    error: Option<String>,
}

struct Case {
    name: String,
    line: usize,
    steps: Vec<Step>,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with("# ") || raw == "#" {
            continue;
        }
        if let Some(name) = raw.strip_prefix("## ") {
            cases.push(Case { name: name.to_string(), line, steps: Vec::new() });
            continue;
        }
        let case = cases.last_mut().unwrap_or_else(|| panic!("cases.txt:{line}: text before the first case"));
        if let Some(args) = raw.strip_prefix("$ ") {
            case.steps.push(Step { args: args.split_whitespace().map(String::from).collect(), ..Step::default() });
            continue;
        }
        let step = case.steps.last_mut().unwrap_or_else(|| panic!("cases.txt:{line}: text before the first step"));
        if let Some(h) = raw.strip_prefix("home> ") {
            step.home.push_str(h);
            step.home.push('\n');
        } else if raw == "<" {
            step.stdin.push(String::new());
        } else if let Some(s) = raw.strip_prefix("< ") {
            step.stdin.push(s.to_string());
        } else if let Some(s) = raw.strip_prefix("> ") {
            step.expected.push(s.to_string());
        } else if let Some(s) = raw.strip_prefix("! ") {
            step.error = Some(s.to_string());
        } else {
            panic!("cases.txt:{line}: unknown line {raw:?}");
        }
    }
    cases
}

/// The `IP OWNER` lines of an output, for `$_out`.
fn result_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() == 2 && !f[0].is_empty() && f[1].parse::<i64>().is_ok()
        })
        .map(String::from)
        .collect()
}

fn run_case(case: &Case) -> Result<(), String> {
    let mut previous: Vec<String> = Vec::new();
    for (k, step) in case.steps.iter().enumerate() {
        let home = step.home.clone();
        let args = WhatIfArgs::parse(&step.args, &mut |path| {
            if path == "home_nodes" && !home.is_empty() {
                Ok(home.clone())
            } else {
                Err("no such file".to_string())
            }
        })
        .map_err(|e| format!("step {}: bad arguments: {e}", k + 1))?;
        let mut stdin = String::new();
        for l in &step.stdin {
            if l == "$_out" {
                previous.iter().for_each(|p| {
                    stdin.push_str(p);
                    stdin.push('\n')
                });
            } else {
                stdin.push_str(l);
                stdin.push('\n');
            }
        }
        match (whatif(&args, &stdin), &step.error) {
            (Ok(out), None) => {
                let got: Vec<&str> = out.lines().collect();
                if got != step.expected {
                    return Err(format!(
                        "step {}: output differs\n--- expected\n{}\n--- got\n{}",
                        k + 1,
                        step.expected.join("\n"),
                        got.join("\n")
                    ));
                }
                previous = result_lines(&out);
            }
            (Err(e), Some(want)) if e.contains(want.as_str()) => {}
            (Err(e), want) => return Err(format!("step {}: error {e:?}, expected {want:?}", k + 1)),
            (Ok(out), Some(want)) => return Err(format!("step {}: expected error {want:?}, got\n{out}", k + 1)),
        }
    }
    Ok(())
}

#[test]
fn allocation_cases() {
    let cases = parse_cases(include_str!("cases.txt"));
    assert!(cases.len() >= 26, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        assert!(!case.steps.is_empty(), "cases.txt:{}: case without a step", case.line);
        if let Err(e) = run_case(case) {
            failures.push(format!("cases.txt:{} {}\n{e}", case.line, case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
