//! Privilege separation for TLS keys.
//!
//! A server started as root with `server.user` gives up root once its ports
//! are bound, but its private key is usually readable by root only (certbot
//! writes `privkey.pem` 0600 root; so does `ferroftp cert generate` when run
//! as root), and a renewed key must be read again on every reload. Keeping a
//! capability such as `CAP_DAC_READ_SEARCH` would let the whole server read
//! every file of the machine; instead, before giving up root, the server
//! starts a small helper: the same binary, `ferroftp key-helper`, which stays
//! root, restricts itself with Landlock to reading the folders of the
//! configured certificate and key, and on each request (a line `load` on its
//! standard input) answers with the two files as they are now. It can read
//! nothing else, write nothing, and exits when the server does (its standard
//! input closes). A reload that names other key files than those the helper
//! was started with is refused with the reason (restart instead).

use anyhow::{Context, bail};
use ferroftp_server::tls::{CertificateProvider, TlsError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The most a certificate chain or a key file may hold.
const MAX_FILE: u64 = 1 << 20;

/// The running helper, and the files it reads.
#[derive(Debug)]
pub struct KeyHelper {
    cert: PathBuf,
    key: PathBuf,
    pipe: Mutex<Pipe>,
}

#[derive(Debug)]
struct Pipe {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

/// The helper of this process, once started.
static HELPER: OnceLock<std::sync::Arc<KeyHelper>> = OnceLock::new();

/// The helper reading `cert` and `key`, if this process started one for them.
pub fn helper_for(cert: &Path, key: &Path) -> Option<std::sync::Arc<KeyHelper>> {
    HELPER.get().filter(|h| h.cert == cert && h.key == key).cloned()
}

/// The helper, if this process started one (for messages about other files).
pub fn helper() -> Option<std::sync::Arc<KeyHelper>> {
    HELPER.get().cloned()
}

impl KeyHelper {
    /// Starts the helper for `cert` and `key` (while the process is still
    /// root) and checks that it can read them.
    pub fn start(cert: &Path, key: &Path) -> anyhow::Result<std::sync::Arc<KeyHelper>> {
        let exe = std::env::current_exe().context("finding the ferroftp binary for the key helper")?;
        let mut child = Command::new(exe)
            .arg("key-helper")
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the key helper")?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the key helper has no pipes");
        };
        let helper = std::sync::Arc::new(KeyHelper {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            pipe: Mutex::new(Pipe { child, to, from: BufReader::new(from) }),
        });
        let _ = HELPER.set(std::sync::Arc::clone(&helper));
        Ok(helper)
    }

    fn request(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut pipe = self.pipe.lock().map_err(|_| "the key helper failed earlier".to_string())?;
        let answer = pipe.exchange();
        answer.map_err(|e| match e {
            Answer::Refused(why) => why,
            Answer::Broken(e) => {
                let status = pipe.child.try_wait().ok().flatten().map(|s| format!(" ({s})")).unwrap_or_default();
                format!("the key helper is gone{status}: {e}; restart the server")
            }
        })
    }
}

/// Why a request to the helper gave no files.
enum Answer {
    /// The helper could not read them (it says why).
    Refused(String),
    /// The pipe to the helper is broken.
    Broken(std::io::Error),
}

impl Pipe {
    fn exchange(&mut self) -> Result<(Vec<u8>, Vec<u8>), Answer> {
        self.to.write_all(b"load\n").and_then(|()| self.to.flush()).map_err(Answer::Broken)?;
        let mut line = String::new();
        self.from.read_line(&mut line).map_err(Answer::Broken)?;
        let line = line.trim_end();
        if let Some(why) = line.strip_prefix("error ") {
            return Err(Answer::Refused(why.to_string()));
        }
        let mut sizes = line.strip_prefix("ok ").unwrap_or_default().split(' ').map(str::parse::<u64>);
        let (Some(Ok(c)), Some(Ok(k))) = (sizes.next(), sizes.next()) else {
            return Err(Answer::Refused(format!("unexpected answer from the key helper: {line:?}")));
        };
        if c > MAX_FILE || k > MAX_FILE {
            // The pipe cannot be trusted to be in step any more.
            let _ = self.child.kill();
            return Err(Answer::Broken(std::io::Error::other("the key helper announced more than 1 MiB")));
        }
        let mut read = |n: u64| -> Result<Vec<u8>, Answer> {
            let mut buf = vec![0; usize::try_from(n).unwrap_or(0)];
            self.from.read_exact(&mut buf).map_err(Answer::Broken)?;
            Ok(buf)
        };
        let cert = read(c)?;
        let key = read(k)?;
        Ok((cert, key))
    }
}

impl CertificateProvider for KeyHelper {
    fn load(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        self.request().map_err(|message| TlsError::File { path: self.key.display().to_string(), message })
    }

    fn names(&self) -> (String, String) {
        (self.cert.display().to_string(), self.key.display().to_string())
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The folders a file may be read from, as named and after its links are
/// followed (a renewed certificate is a new file in the same folders).
pub fn folders_of(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
    if let Ok(real) = path.canonicalize()
        && let Some(parent) = real.parent()
    {
        out.push(parent.to_path_buf());
    }
    out.sort();
    out.dedup();
    out
}

/// `ferroftp key-helper`: answers `load` requests on standard input with the
/// two files, until standard input closes. It reads only files whose real
/// place is in the folders the two had when it started (a link moved to a
/// renewed certificate in the same folders is followed; one planted to lead
/// elsewhere is refused), and Landlock holds it to that where the kernel has it.
pub fn run_helper(cert: &Path, key: &Path) -> anyhow::Result<()> {
    let mut folders = folders_of(cert);
    folders.extend(folders_of(key));
    let status = crate::sandbox::enter(&[], &folders).context("restricting the key helper")?;
    if status == landlock::RulesetStatus::NotEnforced {
        eprintln!(
            "ferroftp key-helper: Landlock is not available on this kernel; the helper keeps root without that sandbox \
             and checks itself that it reads only from {}",
            folders.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        if line?.trim() != "load" {
            out.write_all(b"error unknown request\n")?;
            out.flush()?;
            continue;
        }
        let read = |p: &Path| -> Result<Vec<u8>, String> {
            let cannot = |e: std::io::Error| format!("cannot read {}: {e}", p.display());
            let mut file = std::fs::File::open(p).map_err(cannot)?;
            // Where the opened file really is (after every link), checked on
            // the open descriptor, so a link swapped meanwhile changes nothing.
            let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
            let real = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(cannot)?;
            if !real.parent().is_some_and(|dir| folders.iter().any(|f| f == dir)) {
                return Err(format!(
                    "{} now leads to {}, outside the folders the server was started with; restart it to use other files",
                    p.display(),
                    real.display()
                ));
            }
            let mut bytes = Vec::new();
            std::io::Read::take(&mut file, MAX_FILE + 1).read_to_end(&mut bytes).map_err(cannot)?;
            if bytes.len() as u64 > MAX_FILE {
                return Err(format!("{} is larger than 1 MiB", p.display()));
            }
            Ok(bytes)
        };
        match (read(cert), read(key)) {
            (Ok(c), Ok(k)) => {
                out.write_all(format!("ok {} {}\n", c.len(), k.len()).as_bytes())?;
                out.write_all(&c)?;
                out.write_all(&k)?;
            }
            (Err(e), _) | (_, Err(e)) => out.write_all(format!("error {}\n", e.replace('\n', " ")).as_bytes())?,
        }
        out.flush()?;
    }
    Ok(())
}
