//! Directory listings: `LIST` lines in the Unix `ls -l` style, `NLST` names, and
//! RFC 3659 §7 machine-readable facts for `MLSD`/`MLST`.

use crate::timeval;
use std::time::{Duration, SystemTime};

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    /// The first character of an `ls -l` mode string.
    pub fn ls_char(self) -> char {
        match self {
            FileKind::File => '-',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::CharDevice => 'c',
            FileKind::BlockDevice => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
        }
    }

    fn from_ls_char(c: char) -> Option<Self> {
        Some(match c {
            '-' => FileKind::File,
            'd' => FileKind::Dir,
            'l' => FileKind::Symlink,
            'c' => FileKind::CharDevice,
            'b' => FileKind::BlockDevice,
            'p' => FileKind::Fifo,
            's' => FileKind::Socket,
            _ => return None,
        })
    }
}

/// One directory entry, as much as any listing format can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: FileKind,
    pub size: u64,
    pub modified: SystemTime,
    /// Permission bits, including setuid/setgid/sticky (`0o7777` at most).
    pub mode: u32,
    pub nlink: u64,
    pub owner: String,
    pub group: String,
    /// Where a symbolic link points, shown as `name -> target` in `LIST`.
    pub link_target: Option<String>,
    /// RFC 3659 §7.5.2 `unique` fact: stable for the life of the file.
    pub unique: Option<String>,
    /// RFC 3659 §7.5.5 `perm` fact, computed from the session's rights.
    pub perm: Option<String>,
}

/// Six months, the age past which `ls -l` shows a year instead of a time.
const SIX_MONTHS: Duration = Duration::from_secs(15_778_476);

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The `ls -l` mode string, e.g. `drwxr-xr-x` or `-rwsr-x--T`.
pub fn mode_string(kind: FileKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(kind.ls_char());
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, set_x, set_no_x)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let rwx = (mode >> shift) & 7;
        s.push(if rwx & 4 != 0 { 'r' } else { '-' });
        s.push(if rwx & 2 != 0 { 'w' } else { '-' });
        let x = rwx & 1 != 0;
        s.push(match (mode & bit != 0, x) {
            (true, true) => *set_x,
            (true, false) => *set_no_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn parse_mode_string(s: &str) -> Option<(FileKind, u32)> {
    let c: Vec<char> = s.chars().collect();
    if c.len() != 10 {
        return None;
    }
    let kind = FileKind::from_ls_char(c[0])?;
    let mut mode = 0;
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, set_x, set_no_x)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let (r, w, x) = (c[1 + 3 * i], c[2 + 3 * i], c[3 + 3 * i]);
        match r {
            'r' => mode |= 4 << shift,
            '-' => {}
            _ => return None,
        }
        match w {
            'w' => mode |= 2 << shift,
            '-' => {}
            _ => return None,
        }
        match x {
            'x' => mode |= 1 << shift,
            '-' => {}
            x if x == *set_x => mode |= (1 << shift) | bit,
            x if x == *set_no_x => mode |= bit,
            _ => return None,
        }
    }
    Some((kind, mode))
}

/// The date column of `ls -l`: `Mon DD HH:MM` for times within six months of
/// `now`, `Mon DD  YYYY` otherwise (as vsftpd and GNU ls print them).
pub fn list_date(modified: SystemTime, now: SystemTime) -> String {
    let t = timeval::to_utc(modified);
    let month = MONTHS[usize::from(u8::from(t.month())) - 1];
    if is_recent(modified, now) {
        format!("{month} {:02} {:02}:{:02}", t.day(), t.hour(), t.minute())
    } else {
        format!("{month} {:02}  {:04}", t.day(), t.year())
    }
}

fn is_recent(modified: SystemTime, now: SystemTime) -> bool {
    let lower = now.checked_sub(SIX_MONTHS).unwrap_or(SystemTime::UNIX_EPOCH);
    modified > lower && modified <= now + Duration::from_secs(3600)
}

/// One `LIST` line without CRLF, in vsftpd's layout:
/// `drwxr-xr-x    2 1000     1000         4096 Mar 03 12:01 name`.
pub fn unix_line(e: &Entry, now: SystemTime) -> String {
    let mut line = format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}",
        mode_string(e.kind, e.mode),
        e.nlink,
        e.owner,
        e.group,
        e.size,
        list_date(e.modified, now),
        e.name
    );
    if let Some(target) = &e.link_target {
        line.push_str(" -> ");
        line.push_str(target);
    }
    line
}

/// Parses a Unix `ls -l` line as written by [`unix_line`] and by the Unix-style
/// servers in use (vsftpd, pure-ftpd, ProFTPD, FileZilla Server, GNU `ls`).
///
/// Accepted variations: a trailing ACL or SELinux mark on the mode (`+`, `.`,
/// `@`); no link count; no group column; device files, whose size column is
/// `major, minor` (size 0 here); `Mon DD HH:MM` and `Mon DD  YYYY` dates.
/// `now` resolves the year of `Mon DD HH:MM` dates (the most recent such date
/// not more than a day in the future). The parsed time is as precise as the
/// listing: to the minute for recent files, to the day for old ones.
pub fn parse_unix_line(line: &str, now: SystemTime) -> Option<Entry> {
    // (start, token) pairs of the space-separated columns.
    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c == ' ', start) {
            (true, Some(s)) => {
                tokens.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        if tokens.len() == 12 {
            break;
        }
    }
    if let Some(s) = start {
        tokens.push((s, &line[s..]));
    }
    let mode_token = tokens.first()?.1;
    let mode_token = mode_token.strip_suffix(['+', '.', '@']).unwrap_or(mode_token);
    let (kind, mode) = parse_mode_string(mode_token)?;
    // The date is the first `Mon DD TIME|YEAR` triple after the size column.
    let date_at = (2..tokens.len().saturating_sub(2)).find(|&i| {
        month_number(tokens[i].1).is_some()
            && tokens[i + 1].1.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
            && tokens[i - 1].1.bytes().all(|b| b.is_ascii_digit())
    })?;
    let (time_start, year_or_time) = tokens[date_at + 2];
    let month = month_number(tokens[date_at].1)?;
    let day: u8 = tokens[date_at + 1].1.parse().ok()?;
    let size_at = date_at - 1;
    let device = size_at >= 2 && tokens[size_at - 1].1.ends_with(',');
    let size = if device { 0 } else { tokens[size_at].1.parse().ok()? };
    let mut ids: Vec<&str> = tokens[1..if device { size_at - 1 } else { size_at }].iter().map(|t| t.1).collect();
    let nlink = match ids.first().map(|f| f.parse::<u64>()) {
        Some(Ok(n)) if ids.len() > 1 => {
            ids.remove(0);
            n
        }
        _ => 1,
    };
    let (owner, group) = match ids.as_slice() {
        [owner, group] => (owner.to_string(), group.to_string()),
        [owner] => (owner.to_string(), String::new()),
        [] => (String::new(), String::new()),
        _ => return None,
    };
    // Exactly one space separates the date from the name; the name keeps any
    // further leading spaces.
    let name_part = line[time_start + year_or_time.len()..].strip_prefix(' ')?;
    let (name, link_target) = match (kind, name_part.split_once(" -> ")) {
        (FileKind::Symlink, Some((n, t))) => (n.to_string(), Some(t.to_string())),
        _ => (name_part.to_string(), None),
    };
    if name.is_empty() {
        return None;
    }
    let modified = if let Some((h, m)) = year_or_time.split_once(':') {
        let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
        let this_year = timeval::to_utc(now).year();
        let at = |year: i32| calendar_time(year, month, day, h, m);
        match at(this_year) {
            Some(t) if t <= now + Duration::from_secs(86_400) => t,
            _ => at(this_year - 1)?,
        }
    } else {
        calendar_time(year_or_time.parse().ok()?, month, day, 0, 0)?
    };
    Some(Entry { name, kind, size, modified, mode, nlink, owner, group, link_target, unique: None, perm: None })
}

fn month_number(name: &str) -> Option<u8> {
    u8::try_from(MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?).ok().map(|m| m + 1)
}

/// A UTC calendar time, if it exists and is not before 1970.
fn calendar_time(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Option<SystemTime> {
    let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let t = date.with_hms(hour, minute, 0).ok()?.assume_utc().unix_timestamp();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).ok()?))
}

/// Parses a line of the MS-DOS style listing that IIS (and Windows FTP servers
/// configured like it) send: `01-16-02  11:14AM       <DIR>          name` or
/// `2002-01-16  23:14   1,234 name`. Two-digit years below 70 are 20YY.
/// Times are taken as UTC, as the listing says nothing of its zone.
pub fn parse_dos_line(line: &str) -> Option<Entry> {
    let mut rest = line.trim_start();
    let mut field = || {
        let end = rest.find(' ').unwrap_or(rest.len());
        let (f, r) = rest.split_at(end);
        rest = r.trim_start_matches(' ');
        (!f.is_empty()).then_some(f)
    };
    let date = field()?;
    let time = field()?;
    let size_or_dir = field()?;
    let name = rest;
    if name.is_empty() {
        return None;
    }
    let parts: Vec<&str> = date.split(['-', '/', '.']).collect();
    let [a, b, c] = parts.as_slice() else { return None };
    let (year, month, day) = if a.len() == 4 { (*a, *b, *c) } else { (*c, *a, *b) };
    let mut year: i32 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let (month, day): (u8, u8) = (month.parse().ok()?, day.parse().ok()?);
    let upper = time.to_ascii_uppercase();
    let (clock, pm) = match (upper.strip_suffix("AM"), upper.strip_suffix("PM")) {
        (Some(c), _) => (c, Some(false)),
        (_, Some(c)) => (c, Some(true)),
        _ => (upper.as_str(), None),
    };
    let (h, m) = clock.split_once(':')?;
    let (mut h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    let modified = calendar_time(year, month, day, h, m)?;
    let (kind, size) = if size_or_dir.eq_ignore_ascii_case("<DIR>") {
        (FileKind::Dir, 0)
    } else {
        (FileKind::File, size_or_dir.replace(',', "").parse().ok()?)
    };
    Some(Entry {
        name: name.to_string(),
        kind,
        size,
        modified,
        mode: 0,
        nlink: 1,
        owner: String::new(),
        group: String::new(),
        link_target: None,
        unique: None,
        perm: None,
    })
}

/// The MLSx facts a server can show (RFC 3659 §7.5), in FEAT order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub kind: bool,
    pub size: bool,
    pub modify: bool,
    pub perm: bool,
    pub unique: bool,
    pub unix_mode: bool,
}

impl Default for Facts {
    fn default() -> Self {
        Facts { kind: true, size: true, modify: true, perm: true, unique: true, unix_mode: true }
    }
}

impl Facts {
    const NAMES: [&'static str; 6] = ["type", "size", "modify", "perm", "unique", "UNIX.mode"];

    fn flags(&self) -> [bool; 6] {
        [self.kind, self.size, self.modify, self.perm, self.unique, self.unix_mode]
    }

    /// The `MLST` FEAT line's argument: every supported fact, the enabled ones
    /// marked with `*` (RFC 3659 §7.8).
    pub fn feat_line(&self) -> String {
        let mut s = String::new();
        for (name, on) in Self::NAMES.iter().zip(self.flags()) {
            s.push_str(name);
            if on {
                s.push('*');
            }
            s.push(';');
        }
        s
    }

    /// Applies `OPTS MLST fact;fact;` (RFC 3659 §7.9): exactly the named known facts
    /// are enabled, unknown names are ignored. Returns the enabled list for the
    /// `200 MLST OPTS` reply.
    pub fn select(list: &str) -> (Facts, String) {
        let wanted: Vec<&str> = list.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
        let has = |n: &str| wanted.iter().any(|w| w.eq_ignore_ascii_case(n));
        let f = Facts {
            kind: has("type"),
            size: has("size"),
            modify: has("modify"),
            perm: has("perm"),
            unique: has("unique"),
            unix_mode: has("UNIX.mode"),
        };
        let mut enabled = String::new();
        for (name, on) in Self::NAMES.iter().zip(f.flags()) {
            if on {
                enabled.push_str(name);
                enabled.push(';');
            }
        }
        (f, enabled)
    }
}

/// How the `type` fact names an entry: `file`, `dir`, or for the directory being
/// listed `cdir` (RFC 3659 §7.5.1); other kinds use the `OS.unix=` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeContext {
    Entry,
    CurrentDir,
}

/// An MLSx fact line without CRLF: `type=file;size=3;... name` (RFC 3659 §7.2).
/// For `MLST` the caller prefixes the single leading space the RFC requires.
pub fn mlsx_line(e: &Entry, facts: &Facts, ctx: TypeContext) -> String {
    let mut s = String::with_capacity(96 + e.name.len());
    if facts.kind {
        let t = match (e.kind, ctx) {
            (FileKind::Dir, TypeContext::CurrentDir) => "cdir",
            (FileKind::Dir, TypeContext::Entry) => "dir",
            (FileKind::File, _) => "file",
            (FileKind::Symlink, _) => "OS.unix=symlink",
            (FileKind::CharDevice, _) => "OS.unix=chr",
            (FileKind::BlockDevice, _) => "OS.unix=blk",
            (FileKind::Fifo, _) => "OS.unix=fifo",
            (FileKind::Socket, _) => "OS.unix=socket",
        };
        s.push_str("type=");
        s.push_str(t);
        s.push(';');
    }
    if facts.size {
        s.push_str(&format!("size={};", e.size));
    }
    if facts.modify {
        s.push_str(&format!("modify={};", timeval::format(e.modified)));
    }
    if facts.perm
        && let Some(p) = &e.perm
    {
        s.push_str(&format!("perm={p};"));
    }
    if facts.unique
        && let Some(u) = &e.unique
    {
        s.push_str(&format!("unique={u};"));
    }
    if facts.unix_mode {
        s.push_str(&format!("UNIX.mode={:04o};", e.mode & 0o7777));
    }
    s.push(' ');
    s.push_str(&e.name);
    s
}

/// Facts parsed from an MLSx line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedFacts {
    /// `(name, value)` pairs in the order sent; names as sent.
    pub facts: Vec<(String, String)>,
    pub name: String,
}

impl ParsedFacts {
    /// A fact's value by case-insensitive name (RFC 3659 §7.1: fact names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.facts.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses an MLSx line (`MLSD` data line, or `MLST` line with its leading space
/// removed) per the grammar of RFC 3659 §7.2: `*(fact ";") SP pathname`.
pub fn parse_mlsx_line(line: &str) -> Option<ParsedFacts> {
    let sp = line.find(' ')?;
    let (facts_part, name) = (&line[..sp], &line[sp + 1..]);
    if name.is_empty() {
        return None;
    }
    let mut facts = Vec::new();
    if !facts_part.is_empty() {
        let body = facts_part.strip_suffix(';')?;
        for fact in body.split(';') {
            let (n, v) = fact.split_once('=')?;
            if n.is_empty() {
                return None;
            }
            facts.push((n.to_string(), v.to_string()));
        }
    }
    Some(ParsedFacts { facts, name: name.to_string() })
}

/// Interprets the facts of a parsed MLSx line as an [`Entry`] (fields the
/// line does not carry take neutral values).
pub fn entry_from_facts(p: &ParsedFacts) -> Option<Entry> {
    let kind = match p.get("type")?.to_ascii_lowercase().as_str() {
        "file" => FileKind::File,
        "dir" | "cdir" | "pdir" => FileKind::Dir,
        "os.unix=symlink" => FileKind::Symlink,
        "os.unix=chr" => FileKind::CharDevice,
        "os.unix=blk" => FileKind::BlockDevice,
        "os.unix=fifo" => FileKind::Fifo,
        "os.unix=socket" => FileKind::Socket,
        t if t.starts_with("os.unix=slink") => FileKind::Symlink,
        _ => FileKind::File,
    };
    Some(Entry {
        name: p.name.clone(),
        kind,
        size: p.get("size").and_then(|s| s.parse().ok()).unwrap_or(0),
        modified: p.get("modify").and_then(timeval::parse).unwrap_or(SystemTime::UNIX_EPOCH),
        mode: p.get("UNIX.mode").and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(0),
        nlink: 1,
        owner: String::new(),
        group: String::new(),
        link_target: None,
        unique: p.get("unique").map(str::to_string),
        perm: p.get("perm").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn sample(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: FileKind::File,
            size: 5,
            modified: at(1_700_000_000),
            mode: 0o644,
            nlink: 1,
            owner: "1000".into(),
            group: "1000".into(),
            link_target: None,
            unique: Some("803U2a".into()),
            perm: Some("adfrw".into()),
        }
    }

    #[test]
    fn vsftpd_layout() {
        let now = at(1_700_100_000);
        assert_eq!(
            unix_line(&sample("a b.txt"), now),
            "-rw-r--r--    1 1000     1000            5 Nov 14 22:13 a b.txt"
        );
        let old = Entry { modified: at(1_000_000_000), kind: FileKind::Dir, mode: 0o755, ..sample("pub") };
        assert_eq!(unix_line(&old, now), "drwxr-xr-x    1 1000     1000            5 Sep 09  2001 pub");
    }

    #[test]
    fn special_mode_bits() {
        assert_eq!(mode_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(FileKind::File, 0o3644), "-rw-r-Sr-T");
    }

    #[test]
    fn mlsx_grammar() {
        let line = mlsx_line(&sample("my file;x"), &Facts::default(), TypeContext::Entry);
        assert_eq!(line, "type=file;size=5;modify=20231114221320;perm=adfrw;unique=803U2a;UNIX.mode=0644; my file;x");
        let p = parse_mlsx_line(&line).unwrap();
        assert_eq!(p.name, "my file;x");
        assert_eq!(p.get("SIZE"), Some("5"));
        let (f, enabled) = Facts::select("size;Modify;bogus;");
        assert_eq!(enabled, "size;modify;");
        assert_eq!(mlsx_line(&sample("n"), &f, TypeContext::Entry), "size=5;modify=20231114221320; n");
        assert_eq!(parse_mlsx_line(" n").unwrap().facts, vec![]);
        assert!(parse_mlsx_line("type=file").is_none());
        assert!(parse_mlsx_line("type=file ").is_none());
        assert!(parse_mlsx_line("type=file;size x").is_none());
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (
            "[^ /\r\n\u{0}][^/\r\n\u{0}]{0,20}",
            prop_oneof![Just(FileKind::File), Just(FileKind::Dir), Just(FileKind::Fifo)],
            any::<u64>(),
            0u64..4_000_000_000,
            0u32..0o10000,
            1u64..1000,
            "[a-z0-9]{1,12}",
            "[a-z0-9]{1,12}",
        )
            .prop_map(|(name, kind, size, secs, mode, nlink, owner, group)| Entry {
                name,
                kind,
                size,
                modified: at(secs),
                mode,
                nlink,
                owner,
                group,
                link_target: None,
                unique: Some(format!("{secs:x}")),
                perm: Some("r".into()),
            })
    }

    proptest! {
        #[test]
        fn unix_line_round_trip(e in arb_entry(), now_secs in 1_600_000_000u64..1_900_000_000) {
            let now = at(now_secs);
            let p = parse_unix_line(&unix_line(&e, now), now).unwrap();
            prop_assert_eq!(&p.name, &e.name);
            prop_assert_eq!((p.kind, p.size, p.mode, p.nlink), (e.kind, e.size, e.mode, e.nlink));
            prop_assert_eq!((&p.owner, &p.group), (&e.owner, &e.group));
            // The date survives to the precision the listing shows.
            prop_assert_eq!(list_date(p.modified, now), list_date(e.modified, now));
        }

        #[test]
        fn mlsx_round_trip(e in arb_entry()) {
            let p = parse_mlsx_line(&mlsx_line(&e, &Facts::default(), TypeContext::Entry)).unwrap();
            let back = entry_from_facts(&p).unwrap();
            prop_assert_eq!((&back.name, back.kind, back.size, back.mode), (&e.name, e.kind, e.size, e.mode));
            prop_assert_eq!(timeval::format(back.modified), timeval::format(e.modified));
            prop_assert_eq!((&back.unique, &back.perm), (&e.unique, &e.perm));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}") {
            let _ = parse_unix_line(&s, at(1_700_000_000));
            let _ = parse_dos_line(&s);
            let _ = parse_mlsx_line(&s).map(|p| entry_from_facts(&p));
        }
    }
}
