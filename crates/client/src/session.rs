//! The remembered sign-in: server address, token and user, in `session.json` readable by the user only.

use std::path::{Path, PathBuf};

use confab_protocol::User;
use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSession {
    pub server_url: String,
    pub token: String,
    pub user: User,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("session.json")
}

pub fn load(data_dir: &Path) -> Option<SavedSession> {
    let text = std::fs::read_to_string(path(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save(data_dir: &Path, session: &SavedSession) -> Result<()> {
    let target = path(data_dir);
    let temp = target.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The token is a credential: owner read/write only, from the first byte written.
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut file = options.open(&temp)?;
        file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(temp, target)?;
    Ok(())
}

pub fn clear(data_dir: &Path) -> Result<()> {
    match std::fs::remove_file(path(data_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
