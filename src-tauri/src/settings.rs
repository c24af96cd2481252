//! The app's settings: ICE servers for calls and the chosen microphone and speaker, kept as
//! `settings.json` in the app's data directory. Nothing is built in: the user adds no ICE server by
//! default (calls then use those the Confab server hands out, `GET /api/calls/ice-servers`, and
//! host candidates), the system's default devices when none is chosen.
//! Also whether the app hosts a server ([`crate::hosting`]) and whether it keeps hosting after quitting.

use std::path::{Path, PathBuf};

use confab_call::{CallConfig, IceServer};
use serde::{Deserialize, Serialize};

use crate::hosting::Scope;

/// What the user chose. Unknown or missing fields read as their defaults, so older files load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The user's own STUN/TURN servers for calls, in the browser's `RTCIceServer` shape: added on
    /// top of the server's.
    pub ice_servers: Vec<IceServer>,
    /// The microphone by name (as `list_devices` gives it); the system default when `None`.
    pub microphone: Option<String>,
    /// The speaker by name; the system default when `None`.
    pub speaker: Option<String>,
    /// The camera by name; the first one when `None`.
    pub camera: Option<String>,
    /// The app hosts a server for this scope (set by hosting, cleared by stopping it): the app
    /// starts it again at its next start.
    pub hosting: Option<Scope>,
    /// "Keep hosting in the background": the hosted server goes on after the app quits.
    pub keep_hosting: bool,
}

impl Settings {
    /// What calls are built with (the client core puts the server's ICE servers first).
    pub fn call_config(&self) -> CallConfig {
        CallConfig { ice_servers: self.ice_servers.clone(), ..CallConfig::default() }
    }

    /// Refuses what a peer connection would refuse later, in words for the settings screen.
    pub fn validate(&self) -> Result<(), String> {
        for server in &self.ice_servers {
            if server.urls.is_empty() {
                return Err("an ICE server needs at least one URL".into());
            }
            for url in &server.urls {
                let scheme = url.split(':').next().unwrap_or_default();
                if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") || url.len() <= scheme.len() + 1 {
                    return Err(format!("{url:?} is not a stun:, stuns:, turn: or turns: URL"));
                }
                if scheme.starts_with("turn") && (server.username.is_empty() || server.credential.is_empty()) {
                    return Err(format!("the TURN server {url:?} needs a username and a credential"));
                }
            }
        }
        Ok(())
    }
}

/// Where the settings live, and their current value.
pub struct SettingsStore {
    path: PathBuf,
    current: std::sync::Mutex<Settings>,
}

impl SettingsStore {
    /// Reads `settings.json` in `dir`; a missing or unreadable file gives the defaults (a broken
    /// file is logged and replaced at the next save, never a reason not to start).
    pub fn open(dir: &Path) -> Self {
        let path = dir.join("settings.json");
        let current = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, path = %path.display(), "unreadable settings; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        SettingsStore { path, current: std::sync::Mutex::new(current) }
    }

    pub fn get(&self) -> Settings {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates, writes (through a temporary file, so a crash never leaves half a file) and
    /// keeps the new settings.
    pub fn set(&self, settings: Settings) -> Result<(), String> {
        settings.validate()?;
        let json = serde_json::to_vec_pretty(&settings).map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &self.path)).map_err(|e| e.to_string())?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, user: &str, pass: &str) -> IceServer {
        IceServer { urls: vec![url.into()], username: user.into(), credential: pass.into() }
    }

    #[test]
    fn validation() {
        let ok = |s: IceServer| Settings { ice_servers: vec![s], ..Settings::default() }.validate();
        assert!(ok(server("stun:stun.example.org:3478", "", "")).is_ok());
        assert!(ok(server("turn:turn.example.org:3478?transport=udp", "u", "p")).is_ok());
        assert!(ok(server("turn:turn.example.org", "", "")).is_err(), "TURN without credentials");
        assert!(ok(server("http://example.org", "", "")).is_err());
        assert!(ok(server("stun:", "", "")).is_err());
        assert!(ok(IceServer::default()).is_err(), "no URL");
    }

    #[test]
    fn round_trip_and_defaults() {
        let dir = std::env::temp_dir().join(format!("confab-settings-{}", std::process::id()));
        let store = SettingsStore::open(&dir);
        assert_eq!(store.get(), Settings::default(), "nothing built in");
        let chosen = Settings {
            ice_servers: vec![server("stun:stun.example.org", "", "")],
            microphone: Some("vmic".into()),
            speaker: None,
            camera: Some("Integrated Camera".into()),
            hosting: Some(Scope::LocalNetwork),
            keep_hosting: true,
        };
        store.set(chosen.clone()).unwrap();
        assert_eq!(SettingsStore::open(&dir).get(), chosen);
        std::fs::write(dir.join("settings.json"), "{broken").unwrap();
        assert_eq!(SettingsStore::open(&dir).get(), Settings::default());
        let _ = std::fs::remove_dir_all(dir);
    }
}
