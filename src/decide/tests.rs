//! The decision core driven directly: what a user of `scan` or `run` would see banned,
//! for how long, as what target, and when it is lifted.

use super::*;
use crate::detect::Policy;
use crate::event::{Method, Msg};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;
const DAY: u64 = 24 * 3600;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn failed(addr: IpAddr, port: u16) -> Event<'static> {
    Event {
        time: None,
        kind: Kind::AuthFailure,
        msg: Msg::Failed,
        addr,
        by_pid: false,
        port: Some(port),
        user: Some(b"admin"),
        method: Some(Method::Password),
        count: 1,
        pid: Some(u32::from(port)),
    }
}

fn core(ban: BanPolicy) -> Core {
    Core::new(Policy::default(), ban, Vec::new(), NOW)
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// A core scoring IPv6 addresses by networks of `prefix` bits.
fn core_v6(prefix: u8, policy: Policy) -> Core {
    let policy = Policy {
        ipv6_prefix: prefix,
        ..policy
    };
    Core::new(policy, BanPolicy::default(), Vec::new(), NOW)
}

/// Five failed passwords of `addr`, one connection each, a second apart from `at_ms`.
fn attack(core: &mut Core, addr: IpAddr, at_ms: i64, now_s: i64) -> Orders {
    let mut out = Orders::default();
    for i in 0..5u16 {
        core.observe(
            &failed(addr, 40000 + i),
            at_ms + i64::from(i) * 1000,
            now_s,
            &mut out,
        );
    }
    out
}

#[test]
fn ban_length_escalates_and_caps() {
    let mut b = BanPolicy {
        time_s: 3600,
        factor: 2.0,
        max_s: 5 * 3600,
        ..BanPolicy::default()
    };
    assert_eq!(b.length(1), Some(3600));
    assert_eq!(b.length(2), Some(7200));
    assert_eq!(b.length(3), Some(4 * 3600));
    assert_eq!(b.length(4), Some(5 * 3600));
    assert_eq!(b.length(40), Some(5 * 3600));
    b.permanent_after = 3;
    assert_eq!(b.length(2), Some(7200));
    assert_eq!(b.length(3), None);
}

#[test]
fn targets_follow_the_ipv6_prefix_setting() {
    let v6 = ip("2001:db8:1:2:3:4:5:6");
    let v4 = ip("203.0.113.5");
    let with = |prefix| core_v6(prefix, Policy::default());
    assert_eq!(
        with(128).detector().target(v6).to_string(),
        "2001:db8:1:2:3:4:5:6"
    );
    assert_eq!(
        with(64).detector().target(v6).to_string(),
        "2001:db8:1:2::/64"
    );
    assert_eq!(with(64).detector().target(v4).to_string(), "203.0.113.5");
}

#[test]
fn a_repeat_offender_is_banned_longer_after_the_first_ban_expires() {
    let mut c = core(BanPolicy::default());
    let a = ip("203.0.113.5");
    let first = attack(&mut c, a, NOW * 1000, NOW);
    assert_eq!(first.bans.len(), 1);
    let rec = &first.bans[0];
    assert_eq!((rec.offences, rec.expires_at), (1, Some(NOW + DAY as i64)));
    assert!(rec.reason.contains("5 auth-failure"), "{}", rec.reason);
    // Still banned: more lines change nothing.
    assert!(attack(&mut c, a, NOW * 1000 + 10_000, NOW).bans.is_empty());
    assert!(c.expire(NOW + DAY as i64 - 1).records.is_empty());
    let later = NOW + DAY as i64;
    let lifted = c.expire(later);
    assert_eq!(lifted.targets(), [Cidr::host(a)]);
    assert!(!c.is_banned(&Cidr::host(a)));
    let second = attack(&mut c, a, later * 1000, later);
    let rec = &second.bans[0];
    assert_eq!(
        (rec.offences, rec.expires_at),
        (2, Some(later + 2 * DAY as i64))
    );
}

#[test]
fn known_bans_count_as_offences_and_those_in_force_are_not_banned_again() {
    let a = ip("203.0.113.5");
    let b = ip("198.51.100.7");
    let known = vec![
        BanRecord {
            target: Cidr::host(a),
            banned_at: NOW - 10,
            expires_at: Some(NOW + 100),
            offences: 1,
            reason: "".into(),
            node: None,
        },
        BanRecord {
            target: Cidr::host(b),
            banned_at: NOW - 3 * DAY as i64,
            expires_at: Some(NOW - DAY as i64),
            offences: 3,
            reason: "".into(),
            node: None,
        },
    ];
    let mut c = Core::new(Policy::default(), BanPolicy::default(), known, NOW);
    assert!(attack(&mut c, a, NOW * 1000, NOW).bans.is_empty());
    let out = attack(&mut c, b, NOW * 1000, NOW);
    assert_eq!(out.bans[0].offences, 4);
    assert_eq!(out.bans[0].expires_at, Some(NOW + 8 * DAY as i64));
}

#[test]
fn addresses_of_one_ipv6_network_are_scored_together_and_the_network_is_banned() {
    // Five failures from five addresses of one /64: nothing per address, one attacker
    // per network.
    let hop = |c: &mut Core| {
        let mut out = Orders::default();
        for i in 0..5u16 {
            let a = ip(&format!("2001:db8:1:2::{:x}", 0x100 + i));
            c.observe(
                &failed(a, 40000 + i),
                NOW * 1000 + i64::from(i),
                NOW,
                &mut out,
            );
        }
        out
    };
    assert!(hop(&mut core_v6(128, Policy::default())).bans.is_empty());
    let mut c = core_v6(64, Policy::default());
    let out = hop(&mut c);
    let net = cidr("2001:db8:1:2::/64");
    assert_eq!(out.bans.len(), 1);
    assert_eq!(out.bans[0].target, net);
    assert!(
        out.bans[0].reason.contains("last 2001:db8:1:2::104"),
        "{}",
        out.bans[0].reason
    );
    assert_eq!(c.orders().len(), 1);
    // Banned as a whole: its other addresses add nothing.
    assert!(
        attack(&mut c, ip("2001:db8:1:2::9"), NOW * 1000 + 10, NOW)
            .bans
            .is_empty()
    );
    let lifted = c.expire(NOW + DAY as i64);
    assert_eq!(lifted.targets(), [net]);
    assert!(c.orders().is_empty());
}

#[test]
fn an_ipv6_network_holding_an_exempt_address_is_spared_not_banned() {
    let owner = ip("2001:db8:1:2::1");
    let allow = Policy {
        allowlist: crate::addr::Allowlist::new([Cidr::host(owner)]),
        ..Policy::default()
    };
    let mut c = core_v6(64, allow);
    let out = attack(&mut c, ip("2001:db8:1:2::66"), NOW * 1000, NOW);
    assert!(out.bans.is_empty(), "{:?}", out.bans);
    assert!(
        matches!(
            out.notices.as_slice(),
            [Notice::Spared {
                why: Exemption::HoldsAllowlisted(_),
                ..
            }]
        ),
        "{:?}",
        out.notices
    );
    // A recent login inside the network protects it too: the owner's /64 is not banned
    // because of a neighbour's failures.
    let mut c = core_v6(64, Policy::default());
    let mut out = Orders::default();
    let mut ok = failed(owner, 50000);
    ok.kind = Kind::Success;
    ok.msg = Msg::Accepted;
    c.observe(&ok, NOW * 1000, NOW, &mut out);
    let out = attack(&mut c, ip("2001:db8:1:2::66"), NOW * 1000 + 1000, NOW);
    assert!(out.bans.is_empty());
    match out.notices.as_slice() {
        [
            Notice::Spared {
                why: Exemption::Holds(a, w),
                ..
            },
        ] => {
            assert_eq!(*a, owner);
            assert!(matches!(**w, Exemption::TrustedLogin(_)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn networks_are_banned_by_hand_unless_they_hold_a_protected_address() {
    let local = [ip("192.0.2.1")];
    let policy = Policy {
        allowlist: crate::addr::Allowlist::new([cidr("10.1.0.0/16")]),
        ..Policy::default()
    };
    let mut c = Core::new(policy, BanPolicy::default(), Vec::new(), NOW);
    for (net, why) in [
        (
            "192.0.2.0/24",
            "it holds 192.0.2.1 (an address of this host)",
        ),
        ("127.0.0.0/8", "it holds 127.0.0.0 (loopback)"),
        ("10.0.0.0/8", "it overlaps allowlisted 10.1.0.0/16"),
        ("10.1.2.0/24", "allowlisted by 10.1.0.0/16"),
        ("10.1.2.3", "allowlisted by 10.1.0.0/16"),
    ] {
        let refusal = c
            .plan_ban_by_hand(cidr(net), Length::Policy, &local, NOW)
            .unwrap_err();
        assert_eq!(refusal.to_string(), format!("refusing to ban {net}: {why}"));
    }
    let net = cidr("198.51.100.0/24");
    let ban = c
        .plan_ban_by_hand(net, Length::Permanent, &local, NOW)
        .unwrap();
    assert_eq!((ban.target, ban.expires_at), (net, None));
    c.impose(ban);
    assert_eq!(c.orders()[0].target, net);
    // An address of it is not banned by itself: unban names the network to lift.
    let inside = cidr("198.51.100.7");
    assert_eq!(
        c.plan_unban(inside, NOW),
        Err(Refusal::InsideNetwork(inside, net))
    );
    assert!(c.plan_unban(net, NOW + 1).is_ok());
    assert_eq!(c.lift(&[net]), [net]);
    assert!(c.orders().is_empty());
}

#[test]
fn a_ban_the_allowlist_now_covers_is_planned_for_lifting() {
    let a = ip("203.0.113.5");
    let mut c = core(BanPolicy::default());
    let net = cidr("203.0.113.0/24");
    c.impose(
        c.plan_ban_by_hand(net, Length::Permanent, &[], NOW)
            .unwrap(),
    );
    assert!(
        !attack(&mut c, ip("198.51.100.9"), NOW * 1000, NOW)
            .bans
            .is_empty()
    );
    assert!(c.plan_lift_protected(NOW).is_empty());
    c.set_policy(
        Policy {
            allowlist: crate::addr::Allowlist::new([Cidr::host(a)]),
            ..Policy::default()
        },
        BanPolicy::default(),
    );
    let planned = c.plan_lift_protected(NOW + 5);
    assert_eq!(planned.len(), 1);
    let (rec, why) = &planned[0];
    assert_eq!((rec.target, rec.expires_at), (net, Some(NOW + 5)));
    assert_eq!(why.to_string(), "it overlaps allowlisted 203.0.113.5");
}

#[test]
fn bans_by_hand_follow_the_policy_refuse_this_host_and_are_lifted_by_unban() {
    let mut c = core(BanPolicy::default());
    let a = ip("203.0.113.9");
    let local = [ip("192.0.2.1")];
    for own in [ip("127.0.0.1"), ip("::1"), ip("0.0.0.0"), local[0]] {
        assert!(matches!(
            c.plan_ban_by_hand(Cidr::host(own), Length::Policy, &local, NOW),
            Err(Refusal::Protected(t, _)) if t == Cidr::host(own)
        ));
    }
    let planned = c
        .plan_ban_by_hand(Cidr::host(a), Length::Policy, &local, NOW)
        .unwrap();
    assert_eq!(planned.expires_at, Some(NOW + DAY as i64));
    // Planning changes nothing until the ban is imposed.
    assert!(!c.is_banned(&Cidr::host(a)));
    c.impose(planned);
    assert!(c.is_banned(&Cidr::host(a)));
    assert!(attack(&mut c, a, NOW * 1000, NOW).bans.is_empty());
    let forever = c
        .plan_ban_by_hand(Cidr::host(a), Length::Permanent, &local, NOW)
        .unwrap();
    assert_eq!((forever.offences, forever.expires_at), (2, None));
    c.impose(forever);
    assert!(
        c.expire(i64::MAX).records.is_empty(),
        "a permanent ban never expires"
    );
    let host = Cidr::host(a);
    let rec = c.plan_unban(host, NOW + 5).unwrap();
    assert_eq!(rec.expires_at, Some(NOW + 5));
    assert_eq!(c.lift(&[host]), [host]);
    assert_eq!(c.plan_unban(host, NOW + 6), Err(Refusal::NotBanned(host)));
    // Unbanned, it can be banned again by its next attack.
    assert_eq!(
        attack(&mut c, a, NOW * 1000 + 100_000, NOW + 100)
            .bans
            .len(),
        1
    );
}

#[test]
fn exempt_addresses_are_noticed_not_banned() {
    let policy = Policy {
        allowlist: crate::addr::Allowlist::new(["198.51.100.0/24".parse().unwrap()]),
        ..Policy::default()
    };
    let mut c = Core::new(policy, BanPolicy::default(), Vec::new(), NOW);
    let out = attack(&mut c, ip("198.51.100.4"), NOW * 1000, NOW);
    assert!(out.bans.is_empty());
    assert!(matches!(
        out.notices.as_slice(),
        [Notice::Spared {
            why: Exemption::Allowlisted(_),
            ..
        }]
    ));
}

/// One step of a random history: failures of one of a few addresses, or time passing.
#[derive(Debug, Clone)]
enum Step {
    Fail { who: u8, port: u16 },
    Wait { secs: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, 1000u16..1100).prop_map(|(who, port)| Step::Fail { who, port }),
        1 => (1u32..200_000).prop_map(|secs| Step::Wait { secs }),
    ]
}

fn who(n: u8) -> IpAddr {
    match n {
        0 => ip("203.0.113.1"),
        1 => ip("203.0.113.2"),
        2 => ip("2001:db8:1:2::1"),
        3 => ip("2001:db8:1:2::2"),
        4 => ip("127.0.0.1"),
        _ => ip("2001:db8:9::1"),
    }
}

/// Runs `steps`, expiring bans whenever time passes (as the daemon's tick does), and
/// returns every ban imposed with the time it was imposed.
fn replay(steps: &[Step], ban: &BanPolicy, prefix: u8) -> Vec<(i64, BanRecord)> {
    let mut c = Core::new(
        Policy {
            ipv6_prefix: prefix,
            ..Policy::default()
        },
        ban.clone(),
        Vec::new(),
        NOW,
    );
    let mut now = NOW;
    let mut out = Vec::new();
    for s in steps {
        match *s {
            Step::Fail { who: w, port } => {
                let mut orders = Orders::default();
                c.observe(&failed(who(w), port), now * 1000, now, &mut orders);
                for b in orders.bans {
                    out.push((now, b));
                }
            }
            Step::Wait { secs } => {
                now += i64::from(secs);
                c.expire(now);
            }
        }
        // What the backends hold is exactly the targets of the bans in force.
        let mut targets: Vec<Cidr> = c.active().map(|b| b.target).collect();
        targets.sort();
        let held: Vec<Cidr> = c.orders().into_iter().map(|o| o.target).collect();
        assert_eq!(held, targets);
    }
    out
}

proptest! {
    #[test]
    fn bans_escalate_never_overlap_and_spare_loopback(
        steps in proptest::collection::vec(step(), 0..300),
        prefix in prop_oneof![Just(128u8), Just(64u8)],
    ) {
        let ban = BanPolicy::default();
        let bans = replay(&steps, &ban, prefix);
        let mut last: HashMap<Cidr, (u32, Option<i64>)> = HashMap::new();
        for (at, rec) in &bans {
            prop_assert!(!rec.target.contains(ip("127.0.0.1")), "loopback banned");
            // IPv6 addresses are banned as their network under prefix scoring.
            let first = rec.target.net().network();
            let expected = match first {
                IpAddr::V6(_) => Cidr::network(first, prefix).unwrap(),
                IpAddr::V4(_) => Cidr::host(first),
            };
            prop_assert_eq!(rec.target, expected);
            prop_assert_eq!(rec.expires_at, ban.length(rec.offences).map(|l| at + l as i64));
            if let Some((offences, expires)) = last.get(&rec.target) {
                prop_assert_eq!(rec.offences, offences + 1);
                // Never banned again while a ban of the same address is in force.
                prop_assert!(expires.is_some_and(|t| t <= *at));
            } else {
                prop_assert_eq!(rec.offences, 1);
            }
            last.insert(rec.target, (rec.offences, rec.expires_at));
        }
    }
}

#[test]
fn what_a_backend_holds_without_a_record_is_adopted_and_an_expired_ban_is_not() {
    let expired = BanRecord {
        target: Cidr::host(ip("192.0.2.10")),
        banned_at: NOW - 10 * DAY as i64,
        expires_at: Some(NOW - 9 * DAY as i64),
        offences: 1,
        reason: "old".into(),
        node: None,
    };
    let mut c = Core::new(
        Policy {
            ipv6_prefix: 64,
            ..Policy::default()
        },
        BanPolicy::default(),
        vec![expired],
        NOW,
    );
    let net: Cidr = "2001:db8:1:2::/64".parse().unwrap();
    let held = [
        (Cidr::host(ip("192.0.2.10")), Remaining::Unknown),
        (Cidr::host(ip("198.51.100.4")), Remaining::Until(NOW + 3600)),
        (net, Remaining::Unknown),
        (Cidr::host(ip("203.0.113.1")), Remaining::Permanent),
    ];
    let adopted = c.adopt(&held, NOW, "nftables");
    let got: Vec<(Cidr, Option<i64>)> = adopted.iter().map(|b| (b.target, b.expires_at)).collect();
    // The expired ban stays lifted; the others keep the time the backend gave, or get
    // the first ban's length.
    assert_eq!(
        got,
        [
            (Cidr::host(ip("198.51.100.4")), Some(NOW + 3600)),
            (net, Some(NOW + DAY as i64)),
            (Cidr::host(ip("203.0.113.1")), None),
        ]
    );
    assert!(adopted[0].reason.contains("adopted from nftables"));
    let mut targets: Vec<Cidr> = c.orders().into_iter().map(|o| o.target).collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            Cidr::host(ip("198.51.100.4")),
            Cidr::host(ip("203.0.113.1")),
            net
        ]
    );
    // Known now: adopting again adds nothing.
    assert!(c.adopt(&held, NOW + 1, "nftables").is_empty());
}

/// A blocklist imported: new entries banned with the list's name, protected ones refused
/// as by hand, duplicates counted once; imported again, a ban that already lasts as long is
/// kept, a shorter one extended as the same ban, and none is ever shortened.
#[test]
fn an_import_bans_new_entries_extends_shorter_bans_and_shortens_none() {
    let local = [ip("192.0.2.1")];
    let policy = Policy {
        allowlist: crate::addr::Allowlist::new([cidr("10.1.0.0/16")]),
        ..Policy::default()
    };
    let mut c = Core::new(policy, BanPolicy::default(), Vec::new(), NOW);
    // A detected ban, for the policy's day.
    let detected = attack(&mut c, ip("203.0.113.9"), NOW * 1000, NOW).bans;
    c.impose(detected[0].clone());
    let list = [
        "203.0.113.9",
        "198.51.100.0/24",
        "10.1.2.3",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "100.0.0.0/6",
    ]
    .map(cidr);

    let (records, tally) = c.plan_import(&list, Some(3600), "drop.txt", &local, NOW + 10);
    assert_eq!(
        tally,
        ImportTally {
            banned: 1,
            extended: 0,
            kept: 1,
            duplicates: 1,
            refused: vec![
                "refusing to ban 10.1.2.3: allowlisted by 10.1.0.0/16".into(),
                "refusing to ban 192.0.2.0/24: it holds 192.0.2.1 (an address of this host)".into(),
                "refusing to ban 100.0.0.0/6: wider than /8".into(),
            ],
        }
    );
    assert_eq!(records.len(), 1);
    let net = &records[0];
    assert_eq!(net.target, cidr("198.51.100.0/24"));
    assert_eq!(net.expires_at, Some(NOW + 10 + 3600));
    assert_eq!(&*net.reason, "imported from drop.txt");
    for r in records {
        c.impose(r);
    }

    // A day later, for two days: both extended, each keeping its start and reason.
    let later = NOW + 10 + 86_400;
    let (records, tally) = c.plan_import(&list[..2], Some(2 * 86_400), "drop.txt", &local, later);
    assert_eq!((tally.banned, tally.extended, tally.kept), (0, 2, 0));
    for r in &records {
        assert_eq!(r.expires_at, Some(later + 2 * 86_400));
    }
    let old = records
        .iter()
        .find(|r| r.target == cidr("203.0.113.9"))
        .unwrap();
    assert_eq!(old.banned_at, detected[0].banned_at);
    assert_eq!(old.reason, detected[0].reason);
    for r in records {
        c.impose(r);
    }
    // For an hour: nothing to do. Permanently: extended to no end.
    let (records, tally) = c.plan_import(&list[..2], Some(3600), "drop.txt", &local, later + 1);
    assert_eq!((records.len(), tally.kept), (0, 2));
    let (records, tally) = c.plan_import(&list[..2], None, "drop.txt", &local, later + 2);
    assert_eq!(tally.extended, 2);
    assert!(records.iter().all(|r| r.expires_at.is_none()));
}

fn remote<'a>(target: &str, until: Option<i64>, node: &'a str) -> Remote<'a> {
    Remote {
        target: cidr(target),
        until,
        node,
        reason: "score 6.0 within 10m",
    }
}

#[test]
fn a_remote_ban_is_capped_refused_when_protected_and_never_replaces_a_local_one() {
    let allowed = ip("198.51.100.1");
    let mut c = Core::new(
        Policy {
            allowlist: crate::addr::Allowlist::new([Cidr::host(allowed)]),
            ..Policy::default()
        },
        BanPolicy::default(),
        Vec::new(),
        NOW,
    );
    let local = [ip("192.0.2.1")];
    // Capped at max-remote-time, tagged with its node.
    let b = c
        .plan_remote(&remote("203.0.113.5", None, "web-2"), 3600, &local, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(b.expires_at, Some(NOW + 3600));
    assert_eq!(b.node.as_deref(), Some("web-2"));
    assert_eq!(&*b.reason, "fleet: web-2: score 6.0 within 10m");
    c.impose(b);
    // A shorter or equal one is kept; a longer one extends, up to the cap.
    let again = remote("203.0.113.5", Some(NOW + 60), "web-3");
    assert_eq!(c.plan_remote(&again, 3600, &local, NOW), Ok(None));
    let longer = c
        .plan_remote(&remote("203.0.113.5", None, "web-3"), 7200, &local, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(
        (longer.expires_at, longer.offences, longer.node.as_deref()),
        (Some(NOW + 7200), 1, Some("web-3"))
    );
    // The allowlist and this host win; an ended ban does nothing.
    for (target, why) in [
        ("198.51.100.1", "allowlisted"),
        ("192.0.2.0/24", "this host"),
    ] {
        let err = c
            .plan_remote(&remote(target, None, "web-2"), 3600, &local, NOW)
            .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    assert_eq!(
        c.plan_remote(
            &remote("203.0.113.9", Some(NOW), "web-2"),
            3600,
            &local,
            NOW
        ),
        Ok(None)
    );
    // A ban decided here is not replaced, so no remote unban can reach it.
    let mine = c
        .plan_ban_by_hand(cidr("203.0.113.7"), Length::Seconds(60), &[], NOW)
        .unwrap();
    c.impose(mine);
    assert_eq!(
        c.plan_remote(&remote("203.0.113.7", None, "web-2"), 3600, &local, NOW),
        Ok(None)
    );
    assert_eq!(
        c.plan_remote_unban(cidr("203.0.113.7"), "web-2", true, NOW),
        None
    );
}

#[test]
fn a_remote_unban_lifts_only_its_own_node_s_ban_unless_fleet_wide() {
    let mut c = core(BanPolicy::default());
    let b = c
        .plan_remote(&remote("203.0.113.5", None, "web-2"), 3600, &[], NOW)
        .unwrap()
        .unwrap();
    c.impose(b);
    let t = cidr("203.0.113.5");
    assert_eq!(c.plan_remote_unban(t, "web-3", false, NOW), None);
    let lifted = c.plan_remote_unban(t, "web-2", false, NOW + 5).unwrap();
    assert_eq!(lifted.expires_at, Some(NOW + 5));
    assert!(c.plan_remote_unban(t, "web-3", true, NOW).is_some());
    assert_eq!(
        c.plan_remote_unban(cidr("203.0.113.6"), "web-2", true, NOW),
        None
    );
}
