//! `GET /containers/{name}/top` as dockerd's `top_unix.go` answers it: the host's `ps`, with
//! only the container's processes kept.

use std::process::Output;

use berth_api::container::ContainerTopResponse;
use berth_api::{Error, Result};

/// `ps` arguments when the client gives none.
pub(crate) const DEFAULT_PS_ARGS: &str = "-ef";

/// Runs `ps <ps_args>` (`-ef` when empty) and keeps the rows of `pids`.
///
/// As dockerd: the arguments are split on single spaces; `-q<pids>` is appended so that `ps`
/// lists only those processes, and `ps` is run again without it when that fails (some options,
/// such as `f`, refuse `-q`). Errors are 500s: `specifying "k=PID…" is not allowed` for an
/// `-o` that renames a column to `PID`, `ps: <first line of stderr>` when `ps` fails, and
/// `Couldn't find PID field in ps output` when the output has no `PID` column.
pub(crate) async fn top(pids: &[u32], ps_args: &str) -> Result<ContainerTopResponse> {
    let ps_args = if ps_args.is_empty() { DEFAULT_PS_ARGS } else { ps_args };
    validate_ps_args(ps_args)?;
    let args: Vec<&str> = ps_args.split(' ').collect();
    let output = match run_ps(&args, Some(&pids_arg(pids))).await {
        Ok(output) => output,
        Err(_) => {
            run_ps(&args, None).await.map_err(|reason| Error::system(format!("ps: {reason}")))?
        }
    };
    parse_ps_output(&String::from_utf8_lossy(&output.stdout), pids)
}

/// `ps args [extra]`'s output when it exits with 0; otherwise why not, as Go's `exec` would
/// word it (the first line of stderr when there is one).
async fn run_ps(args: &[&str], extra: Option<&str>) -> std::result::Result<Output, String> {
    let mut command = tokio::process::Command::new("ps");
    command.args(args).args(extra).kill_on_drop(true);
    let output = command.output().await.map_err(|e| format!("exec: \"ps\": {e}"))?;
    if output.status.success() {
        return Ok(output);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    match stderr.lines().next() {
        Some(line) if !line.is_empty() => Err(line.to_owned()),
        _ => Err(match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => output.status.to_string(),
        }),
    }
}

/// `-q1,2,3`: the PIDs `ps` should list.
fn pids_arg(pids: &[u32]) -> String {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    format!("-q{}", list.join(","))
}

/// Whitespace as Go's RE2 `\s` and dockerd's `fieldsASCII` know it.
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Refuses `-o <key>=PID…` for any key but `pid`: a column renamed to `PID` would make the
/// filter read another column as the process ID. This is dockerd's
/// `\s+([^\s]*)=\s*(PID[^\s]*)` check, matched by hand.
pub(crate) fn validate_ps_args(ps_args: &str) -> Result<()> {
    // Each token with whether whitespace precedes it (the regex needs at least one).
    let mut tokens: Vec<(bool, &str)> = Vec::new();
    let mut rest = ps_args;
    loop {
        let trimmed = rest.trim_start_matches(is_space);
        let spaced = trimmed.len() < rest.len();
        if trimmed.is_empty() {
            break;
        }
        let end = trimmed.find(is_space).unwrap_or(trimmed.len());
        tokens.push((spaced, &trimmed[..end]));
        rest = &trimmed[end..];
    }

    let mut i = 0;
    while i < tokens.len() {
        let (spaced, token) = tokens[i];
        i += 1;
        if !spaced {
            continue;
        }
        // The key is greedy: the last `=` after which `PID` follows, in this token or, when
        // the `=` ends it, at the start of the next one.
        for (at, _) in token.match_indices('=').rev() {
            let key = &token[..at];
            let after = &token[at + 1..];
            let value = if after.is_empty() {
                match tokens.get(i) {
                    Some((_, next)) if next.starts_with("PID") => {
                        i += 1;
                        *next
                    }
                    _ => continue,
                }
            } else if after.starts_with("PID") {
                after
            } else {
                continue;
            };
            if key != "pid" {
                return Err(Error::system(format!("specifying \"{key}={value}\" is not allowed")));
            }
            break;
        }
    }
    Ok(())
}

/// The rows of `output` whose `PID` column is in `pids`. The last column (the command) takes
/// the rest of the line, spaces included; thread rows (`PID` `-`, from `ps m`) follow the
/// process above them. No matching row gives `Processes: null`.
pub(crate) fn parse_ps_output(output: &str, pids: &[u32]) -> Result<ContainerTopResponse> {
    let mut lines = output.split('\n');
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(is_space)
        .filter(|f| !f.is_empty())
        .map(String::from)
        .collect();
    let Some(pid_index) = titles.iter().position(|t| t == "PID") else {
        return Err(Error::system("Couldn't find PID field in ps output"));
    };

    let mut processes: Vec<Vec<String>> = Vec::new();
    let mut previous_kept = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(is_space).filter(|f| !f.is_empty()).collect();
        let Some(pid) = fields.get(pid_index) else {
            return Err(Error::system(format!("Unexpected ps output line '{line}'")));
        };
        if *pid == "-" {
            if previous_kept {
                processes.push(row(&fields, titles.len()));
            }
            continue;
        }
        let pid: i64 = pid.parse().map_err(|_| {
            Error::system(format!(
                "Unexpected pid '{pid}': strconv.Atoi: parsing \"{pid}\": invalid syntax"
            ))
        })?;
        previous_kept = pids.iter().any(|p| i64::from(*p) == pid);
        if previous_kept {
            processes.push(row(&fields, titles.len()));
        }
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: (!processes.is_empty()).then_some(processes),
    })
}

/// One row of `columns` cells: the fields, with everything past the last column joined by
/// spaces into it (and empty cells for a short line).
fn row(fields: &[&str], columns: usize) -> Vec<String> {
    let last = columns.saturating_sub(1);
    let mut row: Vec<String> = fields.iter().take(last).map(|f| (*f).to_owned()).collect();
    row.resize(last, String::new());
    row.push(fields.get(last..).map(|rest| rest.join(" ")).unwrap_or_default());
    row
}
