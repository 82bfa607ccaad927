//! The configuration file: the example loads, settings resolve in the
//! documented order, and each kind of mistake is reported at its place.

use super::*;
use crate::auth::{Origin, Rights};
use crate::storage::VirtualPath;

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    let source = Source::new("test.toml", text);
    let file = parse(&source)?;
    build(&file, &source, &BuildOptions::default())
}

/// The single error of `text`, as (line, column, message).
fn mistake(text: &str) -> (usize, usize, String) {
    let errors = load(text).expect_err("the configuration should be refused").0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    (e.line, e.column, e.message.clone())
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$E2wou/Di4kobaT7yrREdGA$Cln0qksjjN2V2wPwrElNtJUeC4RdUbCtz42FsScCOoE";

#[test]
fn the_example_loads() {
    let loaded = load(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.server.max_connections, Some(500));
    assert!(loaded.server.banner.contains("Example Corp"));
    assert_eq!(loaded.server.login_timeout, std::time::Duration::from_secs(60));
    assert_eq!(loaded.server.stall_timeout, std::time::Duration::from_secs(120));
    let login = &loaded.server.login;
    assert_eq!((login.ban_after, login.ban_time), (10, std::time::Duration::from_secs(3600)));
    assert_eq!(login.max_failure_delay, std::time::Duration::from_secs(8));
    assert!(login.exempt[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
    let alice = loaded.directory.get("alice").expect("alice");
    assert_eq!(alice.groups, ["staff"]);
    assert_eq!(alice.settings.download_limit.value, Some(100 << 20));
    assert_eq!(alice.settings.download_limit.from, Origin::Group("staff".into()));
    assert_eq!(alice.settings.max_sessions.value, Some(4));
    assert_eq!(alice.settings.max_sessions.from, Origin::Defaults);
    assert_eq!(alice.rights.at(&VirtualPath::root().join("/shared/archive/2024")), Rights::READ_ONLY);
    assert_eq!(alice.rights.at(&VirtualPath::root().join("/shared/reports/q1")), Rights::FULL);
    assert_eq!(alice.rights.at(&VirtualPath::root().join("/docs")), Rights::FULL);
    let bob = loaded.directory.get("bob").expect("bob");
    assert_eq!(bob.settings.download_limit.from, Origin::User);
    assert!(!bob.settings.ip_filter.value.permits("192.0.2.1".parse().unwrap()));
    assert!(loaded.directory.get("carol").expect("carol").disabled);
    let anon = loaded.directory.get("ftp").expect("anonymous");
    assert_eq!(anon.rights.at(&VirtualPath::root().join("/incoming")), Rights::DROP_BOX);
}

#[test]
fn user_settings_win_over_groups_over_defaults() {
    let text = format!(
        r#"
[defaults]
upload_limit = "1 MiB/s"
download_limit = "1 MiB/s"
max_sessions = 2
[groups.a]
upload_limit = "2 MiB/s"
download_limit = "2 MiB/s"
[groups.b]
upload_limit = "3 MiB/s"
max_sessions = 9
[users.u]
password = "{HASH}"
groups = ["b", "a"]
download_limit = "4 MiB/s"
home = "/tmp"
"#
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let u = &loaded.directory.get("u").expect("u").settings;
    assert_eq!(u.download_limit.value, Some(4 << 20));
    assert_eq!(u.download_limit.from, Origin::User);
    assert_eq!(u.upload_limit.value, Some(3 << 20), "the first group listed wins");
    assert_eq!(u.upload_limit.from, Origin::Group("b".into()));
    assert_eq!(u.max_sessions.value, Some(9));
    assert_eq!(u.login_message.from, Origin::BuiltIn);
}

#[test]
fn group_folders_merge_with_user_overrides() {
    let text = format!(
        r#"
[groups.g.folders]
"/data" = {{ path = "/tmp", rights = "list, read, write" }}
"/data/frozen" = {{ rights = ["list", "read"] }}
[users.u]
password = "{HASH}"
groups = ["g"]
[users.u.folders]
"/data/frozen/mine" = {{ rights = "all" }}
"#
    );
    let loaded = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let u = loaded.directory.get("u").expect("u");
    let at = |p: &str| u.rights.at(&VirtualPath::root().join(p));
    assert_eq!(at("/data/x"), Rights { write: true, ..Rights::READ_ONLY });
    assert_eq!(at("/data/frozen/y"), Rights::READ_ONLY);
    assert_eq!(at("/data/frozen/mine/z"), Rights::FULL);
    assert_eq!(at("/elsewhere"), Rights::NONE);
    assert_eq!(u.mounts.len(), 1);
}

#[test]
fn mistakes_are_reported_at_their_line_and_column() {
    // 1. TOML syntax.
    let (l, c, m) = mistake("[server]\nlisten = [\"127.0.0.1:21\"\n");
    assert_eq!(l, 2, "{m}");
    assert!(c > 1);
    // 2. An unknown key names the known ones.
    let (l, c, m) = mistake("[server]\nlisten = []\nmax_conections = 5\n");
    assert_eq!((l, c), (3, 1));
    assert!(m.contains("unknown field `max_conections`") && m.contains("max_connections"), "{m}");
    // 3. An unknown section.
    let (l, _, m) = mistake("[servr]\n");
    assert_eq!(l, 1);
    assert!(m.contains("servr"), "{m}");
    // 4. A malformed size.
    let (l, c, m) = mistake("[defaults]\nquota = { bytes = \"10 GB/s\" }\n");
    assert_eq!((l, c), (2, 19));
    assert!(m.contains("invalid size") && m.contains("10 GiB"), "{m}");
    // 5. A malformed rate.
    let (l, c, m) = mistake("[server]\nupload_limit = \"fast\"\n");
    assert_eq!((l, c), (2, 16));
    assert!(m.contains("invalid rate") && m.contains("2 MiB/s"), "{m}");
    // 6. A malformed address range.
    let (l, c, m) = mistake("[server]\ndeny = [\"10.0.0.0/33\"]\n");
    assert_eq!((l, c), (2, 8));
    assert!(m.contains("invalid address range"), "{m}");
    // 7. An unknown right.
    let (l, _, m) = mistake("[defaults.folders]\n\"/\" = { path = \"/tmp\", rights = [\"upload\"] }\n");
    assert_eq!(l, 2);
    assert!(m.contains("unknown right \"upload\"") && m.contains("write"), "{m}");
    // 8. A port range below 1024.
    let (l, c, m) = mistake("[passive]\nports = \"20-21\"\n");
    assert_eq!((l, c), (2, 9));
    assert!(m.contains("FIRST-LAST"), "{m}");
    // 9. An unknown group.
    let (l, c, m) =
        mistake(&format!("[groups.staff]\n[users.u]\npassword = \"{HASH}\"\nhome = \"/tmp\"\ngroups = [\"staf\"]\n"));
    assert_eq!((l, c), (5, 11));
    assert!(m.contains("unknown group \"staf\"") && m.contains("staff"), "{m}");
    // 10. A clear-text password.
    let (l, c, m) = mistake("[users.u]\npassword = \"hunter2\"\nhome = \"/tmp\"\n");
    assert_eq!((l, c), (2, 12));
    assert!(m.contains("ferroftp passwd"), "{m}");
    // 11. A user without folders.
    let (l, c, m) = mistake(&format!("[users.u]\npassword = \"{HASH}\"\n"));
    assert_eq!((l, c), (1, 8));
    assert!(m.contains("no folders") && m.contains("home ="), "{m}");
    // 12. A relative folder key.
    let (l, c, m) = mistake(&format!(
        "[users.u]\npassword = \"{HASH}\"\nhome = \"/tmp\"\nfolders.\"data\" = {{ path = \"/tmp\", rights = \"all\" }}\n"
    ));
    assert_eq!((l, c), (4, 9));
    assert!(m.contains("absolute path"), "{m}");
    // 13. Rights for a folder outside every mount (reported once for the group's two members).
    let member = |n: &str| {
        format!(
            "[users.{n}]\npassword = \"{HASH}\"\ngroups = [\"g\"]\nfolders.\"/data\" = {{ path = \"/tmp\", rights = \"all\" }}\n"
        )
    };
    let (l, c, m) =
        mistake(&format!("[groups.g.folders]\n\"/x\" = {{ rights = \"all\" }}\n{}{}", member("v"), member("w")));
    assert_eq!((l, c), (2, 1));
    assert!(m.contains("no path"), "{m}");
    // 14. A wrong value type.
    let (l, c, m) = mistake("[server]\nmax_connections = \"many\"\n");
    assert_eq!((l, c), (2, 19));
    assert!(m.contains("expected u32"), "{m}");
    // 15. A TLS requirement without TLS.
    let (l, _, m) = mistake(&format!("[users.u]\npassword = \"{HASH}\"\nhome = \"/tmp\"\ntls = \"required\"\n"));
    assert_eq!(l, 1);
    assert!(m.contains("TLS is off"), "{m}");
    // 16. A certificate without its key.
    let (l, _, m) = mistake("[tls]\ncert = \"c.pem\"\n");
    assert_eq!(l, 2);
    assert!(m.contains("without tls.key"), "{m}");
    // 17. A misspelt enumeration value.
    let (l, c, m) = mistake("[anonymous]\naccess = \"readonly\"\n");
    assert_eq!((l, c), (2, 10));
    assert!(m.contains("read") && m.contains("write"), "{m}");
    // 18. A folder named like the server's staging folders.
    let (l, c, m) = mistake(&format!(
        "[users.u]\npassword = \"{HASH}\"\nhome = \"/tmp\"\nfolders.\"/.ferroftp-x\" = {{ path = \"/tmp\", rights = \"all\" }}\n"
    ));
    assert_eq!((l, c), (4, 9));
    assert!(m.contains("reserved"), "{m}");
    // 19. A rate of nothing (a minimum rate is turned off with min_rate_window = 0).
    let (l, _, m) = mistake("[server]\nmin_transfer_rate = 0\n");
    assert_eq!(l, 2);
    assert!(m.contains("invalid rate"), "{m}");
}

#[test]
fn all_mistakes_are_reported_together() {
    let text = format!(
        "[users.a]\npassword = \"x\"\nhome = \"/tmp\"\n[users.b]\npassword = \"{HASH}\"\ngroups = [\"nope\"]\nhome = \"/tmp\"\n"
    );
    let errors = load(&text).expect_err("refused").0;
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 6]);
    let shown = ConfigErrors(errors).to_string();
    assert!(shown.starts_with("error: test.toml:2:12: password must be an argon2 hash"), "{shown}");
}

#[test]
fn folders_must_exist_when_checked() {
    let source = Source::new("t.toml", format!("[users.u]\npassword = \"{HASH}\"\nhome = \"/no/such/dir\"\n"));
    let file = parse(&source).expect("parses");
    let options = BuildOptions { check_paths: true, ..BuildOptions::default() };
    let errors = build(&file, &source, &options).expect_err("refused").0;
    assert_eq!((errors[0].line, errors[0].column), (3, 8));
    assert!(errors[0].message.contains("does not exist"), "{}", errors[0].message);
}

#[test]
fn the_readme_configuration_loads() {
    let readme = include_str!("../../../../README.md");
    let start = readme.find("# /etc/ferroftp.toml").expect("the README shows a configuration");
    let end = start + readme[start..].find("```").expect("end of the block");
    let text = readme[start..end].replace("$argon2id$v=19$m=19456,t=2,p=1$...", HASH);
    let loaded = load(&text).unwrap_or_else(|e| panic!("README configuration: {e}"));
    let bob = loaded.directory.get("bob").expect("bob");
    assert!(bob.rights.at(&VirtualPath::root().join("/upload/x")).write);
    assert_eq!(loaded.directory.anonymous().expect("anonymous").settings.tls_required.value, Some(false));
}
