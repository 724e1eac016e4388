use super::*;

fn scrape_unix(path: &std::path::Path, request: &str) -> String {
    let mut s = UnixStream::connect(path).expect("connect to the metrics socket");
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn sample() -> Snapshot {
    let mut reaction = Histogram::default();
    reaction.observe(Duration::from_micros(300), 2);
    reaction.observe(Duration::from_millis(3), 1);
    reaction.observe(Duration::from_secs(9), 1);
    Snapshot {
        started_at: 1_700_000_000,
        sources: vec![SourceSample {
            name: "/var/log/a \"b\"\\c".into(),
            lines: 12,
            up: true,
        }],
        events: vec![("auth_failure", 5), ("invalid_user", 2)],
        imposed: vec![("detected", 1), ("manual", 0)],
        lifted: vec![("expired", 1)],
        in_force: [3, 1],
        backends: vec![BackendSample {
            name: "nftables",
            up: true,
            in_force: [3, 1],
            ..BackendSample::default()
        }],
        reaction,
        store_up: true,
        ..Snapshot::default()
    }
}

#[test]
fn listen_takes_an_address_with_a_port_or_a_socket_path_and_nothing_else() {
    assert_eq!(
        "127.0.0.1:9877".parse::<Listen>(),
        Ok(Listen::Tcp("127.0.0.1:9877".parse().unwrap()))
    );
    assert!("[::1]:9877".parse::<Listen>().unwrap().is_local());
    assert!(!"0.0.0.0:9877".parse::<Listen>().unwrap().is_local());
    assert_eq!(
        "/run/authban/metrics.sock".parse::<Listen>(),
        Ok(Listen::Unix("/run/authban/metrics.sock".into()))
    );
    for bad in [
        "localhost:9877",
        "127.0.0.1",
        "9877",
        "metrics.sock",
        "127.0.0.1:0",
    ] {
        assert!(bad.parse::<Listen>().is_err(), "{bad} accepted");
    }
}

#[test]
fn every_sample_belongs_to_a_family_with_help_and_type() {
    let text = render(&sample());
    let mut families = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(*f)))
                .unwrap_or(name);
            assert!(
                families.contains(family),
                "{line} has no TYPE line before it"
            );
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}: value {value}");
        }
    }
    assert!(text.contains("# HELP authban_bans_imposed_total "));
}

#[test]
fn the_histogram_is_cumulative_and_labels_are_escaped() {
    let text = render(&sample());
    assert!(
        text.contains("authban_reaction_seconds_bucket{le=\"0.0005\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("authban_reaction_seconds_bucket{le=\"0.005\"} 3\n"));
    assert!(text.contains("authban_reaction_seconds_bucket{le=\"2.5\"} 3\n"));
    assert!(text.contains("authban_reaction_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert!(text.contains("authban_reaction_seconds_count 4\n"));
    assert!(text.contains(r#"authban_lines_read_total{source="/var/log/a \"b\"\\c"} 12"#));
    assert!(
        text.contains("authban_backend_bans_in_force{backend=\"nftables\",family=\"ipv6\"} 1\n")
    );
}

#[test]
fn the_server_answers_get_metrics_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // Its directory is made, as the runtime directory may not exist yet.
    let path = dir.path().join("run/metrics.sock");
    let board = Arc::new(Board::default());
    board.publish(sample());
    let server = Server::start(&Listen::Unix(path.clone()), Arc::clone(&board)).unwrap();

    let ok = scrape_unix(&path, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(ok.contains("authban_events_total{kind=\"auth_failure\"} 5\n"));

    // The engine's next snapshot is what the next scrape sees.
    board.publish(Snapshot::default());
    let later = scrape_unix(&path, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(!later.contains("kind=\"auth_failure\""), "{later}");

    let head = scrape_unix(&path, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    assert!(scrape_unix(&path, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(scrape_unix(&path, "GET /secret HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(scrape_unix(&path, "\x00\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST));
    assert!(scrape_unix(&path, &huge).starts_with("HTTP/1.1 431"));

    // A second server on a socket that answers is refused; dropping ours removes the file.
    let again = Server::start(&Listen::Unix(path.clone()), Arc::clone(&board));
    assert_eq!(again.unwrap_err().source.kind(), io::ErrorKind::AddrInUse);
    drop(server);
    assert!(!path.exists());
}

#[test]
fn a_silent_client_costs_one_slot_for_the_deadline_and_never_blocks_others() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], port)));
    let board = Arc::new(Board::default());
    let server = Server::start(&listen, board).unwrap();
    // Clients that connect and say nothing hold every slot…
    let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS + 2)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // …so a scrape beyond them is closed at once, not left waiting,
    let mut refused = TcpStream::connect(("127.0.0.1", port)).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let _ = refused.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    let _ = refused.read_to_end(&mut out);
    assert!(out.is_empty());
    // …and once their deadline passed, scrapes are answered again.
    std::thread::sleep(DEADLINE + Duration::from_millis(300));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    drop(silent);
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stopping took {:?}",
        started.elapsed()
    );
}

/// The names of the families `render` writes (`# TYPE name kind`).
fn families() -> std::collections::HashSet<String> {
    render(&Snapshot::default())
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_grafana_dashboard_uses_only_metrics_that_exist() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/grafana-dashboard.json"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let families = families();
    let mut exprs = Vec::new();
    fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match v.as_str() {
                        Some(s) if k == "expr" || k == "query" => out.push(s),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = 0;
    for expr in exprs {
        let mut rest = expr;
        while let Some(at) = rest.find("authban_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = name
                .strip_suffix("_bucket")
                .filter(|f| families.contains(*f))
                .unwrap_or(&name);
            assert!(families.contains(family), "{expr}: {name} is not a metric");
            used += 1;
            rest = &rest[at + name.len()..];
        }
    }
    assert!(
        used >= families.len() - 2,
        "the dashboard shows only {used} metrics"
    );
}
