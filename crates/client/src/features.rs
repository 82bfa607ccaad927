//! What a server offers, from its `FEAT` reply (RFC 2389 §3.2), and the
//! checksum algorithms a client can ask for.

use ferroftp_proto::reply::Reply;
use std::collections::BTreeMap;

/// The features a server listed: names upper-cased, each with its parameter text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    map: BTreeMap<String, String>,
}

impl Features {
    /// Reads a `211` FEAT reply: every line but the first and last is
    /// ` NAME [PARAMETERS]`.
    pub fn parse(reply: &Reply) -> Features {
        let mut map = BTreeMap::new();
        let n = reply.lines.len();
        for line in reply.lines.iter().take(n.saturating_sub(1)).skip(1) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (name, params) = line.split_once(' ').unwrap_or((line, ""));
            map.insert(name.to_ascii_uppercase(), params.trim().to_string());
        }
        Features { map }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(&name.to_ascii_uppercase())
    }

    /// The parameter text of a feature (`MLST` → `type*;size*;modify*;`).
    pub fn params(&self, name: &str) -> Option<&str> {
        self.map.get(&name.to_ascii_uppercase()).map(String::as_str)
    }

    /// Feature names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// The best checksum the server computes, and how to ask for it.
    pub fn best_checksum(&self) -> Option<ChecksumCommand> {
        if let Some(params) = self.params("HASH") {
            let offered: Vec<(HashAlgorithm, bool)> = params
                .split(';')
                .filter_map(|a| {
                    let selected = a.ends_with('*');
                    HashAlgorithm::from_name(a.trim_end_matches('*')).map(|alg| (alg, selected))
                })
                .collect();
            if let Some((alg, selected)) = offered.iter().min_by_key(|(alg, _)| alg.rank()) {
                return Some(ChecksumCommand::Hash { algorithm: *alg, selected: *selected });
            }
        }
        HashAlgorithm::ALL.iter().find(|alg| self.has(alg.x_command())).map(|alg| ChecksumCommand::XCommand(*alg))
    }
}

/// A checksum algorithm of the `HASH` draft (draft-bryan-ftpext-hash) and the
/// older `X…` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256,
    Sha1,
    Md5,
    Crc32,
}

impl HashAlgorithm {
    /// Strongest first.
    pub const ALL: [HashAlgorithm; 4] =
        [HashAlgorithm::Sha256, HashAlgorithm::Sha1, HashAlgorithm::Md5, HashAlgorithm::Crc32];

    fn rank(self) -> usize {
        Self::ALL.iter().position(|a| *a == self).unwrap_or(usize::MAX)
    }

    /// The name in `HASH` replies and `OPTS HASH`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Crc32 => "CRC32",
        }
    }

    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The older single-algorithm command (`XSHA256`, `XSHA1`, `XMD5`, `XCRC`).
    pub fn x_command(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "XSHA256",
            HashAlgorithm::Sha1 => "XSHA1",
            HashAlgorithm::Md5 => "XMD5",
            HashAlgorithm::Crc32 => "XCRC",
        }
    }

    /// Length of the digest in hexadecimal digits.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Md5 => 32,
            HashAlgorithm::Crc32 => 8,
        }
    }

    /// A running digest of this algorithm.
    pub fn hasher(self) -> Hasher {
        use sha2::Digest;
        match self {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }
}

/// How to ask a server for a checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumCommand {
    /// `HASH path`, after `OPTS HASH NAME` unless `selected`.
    Hash { algorithm: HashAlgorithm, selected: bool },
    /// `XSHA256 path` and the like.
    XCommand(HashAlgorithm),
}

impl ChecksumCommand {
    pub fn algorithm(self) -> HashAlgorithm {
        match self {
            ChecksumCommand::Hash { algorithm, .. } | ChecksumCommand::XCommand(algorithm) => algorithm,
        }
    }
}

/// A running digest; [`Hasher::hex`] gives lower-case hexadecimal.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
        }
    }

    pub fn hex(self) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The checksum of a local file.
pub async fn hash_file(path: &std::path::Path, algorithm: HashAlgorithm) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(hasher.hex());
        }
        hasher.update(&buf[..n]);
    }
}

/// Finds the digest in a checksum reply: the first word of the expected
/// length made of hexadecimal digits (`213 SHA-256 0-99 ab12… name`,
/// `213 ab12…`, `250 ab12…`).
pub fn digest_in_reply(text: &str, algorithm: HashAlgorithm) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.len() == algorithm.hex_len() && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroftp_proto::ReplyCode;

    fn feat(lines: &[&str]) -> Features {
        let mut all = vec!["Extensions supported:".to_string()];
        all.extend(lines.iter().map(|l| l.to_string()));
        all.push("End".into());
        Features::parse(&Reply::multi(ReplyCode(211), all))
    }

    #[test]
    fn feat_lines_and_checksum_choice() {
        let f = feat(&[" UTF8", " MLST type*;size*;modify*;", " HASH SHA-1;SHA-256*;MD5", " REST STREAM"]);
        assert!(f.has("utf8") && f.has("MLST") && !f.has("MFMT"));
        assert_eq!(f.params("mlst"), Some("type*;size*;modify*;"));
        assert_eq!(f.best_checksum(), Some(ChecksumCommand::Hash { algorithm: HashAlgorithm::Sha256, selected: true }));
        let f = feat(&[" HASH CRC32*;MD5"]);
        assert_eq!(f.best_checksum(), Some(ChecksumCommand::Hash { algorithm: HashAlgorithm::Md5, selected: false }));
        let f = feat(&[" XCRC", " XMD5"]);
        assert_eq!(f.best_checksum(), Some(ChecksumCommand::XCommand(HashAlgorithm::Md5)));
        assert_eq!(feat(&[" UTF8"]).best_checksum(), None);
    }

    #[test]
    fn digests() {
        let mut h = HashAlgorithm::Crc32.hasher();
        h.update(b"123456789");
        assert_eq!(h.hex(), "cbf43926");
        let mut h = HashAlgorithm::Md5.hasher();
        h.update(b"");
        assert_eq!(h.hex(), "d41d8cd98f00b204e9800998ecf8427e");
        let text = "SHA-256 0-5 2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824 a file";
        assert_eq!(
            digest_in_reply(text, HashAlgorithm::Sha256).as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(digest_in_reply("cbf43926", HashAlgorithm::Crc32).as_deref(), Some("cbf43926"));
        assert_eq!(digest_in_reply("no digest here", HashAlgorithm::Md5), None);
    }
}
