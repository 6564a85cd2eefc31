use berth_api::ErrorKind;

use super::tests::Child;
use super::top::{self, parse_ps_output, validate_ps_args};

const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 04:01 ?        00:00:06 /sbin/init splash
root         300       1  0 04:02 ?        00:00:00 sh -c sleep  100 ; echo done
root         301     300  0 04:02 pts/0    00:00:00 sleep 100
";

#[test]
fn ps_ef_keeps_the_containers_rows_and_joins_the_command() {
    let top = parse_ps_output(PS_EF, &[300, 301]).expect("parse");
    assert_eq!(
        top.titles,
        Some(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].map(String::from).to_vec())
    );
    let rows = top.processes.expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        ["root", "300", "1", "0", "04:02", "?", "00:00:00", "sh -c sleep 100 ; echo done"]
    );
    assert_eq!(rows[1][7], "sleep 100");
}

#[test]
fn ps_aux_and_custom_columns() {
    let aux = "\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root           1  0.0  0.0  36660 10152 ?        S<Ll 04:01   0:06 /process_api --addr 0.0.0.0:2024
nobody      4242  1.5  0.1   1000   200 ?        S    04:05   0:00 nginx: worker process
";
    let top = parse_ps_output(aux, &[4242]).expect("parse");
    assert_eq!(top.titles.as_ref().map(Vec::len), Some(11));
    assert_eq!(
        top.processes,
        Some(vec![
            [
                "nobody",
                "4242",
                "1.5",
                "0.1",
                "1000",
                "200",
                "?",
                "S",
                "04:05",
                "0:00",
                "nginx: worker process"
            ]
            .map(String::from)
            .to_vec()
        ])
    );

    let custom = "COMMAND           PID\nsleep              12\nbash               13\n";
    let top = parse_ps_output(custom, &[13]).expect("parse");
    assert_eq!(top.processes, Some(vec![vec!["bash".to_owned(), "13".to_owned()]]));

    // No process of the container listed: Processes is null.
    let top = parse_ps_output(PS_EF, &[999]).expect("parse");
    assert_eq!(top.processes, None);
    assert!(top.titles.is_some());
}

#[test]
fn ps_thread_rows_follow_their_process() {
    let threads = "\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root          10  0.0  0.0   1000   100 ?        -    04:01   0:00 app --flag
root           -  0.0    -      -     - -        Sl   04:01   0:00 -
root          11  0.0  0.0   1000   100 ?        -    04:01   0:00 other
root           -  0.0    -      -     - -        Sl   04:01   0:00 -
";
    let top = parse_ps_output(threads, &[10]).expect("parse");
    let rows = top.processes.expect("rows");
    assert_eq!(rows.len(), 2, "process 10 and its thread, not 11's");
    assert_eq!(rows[1][1], "-");
}

#[test]
fn ps_output_errors() {
    let err = parse_ps_output("COMMAND\nsleep\n", &[1]).expect_err("no PID");
    assert_eq!(err.message(), "Couldn't find PID field in ps output");
    assert_eq!(err.kind(), ErrorKind::System);
    let err = parse_ps_output("", &[1]).expect_err("no output");
    assert_eq!(err.message(), "Couldn't find PID field in ps output");
    let err = parse_ps_output("PID CMD\nabc sleep\n", &[1]).expect_err("bad pid");
    assert!(err.message().starts_with("Unexpected pid 'abc'"), "{}", err.message());
    let err = parse_ps_output("CMD PID\nsleep\n", &[1]).expect_err("short line");
    assert_eq!(err.kind(), ErrorKind::System);
}

#[test]
fn ps_args_may_not_rename_a_column_to_pid() {
    for ok in
        ["-ef", "aux", "-o pid,comm", "-o pid=PID,comm", "-o pid= PID", "-opid=PID", "xyz=PID"]
    {
        validate_ps_args(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, message) in [
        ("-o ppid=PID", r#"specifying "ppid=PID" is not allowed"#),
        ("-o comm= PIDX", r#"specifying "comm=PIDX" is not allowed"#),
        ("aux -o pid=PID -o user=PID", r#"specifying "user=PID" is not allowed"#),
        ("-o a=b=PID", r#"specifying "a=b=PID" is not allowed"#),
        ("-o args=PID=x", r#"specifying "args=PID=x" is not allowed"#),
    ] {
        let err = validate_ps_args(bad).expect_err(bad);
        assert_eq!(err.message(), message);
        assert_eq!(err.kind(), ErrorKind::System);
    }
}

#[tokio::test]
async fn top_runs_the_hosts_ps() {
    let child = Child::sleep();
    let pid = child.pid();

    let top = top::top(&[pid], "").await.expect("ps -ef");
    let titles = top.titles.expect("titles");
    assert_eq!(titles.last().map(String::as_str), Some("CMD"));
    let rows = top.processes.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][1], pid.to_string());
    assert_eq!(rows[0].last().map(String::as_str), Some("sleep 600"));

    let top = top::top(&[pid], "-o pid,args").await.expect("ps -o");
    assert_eq!(top.processes, Some(vec![vec![pid.to_string(), "sleep 600".to_owned()]]));

    // `f` (forest) refuses -q: run again without it and filter.
    let top = top::top(&[pid], "axf").await.expect("ps axf");
    assert_eq!(top.processes.map(|r| r.len()), Some(1));

    let err = top::top(&[pid], "--no-such-option").await.expect_err("ps fails");
    assert_eq!(err.kind(), ErrorKind::System);
    assert!(err.message().starts_with("ps: "), "{}", err.message());
    assert!(err.message().len() > "ps: ".len());

    let err = top::top(&[pid], "-o comm").await.expect_err("no pid column");
    assert_eq!(err.message(), "Couldn't find PID field in ps output");
}
