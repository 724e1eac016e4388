//! Tests of what a user sees: defaults, every problem reported with key and line.

use super::*;

fn origin() -> &'static Path {
    Path::new("/etc/authban/authban.toml")
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text, origin()) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn keys_lines(text: &str) -> Vec<(String, Option<usize>)> {
    problems(text)
        .into_iter()
        .map(|p| (p.key, p.line))
        .collect()
}

#[test]
fn defaults_are_the_documented_values() {
    let c = Config::default();
    assert_eq!(c.paths.state_dir, Path::new("/var/lib/authban"));
    assert_eq!(c.paths.hosts_deny, Path::new("/etc/hosts.deny"));
    assert!(c.paths.logs.is_empty());
    assert_eq!(c.policy.window, Duration::from_secs(600));
    assert_eq!(c.policy.threshold, 5.0);
    assert_eq!(c.policy.trust_after_login, Duration::from_secs(7 * 86400));
    assert_eq!(c.policy.weights.invalid_user, 1.5);
    assert_eq!(c.policy.weights.publickey, 0.2);
    assert_eq!(c.ban.time, Duration::from_secs(86400));
    assert_eq!(c.hosts_deny.daemons, ["ALL"]);
    assert!(c.validate().is_empty());
    assert_eq!(parse("", origin()).unwrap(), c);
}

#[test]
fn missing_default_file_means_defaults_but_missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("authban.toml");
    let (config, used) = load_from(None, &absent).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(used, None);
    let err = load_from(Some(&absent), Path::new("/nonexistent")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("authban.toml"), "{err}");
}

#[test]
fn load_reads_the_given_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.toml");
    fs::write(&file, "[ban]\ntime = \"2h\"\n").unwrap();
    let (config, used) = load_from(Some(&file), Path::new("/nonexistent")).unwrap();
    assert_eq!(config.ban.time, Duration::from_secs(7200));
    assert_eq!(used.as_deref(), Some(file.as_path()));
    // The default path is used when present.
    let (config, used) = load_from(None, &file).unwrap();
    assert_eq!(config.ban.time, Duration::from_secs(7200));
    assert_eq!(used.as_deref(), Some(file.as_path()));
    // Not UTF-8: one problem with its line.
    fs::write(&file, b"[ban]\n# caf\xe9\n").unwrap();
    let err = load_from(Some(&file), Path::new("/nonexistent")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:2: the file is not UTF-8 text", file.display())
    );
}

#[test]
fn example_config_is_complete_and_at_defaults() {
    let text = include_str!("../../examples/authban.toml");
    assert_eq!(
        parse(text, Path::new("examples/authban.toml")).unwrap(),
        Config::default()
    );
    // Every key of the effective configuration appears, uncommented, in the example.
    for line in Config::default().to_toml().lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "{key} missing from the example"
            );
        }
    }
}

#[test]
fn full_config_parses() {
    let text = r#"
[paths]
state-dir = "/srv/authban"
hosts-deny = "/etc/hosts.deny.d/authban"
logs = ["/var/log/auth.log", "/var/log/auth.log.1"]

[policy]
window = "1h30m"
threshold = 3
allowlist = ["192.0.2.0/24", "2001:db8::1", "::ffff:198.51.100.7"]
trust-after-login = "0"
trust-logins = "any"

[policy.weights]
auth-failure = 2
root = 0.0

[ban]
time = "2w"

[hosts-deny]
daemons = ["sshd", "sshd-session"]
"#;
    let c = parse(text, origin()).unwrap();
    assert_eq!(c.paths.logs.len(), 2);
    assert_eq!(c.policy.window, Duration::from_secs(5400));
    assert_eq!(c.policy.threshold, 3.0);
    assert_eq!(c.policy.allowlist.len(), 3);
    assert!(c.policy.allowlist[2].contains("198.51.100.7".parse().unwrap()));
    assert!(c.policy.trust_after_login.is_zero());
    assert_eq!(c.policy.trust_logins, TrustLogins::Any);
    assert_eq!(c.policy.weights.auth_failure, 2.0);
    assert_eq!(c.policy.weights.root, 0.0);
    assert_eq!(c.policy.weights.probe, 0.5, "unset keys keep their default");
    assert_eq!(c.ban.time, Duration::from_secs(14 * 86400));
    assert_eq!(c.hosts_deny.daemons, ["sshd", "sshd-session"]);
    // The effective configuration round-trips.
    assert_eq!(parse(&c.to_toml(), origin()).unwrap(), c);
}

#[test]
fn durations_parse_and_print_canonically() {
    for (text, secs, canonical) in [
        ("0", 0, "0"),
        ("90s", 90, "1m30s"),
        ("10m", 600, "10m"),
        ("1h30m", 5400, "1h30m"),
        ("7d", 604800, "1w"),
        ("2w", 1209600, "2w"),
        ("1w2d3h4m5s", 788645, "1w2d3h4m5s"),
        ("0s", 0, "0"),
        ("36h", 129600, "1d12h"),
    ] {
        let d: Duration = text.parse().unwrap();
        assert_eq!(d, Duration::from_secs(secs), "{text}");
        assert_eq!(d.to_string(), canonical, "{text}");
        assert_eq!(canonical.parse::<Duration>().unwrap(), d);
    }
    for bad in [
        "",
        "10",
        "m",
        "10x",
        "1.5h",
        "-1m",
        "30m1h",
        "1h1h",
        " 10m",
        "10m ",
        "10 m",
        "1H",
        "99999999999999w",
    ] {
        assert!(bad.parse::<Duration>().is_err(), "{bad:?}");
    }
}

#[test]
fn bad_duration_reports_key_and_line() {
    let p = problems("[policy]\nthreshold = 4.0\nwindow = \"10 minutes\"\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "policy.window");
    assert_eq!(p[0].line, Some(3));
    assert!(
        p[0].message.contains("`10 minutes` is not a duration"),
        "{}",
        p[0].message
    );
    // A bare number other than 0 asks for a unit.
    let p = problems("[ban]\ntime = 600\n");
    assert_eq!((p[0].key.as_str(), p[0].line), ("ban.time", Some(2)));
    assert!(p[0].message.contains("\"600s\""), "{}", p[0].message);
    assert_eq!(
        parse("[policy]\ntrust-after-login = 0\n", origin())
            .unwrap()
            .policy
            .trust_after_login,
        Duration::ZERO
    );
}

#[test]
fn unknown_keys_are_reported_with_path_and_line() {
    assert_eq!(
        keys_lines(
            "[policy]\nwindow = \"5m\"\nthreshhold = 4.0\n\n[policy.weights]\nroot = 2.0\nroots = 2.0\n[banana]\nx = 1\n"
        ),
        [
            ("policy.threshhold".to_owned(), Some(3)),
            ("policy.weights.roots".to_owned(), Some(7)),
            ("banana".to_owned(), Some(8)),
        ]
    );
    let p = problems("[paths]\nlog = []\n");
    assert!(
        p[0].message.contains("unknown field `log`"),
        "{}",
        p[0].message
    );
}

#[test]
fn wrong_types_are_reported_with_path_and_line() {
    assert_eq!(
        keys_lines(
            "[policy]\nthreshold = \"five\"\n[hosts-deny]\ndaemons = \"sshd\"\n[ban]\ntime = true\n"
        ),
        [
            ("policy.threshold".to_owned(), Some(2)),
            ("hosts-deny.daemons".to_owned(), Some(4)),
            ("ban.time".to_owned(), Some(6)),
        ]
    );
    // A table where a value belongs, and a value where a table belongs.
    assert_eq!(
        keys_lines("policy = 3\n[ban.time]\nx = 1\n"),
        [
            ("policy".to_owned(), Some(1)),
            ("ban.time".to_owned(), Some(2))
        ]
    );
}

#[test]
fn every_bad_allowlist_entry_is_reported() {
    let p = problems(
        "[policy]\nallowlist = [\n  \"192.0.2.0/24\",\n  \"192.0.2.0/33\",\n  \"example.com\",\n]\n",
    );
    let kl: Vec<_> = p.iter().map(|p| (p.key.as_str(), p.line)).collect();
    assert_eq!(
        kl,
        [
            ("policy.allowlist[1]", Some(4)),
            ("policy.allowlist[2]", Some(5))
        ]
    );
    assert!(
        p[1].message.contains("`example.com` is not an IP address"),
        "{}",
        p[1].message
    );
}

#[test]
fn validation_problems_carry_key_and_line() {
    let text = "\
[paths]
state-dir = \"var/lib/authban\"
logs = [\"/var/log/auth.log\", \"auth.log\"]

[policy]
window = \"0\"
threshold = -1.0

[policy.weights]
probe = nan
root = -0.5

[ban]
time = \"0\"

[hosts-deny]
daemons = [\"sshd\", \"sshd: ALL\"]
";
    assert_eq!(
        keys_lines(text),
        [
            ("paths.state-dir".to_owned(), Some(2)),
            ("paths.logs[1]".to_owned(), Some(3)),
            ("policy.window".to_owned(), Some(6)),
            ("policy.threshold".to_owned(), Some(7)),
            ("policy.weights.probe".to_owned(), Some(10)),
            ("policy.weights.root".to_owned(), Some(11)),
            ("ban.time".to_owned(), Some(14)),
            ("hosts-deny.daemons[1]".to_owned(), Some(17)),
        ]
    );
    assert_eq!(
        keys_lines("[hosts-deny]\ndaemons = []\n"),
        [("hosts-deny.daemons".to_owned(), Some(2))]
    );
    assert_eq!(
        keys_lines("[policy]\nthreshold = inf\n"),
        [("policy.threshold".to_owned(), Some(2))]
    );
}

#[test]
fn problems_in_several_sections_are_all_reported() {
    // Serde problems and validation problems together, across sections.
    let text = "\
[paths]
hosts-deny = \"relative\"
colour = \"blue\"
[policy]
window = \"soon\"
threshold = 0
[policy.weights]
probe = \"lots\"
[ban]
time = \"0\"
[hosts-deny]
daemons = [\"a,b\"]
";
    assert_eq!(
        keys_lines(text),
        [
            ("paths.hosts-deny".to_owned(), Some(2)),
            ("paths.colour".to_owned(), Some(3)),
            ("policy.window".to_owned(), Some(5)),
            ("policy.threshold".to_owned(), Some(6)),
            ("policy.weights.probe".to_owned(), Some(8)),
            ("ban.time".to_owned(), Some(10)),
            ("hosts-deny.daemons[0]".to_owned(), Some(12)),
        ]
    );
}

#[test]
fn syntax_errors_are_reported_with_lines() {
    let p = problems("[policy]\nwindow = \"10m\"\nthreshold = = 4\n");
    assert!(!p.is_empty());
    assert_eq!(p[0].line, Some(3), "{p:?}");
    let p = problems("[ban]\ntime = \"1d\"\ntime = \"2d\"\n");
    assert_eq!(p[0].line, Some(3), "{p:?}");
}

#[test]
fn display_lists_each_problem_on_its_own_line() {
    let err = parse("[policy]\nthreshold = 0\n[ban]\ntime = \"0\"\n", origin()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/authban/authban.toml:2: policy.threshold: 0 must be a number above 0\n\
         /etc/authban/authban.toml:4: ban.time: must be longer than 0"
    );
}

#[test]
fn daemon_and_backend_settings_are_validated() {
    let text = "[ban]\n\
                factor = 0.5\n\
                max-time = \"1h\"\n\
                ipv6-prefix = 8\n\
                backends = [\"command\"]\n\
                ports = [22, 0]\n\
                [nftables]\n\
                table = \"auth ban; flush ruleset\"\n\
                [ipset]\n\
                set4 = \"a-b\"\n\
                [command]\n\
                unban = [\"notify\", \"{addr}\"]\n\
                [daemon]\n\
                socket = \"run/authban.sock\"\n\
                max-tracked = 0\n";
    let got = keys_lines(text);
    let want: Vec<(String, Option<usize>)> = [
        ("ban.factor", Some(2)),
        ("ban.max-time", Some(3)),
        ("ban.ipv6-prefix", Some(4)),
        ("command.ban", None),
        ("ban.ports[1]", Some(6)),
        ("nftables.table", Some(8)),
        ("ipset.set4", Some(10)),
        ("command.unban[0]", Some(12)),
        ("daemon.socket", Some(14)),
        ("daemon.max-tracked", Some(15)),
    ]
    .into_iter()
    .map(|(k, l): (&str, Option<usize>)| (k.to_owned(), l))
    .collect();
    for w in &want {
        assert!(got.contains(w), "missing {w:?} in {got:?}");
    }
}

#[test]
fn unknown_backend_is_reported() {
    let got = keys_lines("[ban]\nbackends = [\"pf\"]\n");
    assert_eq!(got, vec![("ban.backends[0]".to_owned(), Some(2))]);
}

#[test]
fn the_default_configuration_is_the_default_policy() {
    let c = Config::default();
    let p = c.detect_policy(Vec::new(), None);
    let d = crate::detect::Policy::default();
    assert_eq!(
        (p.window_ms, p.threshold, p.weights, p.trust_ms),
        (d.window_ms, d.threshold, d.weights, d.trust_ms)
    );
    assert_eq!(c.ban_policy(), crate::decide::BanPolicy::default());
}

#[test]
fn durations_longer_than_any_backend_holds_are_refused_with_the_bound() {
    // `[ban] time = "100000w"` used to pass and then never be enforced (nft refused it).
    let p = problems("[ban]\ntime = \"100000w\"\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].key.as_str(), p[0].line), ("ban.time", Some(2)));
    assert!(
        p[0].message
            .contains("longer than the longest duration authban accepts (5200w"),
        "{}",
        p[0].message
    );
    assert_eq!("5200w".parse::<Duration>(), Ok(duration::MAX));
    assert!("5200w1s".parse::<Duration>().is_err());
}

#[test]
fn names_the_backends_refuse_are_refused_here() {
    // These passed `config check` and left the daemon with no backend at all.
    let p = problems(
        "[nftables]\ntable = \"1table\"\n[ipset]\nset4 = \"a_name_much_longer_than_31_bytes_x\"\nset6 = \"same\"\n",
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["nftables.table", "ipset.set4"], "{p:?}");
    let p = problems("[ipset]\nset4 = \"same\"\nset6 = \"same\"\n");
    assert_eq!(p[0].key, "ipset.set6");
    assert!(p[0].message.contains("different names"), "{}", p[0].message);
}

#[test]
fn trust_logins_is_verified_by_default_and_refuses_other_words() {
    let c = parse("", origin()).unwrap();
    assert_eq!(c.policy.trust_logins, TrustLogins::Verified);
    let err = parse("[policy]\ntrust-logins = \"yes\"\n", origin())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policy.trust-logins") && err.contains(":2"),
        "{err}"
    );
}

/// Issue 15: `config check` refuses a threshold no address can reach, and tells which
/// weights ban at one attempt.
#[test]
fn a_threshold_never_reached_is_refused_and_one_attempt_bans_are_told() {
    let err = parse("[policy]\nthreshold = 500.0\n", origin())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policy.threshold") && err.contains("never be reached"),
        "{err}"
    );
    let err = parse("[policy.weights]\nauth-failure = 0\ninvalid-user = 0\nroot = 0\nprobe = 0\npublickey = 0\n", origin())
        .unwrap_err()
        .to_string();
    assert!(err.contains("never be reached"), "{err}");
    let c = parse("[policy.users]\nmail = 5.0\nbob = 1.0\n", origin()).unwrap();
    assert_eq!(
        c.policy_notes(),
        ["policy.users.mail = 5 reaches policy.threshold = 5 alone: one such attempt bans"]
    );
    assert!(parse("", origin()).unwrap().policy_notes().is_empty());
    let err = parse("[policy]\npasswd = \"etc/passwd\"\n", origin())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policy.passwd") && err.contains("absolute"),
        "{err}"
    );
    let err = parse("[policy.networks]\nbans = 1\n", origin())
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy.networks.bans"), "{err}");
}

/// Issue 15, item 1: `policy.rules`, the rules for slow attackers.
#[test]
fn slow_rules_default_to_a_day_and_rules_that_cannot_ban_are_refused() {
    let c = Config::default();
    assert_eq!(
        c.policy.rules,
        [Rule {
            window: Duration::from_secs(86400),
            threshold: 15.0
        }]
    );
    let p = c.detect_policy(Vec::new(), None);
    assert_eq!(
        p.slow,
        [detect::Rule {
            window_ms: 86_400_000,
            threshold: 1500
        }]
    );
    let c = parse(
        "[policy]\nrules = [{ window = \"1d\", threshold = 10.0 }, { window = \"1w\", threshold = 30.0 }]\n",
        origin(),
    )
    .unwrap();
    assert_eq!(c.detect_policy(Vec::new(), None).slow.len(), 2);
    assert!(
        parse("[policy]\nrules = []\n", origin())
            .unwrap()
            .policy
            .rules
            .is_empty()
    );

    let refused = |text: &str, key: &str, says: &str| {
        let err = parse(text, origin()).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{text}: {err}");
        err
    };
    // Its count drains faster than the first window's: 5 in 10m always bans first.
    let err = refused(
        "[policy]\nrules = [{ window = \"1h\", threshold = 40.0 }]\n",
        "policy.rules[0]: 40 in 1h can never ban",
        "policy.window and policy.threshold (5 in 10m) always bans first",
    );
    assert!(err.contains(":2"), "the line is given: {err}");
    refused(
        "[policy]\nrules = [{ window = \"1d\", threshold = 10.0 }, { window = \"2d\", threshold = 20.0 }]\n",
        "policy.rules[1]",
        "policy.rules[0] (10 in 1d) always bans first",
    );
    refused(
        "[policy]\nrules = [{ window = \"5m\", threshold = 3.0 }]\n",
        "policy.rules[0].window",
        "must be longer than policy.window (10m)",
    );
    refused(
        "[policy]\nrules = [{ window = \"1d\", threshold = 0.0 }]\n",
        "policy.rules[0].threshold",
        "above 0",
    );
    refused(
        "[policy]\nrules = [{ window = \"1d\", threshold = 15.0 }, { window = \"2d\", threshold = 16.0 }, \
         { window = \"4d\", threshold = 17.0 }, { window = \"8d\", threshold = 18.0 }]\n",
        "policy.rules",
        "at most 3",
    );
    refused(
        "[policy]\nrules = [{ window = \"1d\" }]\n",
        "policy.rules",
        "threshold",
    );

    // A file that never mentions rules but makes the window as long as the default
    // rule's keeps working: the default rule is left out, and config check says why.
    let c = parse("[policy]\nwindow = \"1d\"\nthreshold = 10.0\n", origin()).unwrap();
    assert!(c.policy.rules.is_empty());
    assert_eq!(
        c.policy_notes(),
        [
            "the default rule 15 in 1d is left out: it is not longer than policy.window = 1d \
          (set policy.rules to choose rules)"
        ]
    );
    let c = parse("[policy]\nwindow = \"12h\"\nthreshold = 4.0\n", origin()).unwrap();
    assert!(c.policy.rules.is_empty());
    assert!(
        c.policy_notes()[0]
            .contains("policy.window and policy.threshold (4 in 12h) always bans first"),
        "{:?}",
        c.policy_notes()
    );
    // A rule below a weight bans at one attempt: told like a threshold.
    let c = parse(
        "[policy]\nrules = [{ window = \"1d\", threshold = 1.0 }]\n",
        origin(),
    )
    .unwrap();
    assert!(
        c.policy_notes()
            .contains(&"policy.weights.auth-failure = 1 reaches policy.rules[0].threshold = 1 alone: one such attempt bans".to_owned()),
        "{:?}",
        c.policy_notes()
    );
}

#[test]
fn metrics_listen_takes_an_address_or_a_socket_and_says_when_it_is_exposed() {
    let c = parse("[metrics]\nlisten = \"127.0.0.1:9877\"\n", origin()).unwrap();
    assert_eq!(
        c.metrics.listen,
        Some(crate::metrics::Listen::Tcp(
            "127.0.0.1:9877".parse().unwrap()
        ))
    );
    assert!(c.policy_notes().is_empty());
    assert!(
        c.to_toml()
            .contains("[metrics]\nlisten = \"127.0.0.1:9877\"")
    );
    let c = parse(
        "[metrics]\nlisten = \"/run/authban/metrics.sock\"\n",
        origin(),
    )
    .unwrap();
    assert!(c.policy_notes().is_empty());
    let c = parse("[metrics]\nlisten = \"0.0.0.0:9877\"\n", origin()).unwrap();
    assert!(
        c.policy_notes()[0].contains("firewall it"),
        "{:?}",
        c.policy_notes()
    );
    let c = parse("[metrics]\nlisten = \"127.0.0.1:80\"\n", origin()).unwrap();
    assert!(
        c.policy_notes()[0].contains("CAP_NET_BIND_SERVICE"),
        "{:?}",
        c.policy_notes()
    );
    let c = parse("[metrics]\nlisten = \"/var/run/m.sock\"\n", origin()).unwrap();
    assert!(
        c.policy_notes()[0].contains("ReadWritePaths"),
        "{:?}",
        c.policy_notes()
    );
    for bad in ["localhost:9877", "9877", "127.0.0.1:0"] {
        let err = parse(&format!("[metrics]\nlisten = \"{bad}\"\n"), origin())
            .unwrap_err()
            .to_string();
        assert!(err.contains("metrics.listen") && err.contains(bad), "{err}");
    }
    assert!(parse("", origin()).unwrap().metrics.listen.is_none());
}

#[test]
fn fleet_is_off_when_absent_and_every_key_of_it_is_checked() {
    assert!(parse("", origin()).unwrap().fleet.is_none());
    let c = parse(
        "[fleet]\nurl = \"redis://node1:s3cret@10.0.0.5:6380\"\nnode = \"web-1\"\n\
         accept = { quorum = 2 }\nshare = [\"detected\", \"imported\"]\n",
        origin(),
    )
    .unwrap();
    let f = c.fleet.as_ref().unwrap();
    assert_eq!(f.accept, Accept::Quorum(2));
    assert_eq!(f.node_name(), "web-1");
    assert!(f.shares(crate::fleet::record::Origin::Imported));
    assert!(!f.shares(crate::fleet::record::Origin::Manual));
    assert_eq!(f.max_remote_time, Duration::from_secs(WEEK));
    // The printed configuration does not show the password.
    let text = c.to_toml();
    assert!(
        !text.contains("s3cret") && text.contains("node1:***@"),
        "{text}"
    );
    assert_eq!(
        parse(
            "[fleet]\nurl = \"unix:///run/redis.sock\"\naccept = \"all\"\n",
            origin()
        )
        .unwrap()
        .fleet
        .unwrap()
        .accept,
        Accept::All
    );
    let keys = keys_lines(
        "[fleet]\nurl = \"rediss://r:0\"\naccept = { quorum = 0 }\nnode = \"a b\"\n\
         key-prefix = \"x y\"\nmax-remote-time = \"0s\"\nstream-length = 10\n\
         password-file = \"pw\"\n",
    );
    let keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "fleet.url",
        "fleet.accept",
        "fleet.node",
        "fleet.key-prefix",
        "fleet.max-remote-time",
        "fleet.stream-length",
        "fleet.password-file",
    ] {
        assert!(keys.contains(&k), "{k} not in {keys:?}");
    }
    for (text, want) in [
        ("[fleet]\n", "must be set"),
        (
            "[fleet]\nurl = \"redis://h\"\naccept = \"most\"\n",
            "\"all\" or { quorum = N }",
        ),
        ("[fleet]\nurl = \"redis://h\"\nshare = [\"all\"]\n", "share"),
        (
            "[fleet]\nurl = \"redis://:pw@h\"\npassword-file = \"/etc/authban/pw\"\n",
            "one place",
        ),
        // TLS files without TLS would be silently unused.
        (
            "[fleet]\nurl = \"redis://h\"\ntls-ca-file = \"/etc/authban/ca.pem\"\n",
            "fleet.tls-ca-file: is used only over TLS",
        ),
        (
            "[fleet]\nurl = \"rediss://h\"\ntls-cert-file = \"/etc/authban/n.pem\"\n",
            "fleet.tls-key-file: must be set with tls-cert-file",
        ),
        (
            "[fleet]\nurl = \"rediss://h\"\ntls-key-file = \"/etc/authban/n.key\"\n",
            "fleet.tls-cert-file: must be set with tls-key-file",
        ),
        (
            "[fleet]\nurl = \"rediss://h\"\ntls-ca-file = \"ca.pem\"\n",
            "fleet.tls-ca-file: `ca.pem` must be an absolute path",
        ),
    ] {
        let err = parse(text, origin()).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn the_example_fleet_section_uncommented_is_valid() {
    let text = include_str!("../../examples/authban.toml");
    let at = text.find("# [fleet]").expect("the example shows [fleet]");
    let fleet: String = text[at..]
        .lines()
        .filter(|l| l.starts_with("# [fleet]") || l.starts_with("# ") && l.contains(" = "))
        .map(|l| l.trim_start_matches("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = parse(&format!("{}{fleet}", &text[..at]), origin()).unwrap();
    let f = c.fleet.unwrap();
    assert_eq!(f.node_name(), "web-1");
    assert_eq!(
        f.password_file.as_deref(),
        Some(Path::new("/etc/authban/fleet.password"))
    );
    assert_eq!(f.accept, Accept::All);
}

#[test]
fn a_url_that_does_not_parse_is_the_only_problem_said_of_it() {
    // Not also "tls-ca-file is used only over TLS": the URL's scheme is not known then.
    let e = parse(
        "[fleet]\nurl = \"rediss://r:0\"\ntls-ca-file = \"/etc/authban/ca.pem\"\n",
        origin(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("the port must be 1 to 65535"), "{e}");
    assert!(!e.contains("used only over TLS"), "{e}");
}

#[test]
fn a_tls_url_works_only_in_a_build_with_tls() {
    let text = "[fleet]\nurl = \"rediss://web-1@redis.example:6380\"\n\
                tls-ca-file = \"/etc/authban/redis-ca.pem\"\n\
                tls-cert-file = \"/etc/authban/web-1.pem\"\n\
                tls-key-file = \"/etc/authban/web-1.key\"\n";
    if crate::fleet::tls::BUILT {
        let endpoint = parse(text, origin())
            .unwrap()
            .fleet
            .unwrap()
            .endpoint()
            .unwrap();
        assert!(endpoint.url.tls);
        assert_eq!(
            endpoint.tls.ca.as_deref(),
            Some(Path::new("/etc/authban/redis-ca.pem"))
        );
    } else {
        let e = parse(text, origin()).unwrap_err().to_string();
        assert!(
            e.contains("fleet.url: this authban was built without TLS"),
            "{e}"
        );
        assert!(e.contains("--features tls"), "{e}");
    }
}
