//! The reply reader on bytes as a server (or something posing as one) sends them, and the
//! URL forms an operator writes.

use super::*;

fn parse(bytes: &[u8]) -> Result<Reply, RespError> {
    read_reply(&mut BufReader::new(bytes), 0)
}

#[test]
fn reads_every_reply_type_binary_safe() {
    assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
    assert_eq!(parse(b":-42\r\n").unwrap(), Reply::Int(-42));
    assert_eq!(
        parse(b"$5\r\na\r\n\0b\r\n").unwrap(),
        Reply::Bulk(Some(b"a\r\n\0b".to_vec()))
    );
    assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
    assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Array(None));
    assert_eq!(
        parse(b"*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n").unwrap(),
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"foo".to_vec())),
            Reply::Array(Some(vec![Reply::Int(1)])),
        ]))
    );
    match parse(b"-NOAUTH Authentication required.\r\n") {
        Err(RespError::Server(m)) => assert_eq!(m, "NOAUTH Authentication required."),
        other => panic!("{other:?}"),
    }
}

/// What a hostile or broken server could send: refused with a reason, nothing allocated
/// beyond the bounds, no panic.
#[test]
fn refuses_what_is_not_resp_or_exceeds_a_bound() {
    let cases: [(&[u8], &str); 8] = [
        (
            b"$2000000\r\n",
            "a bulk string of 2000000, more than the 1048576 accepted",
        ),
        (b"*99999999999\r\n", "an array of 99999999999"),
        (b"$-5\r\n", "a bulk string of length -5"),
        (b"$3\r\nabcde", "a bulk string not ended by CR LF"),
        (b":12a\r\n", "\"12a\" is not a number"),
        (b"!oops\r\n", "a reply of type '!'"),
        (b"+no line end\n", "a line not ended by CR LF"),
        (
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            "arrays nested deeper than 6",
        ),
    ];
    for (bytes, want) in cases {
        match parse(bytes) {
            Err(RespError::Protocol(why)) => {
                assert!(
                    why.contains(want),
                    "{:?}: {why}",
                    String::from_utf8_lossy(bytes)
                );
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }
    let long = [b"+".as_slice(), &[b'x'; 5000], b"\r\n"].concat();
    assert!(matches!(parse(&long), Err(RespError::Protocol(w)) if w.contains("longer than 4096")));
    // A connection closed mid-reply is an I/O error, fatal to the connection.
    let cut = parse(b"*2\r\n:1\r\n").unwrap_err();
    assert!(cut.is_fatal() && !cut.is_timeout(), "{cut}");
}

#[test]
fn encodes_commands_as_arrays_of_bulk_strings() {
    let mut out = Vec::new();
    encode(&mut out, &[b"XADD", b"k", b"*", b"a\r\nb", b""]);
    assert_eq!(
        out,
        b"*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$4\r\na\r\nb\r\n$0\r\n\r\n".to_vec()
    );
}

#[test]
fn urls_as_operators_write_them() {
    let u: Url = "redis://node1:s%40cret@redis.example:6380/2"
        .parse()
        .unwrap();
    assert_eq!(
        u.place,
        Place::Tcp {
            host: "redis.example".into(),
            port: 6380
        }
    );
    assert_eq!(
        (u.user.as_deref(), u.password.as_deref(), u.db),
        (Some("node1"), Some("s@cret"), 2)
    );
    // Shown without the password.
    assert_eq!(u.to_string(), "redis://node1:***@redis.example:6380/2");
    assert!(!format!("{u:?}").contains("s@cret"));

    let u: Url = "redis://:pw@[2001:db8::1]".parse().unwrap();
    assert_eq!(
        (u.user.as_deref(), u.password.as_deref()),
        (None, Some("pw"))
    );
    assert_eq!(u.to_string(), "redis://:***@[2001:db8::1]:6379/0");
    let u: Url = "rediss://node1:pw@redis.example.net:6380/2"
        .parse()
        .unwrap();
    assert!(u.tls);
    assert_eq!(u.to_string(), "rediss://node1:***@redis.example.net:6380/2");
    assert!(!"redis://h".parse::<Url>().unwrap().tls);
    let u: Url = "unix:///run/redis/redis.sock?db=3".parse().unwrap();
    assert_eq!(
        (u.place, u.db),
        (Place::Unix("/run/redis/redis.sock".into()), 3)
    );

    for (bad, why) in [
        ("http://x", "must start with redis://"),
        ("redis://", "no host"),
        ("redis://h:0", "the port must be 1 to 65535"),
        ("redis://h:99999", "the port must be 1 to 65535"),
        ("redis://h/x", "the database must be a number"),
        ("redis://u:%zz@h", "bad %-escape in the password"),
        ("unix://relative.sock", "must be absolute"),
        ("rediss://", "no host"),
    ] {
        let err = bad.parse::<Url>().unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// The password file is read at each connection, its first line only, and refused when
/// every user can read it; a group may.
#[test]
fn a_password_file_gives_its_first_line_unless_every_user_can_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.password");
    std::fs::write(&file, "s3cret\nignored\n").unwrap();
    let url: Url = "redis://web-1@r:6379".parse().unwrap();
    let mode = |m: u32| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m));
    for ok in [0o600, 0o640] {
        mode(ok).unwrap();
        let with = url.with_password_file(Some(&file)).unwrap();
        assert_eq!(with.password.as_deref(), Some("s3cret"), "mode {ok:o}");
    }
    mode(0o644).unwrap();
    let err = url.with_password_file(Some(&file)).unwrap_err();
    assert!(
        err.contains("can be read by every user (mode 644)"),
        "{err}"
    );
    assert!(err.contains("chmod o-r"), "{err}");
    let missing = dir.path().join("none");
    let err = url.with_password_file(Some(&missing)).unwrap_err();
    assert!(err.starts_with("cannot read fleet.password-file"), "{err}");
}
