//! The commands the webview invokes: each calls one method of the client core. Every command answers
//! `Result<T, UiError>`, so the UI unwraps all of them the same way; errors reach it as `{code, message}`
//! (the server's codes, plus `offline`, `signed_out` and `local`).
//!
//! The UI's wrappers and types (`ui/src/bindings.ts`) are generated from these signatures by
//! tauri-specta ([`builder`]); the test `ui_bindings_are_current` below fails when the
//! checked-in file is stale.

use std::time::Duration;

use confab_call::CallStats;
use confab_client::calls::IceServerSources;
use confab_client::{CallSnapshot, ConnectionState, Pending};
use confab_protocol::{
    CallType, Conversation, ConversationId, Friend, FriendRequests, Message, MessageId, Seq, User, UserId,
};
use serde::Serialize;
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;
use crate::hosting::{HostedServer, HostingError, Scope};
use crate::media::{CallDevice, DeviceList, OpenedDevice, VideoNotice, VideoTransportStats};
use crate::settings::Settings;

/// Why a command failed: `{code, message}`.
#[derive(Debug, Serialize, specta::Type)]
pub struct UiError {
    code: String,
    message: String,
}

impl From<confab_client::Error> for UiError {
    fn from(e: confab_client::Error) -> Self {
        use confab_client::Error::*;
        let code = match &e {
            Server(body) => return UiError { code: body.code.as_str().into(), message: body.message.clone() },
            Offline(_) => "offline",
            SignedOut => "signed_out",
            _ => "local",
        };
        UiError { code: code.into(), message: e.to_string() }
    }
}

impl UiError {
    /// An error of the app itself (settings, devices), not of the client core.
    fn local(message: impl Into<String>) -> Self {
        UiError { code: "local".into(), message: message.into() }
    }
}

type Answer<T> = Result<T, UiError>;

/// Every command, for the invoke handler and for the generated bindings. `ClientEvent` (the
/// `confab://event` payload) is registered too: no command names it.
///
/// Ids, `seq`s and times are `i64` in Rust and JavaScript numbers in the UI: they stay far below
/// 2^53, and the JSON already carries them as plain numbers.
pub fn builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::new()
        .error_handling(tauri_specta::ErrorHandlingMode::Result)
        .dangerously_cast_bigints_to_number()
        .typ::<confab_client::ClientEvent>()
        // Values the UI needs as the core has them.
        .constant("OUTGOING_CALL_ID", confab_client::OUTGOING_CALL_ID)
        .constant("MAX_UNREAD_COUNTED", confab_client::cache::MAX_UNREAD_COUNTED)
        .commands(tauri_specta::collect_commands![
            default_server_url,
            session,
            connection_state,
            register,
            login,
            logout,
            retry_now,
            conversations,
            messages,
            load_older,
            outbox,
            send_message,
            retry_message,
            discard_message,
            edit_message,
            delete_message,
            react,
            pin,
            mark_read,
            set_typing,
            friends,
            friend_requests,
            search_users,
            request_friend,
            accept_friend,
            decline_friend,
            remove_friend,
            create_conversation,
            set_muted,
            is_muted,
            set_open_conversation,
            start_call,
            accept_call,
            reject_call,
            end_call,
            set_call_muted,
            set_call_camera,
            switch_call_device,
            call_stats,
            calls_now,
            list_devices,
            get_settings,
            set_settings,
            ice_server_sources,
            watch_video,
            video_transport_stats,
            probe_server,
            host_server,
            hosting_status,
            stop_hosting,
        ])
}

/// The invoke handler, from the same builder the bindings come from. tauri-specta's
/// `invoke_handler(&self)` keeps the borrow of its builder (edition 2024 capture rules) although it
/// only clones the handler, so the builder lives for the whole process.
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    static BUILDER: std::sync::LazyLock<tauri_specta::Builder<tauri::Wry>> = std::sync::LazyLock::new(builder);
    BUILDER.invoke_handler()
}

#[derive(Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    server_url: String,
    user: User,
}

#[tauri::command]
#[specta::specta]
fn default_server_url() -> Answer<String> {
    Ok(crate::default_server_url())
}

#[tauri::command]
#[specta::specta]
fn session(app: State<'_, Desktop>) -> Answer<Option<SessionInfo>> {
    Ok(app.client.session().map(|(server_url, user)| SessionInfo { server_url, user }))
}

#[tauri::command]
#[specta::specta]
fn connection_state(app: State<'_, Desktop>) -> Answer<ConnectionState> {
    Ok(app.client.connection_state())
}

#[tauri::command]
#[specta::specta]
async fn register(
    app: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    display_name: Option<String>,
) -> Answer<User> {
    Ok(app.client.register(&server_url, &username, &password, display_name.as_deref()).await?)
}

#[tauri::command]
#[specta::specta]
async fn login(app: State<'_, Desktop>, server_url: String, username: String, password: String) -> Answer<User> {
    Ok(app.client.login(&server_url, &username, &password).await?)
}

#[tauri::command]
#[specta::specta]
async fn logout(app: State<'_, Desktop>) -> Answer<()> {
    Ok(app.client.logout().await?)
}

#[tauri::command]
#[specta::specta]
fn retry_now(app: State<'_, Desktop>) -> Answer<()> {
    app.client.retry_now();
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn conversations(app: State<'_, Desktop>) -> Answer<Vec<Conversation>> {
    Ok(app.client.conversations().await?)
}

#[tauri::command]
#[specta::specta]
async fn messages(
    app: State<'_, Desktop>,
    conversation_id: ConversationId,
    before: Option<Seq>,
    limit: u32,
) -> Answer<Vec<Message>> {
    Ok(app.client.messages(conversation_id, before, limit).await?)
}

#[tauri::command]
#[specta::specta]
async fn load_older(app: State<'_, Desktop>, conversation_id: ConversationId, before: Seq) -> Answer<bool> {
    Ok(app.client.load_older(conversation_id, before).await?)
}

#[tauri::command]
#[specta::specta]
async fn outbox(app: State<'_, Desktop>, conversation_id: ConversationId) -> Answer<Vec<Pending>> {
    Ok(app.client.outbox(conversation_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn send_message(app: State<'_, Desktop>, conversation_id: ConversationId, content: String) -> Answer<Pending> {
    Ok(app.client.send_message(conversation_id, &content).await?)
}

#[tauri::command]
#[specta::specta]
async fn retry_message(app: State<'_, Desktop>, client_msg_id: String) -> Answer<()> {
    Ok(app.client.retry_message(&client_msg_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn discard_message(app: State<'_, Desktop>, client_msg_id: String) -> Answer<()> {
    Ok(app.client.discard_message(&client_msg_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn edit_message(app: State<'_, Desktop>, message_id: MessageId, content: String) -> Answer<Message> {
    Ok(app.client.edit_message(message_id, &content).await?)
}

#[tauri::command]
#[specta::specta]
async fn delete_message(app: State<'_, Desktop>, message_id: MessageId) -> Answer<Message> {
    Ok(app.client.delete_message(message_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn react(app: State<'_, Desktop>, message_id: MessageId, emoji: String, add: bool) -> Answer<Message> {
    Ok(app.client.react(message_id, &emoji, add).await?)
}

#[tauri::command]
#[specta::specta]
async fn pin(app: State<'_, Desktop>, message_id: MessageId, pinned: bool) -> Answer<Message> {
    Ok(app.client.pin(message_id, pinned).await?)
}

#[tauri::command]
#[specta::specta]
async fn mark_read(app: State<'_, Desktop>, conversation_id: ConversationId, seq: Seq) -> Answer<()> {
    Ok(app.client.mark_read(conversation_id, seq).await?)
}

#[tauri::command]
#[specta::specta]
fn set_typing(app: State<'_, Desktop>, conversation_id: ConversationId, is_typing: bool) -> Answer<()> {
    app.client.set_typing(conversation_id, is_typing);
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn friends(app: State<'_, Desktop>) -> Answer<Vec<Friend>> {
    Ok(app.client.friends().await?)
}

#[tauri::command]
#[specta::specta]
async fn friend_requests(app: State<'_, Desktop>) -> Answer<FriendRequests> {
    Ok(app.client.friend_requests().await?)
}

#[tauri::command]
#[specta::specta]
async fn search_users(app: State<'_, Desktop>, prefix: String) -> Answer<Vec<User>> {
    Ok(app.client.search_users(&prefix).await?)
}

#[tauri::command]
#[specta::specta]
async fn request_friend(app: State<'_, Desktop>, username: String) -> Answer<()> {
    Ok(app.client.request_friend(&username).await?)
}

#[tauri::command]
#[specta::specta]
async fn accept_friend(app: State<'_, Desktop>, request_id: i64) -> Answer<()> {
    Ok(app.client.accept_friend(request_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn decline_friend(app: State<'_, Desktop>, request_id: i64) -> Answer<()> {
    Ok(app.client.decline_friend(request_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn remove_friend(app: State<'_, Desktop>, user_id: UserId) -> Answer<()> {
    Ok(app.client.remove_friend(user_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn create_conversation(
    app: State<'_, Desktop>,
    participant_ids: Vec<UserId>,
    title: Option<String>,
) -> Answer<Conversation> {
    Ok(app.client.create_conversation(participant_ids, title).await?)
}

#[tauri::command]
#[specta::specta]
async fn set_muted(app: State<'_, Desktop>, conversation_id: ConversationId, muted: bool) -> Answer<()> {
    Ok(app.client.set_muted(conversation_id, muted).await?)
}

#[tauri::command]
#[specta::specta]
async fn is_muted(app: State<'_, Desktop>, conversation_id: ConversationId) -> Answer<bool> {
    Ok(app.client.is_muted(conversation_id).await?)
}

#[tauri::command]
#[specta::specta]
fn set_open_conversation(app: State<'_, Desktop>, conversation_id: Option<ConversationId>) -> Answer<()> {
    app.attention.lock().unwrap_or_else(|p| p.into_inner()).open_conversation = conversation_id;
    Ok(())
}

#[tauri::command]
#[specta::specta]
async fn start_call(app: State<'_, Desktop>, conversation_id: ConversationId, call_type: CallType) -> Answer<String> {
    Ok(app.client.start_call(conversation_id, call_type).await?)
}

#[tauri::command]
#[specta::specta]
async fn accept_call(app: State<'_, Desktop>, call_id: String) -> Answer<()> {
    Ok(app.client.accept_call(&call_id).await?)
}

#[tauri::command]
#[specta::specta]
async fn reject_call(app: State<'_, Desktop>, call_id: String, reason: Option<String>) -> Answer<()> {
    Ok(app.client.reject_call(&call_id, reason.as_deref()).await?)
}

#[tauri::command]
#[specta::specta]
async fn end_call(app: State<'_, Desktop>, call_id: String) -> Answer<()> {
    Ok(app.client.end_call(&call_id).await?)
}

#[tauri::command]
#[specta::specta]
fn set_call_muted(app: State<'_, Desktop>, call_id: String, muted: bool) -> Answer<()> {
    Ok(app.client.set_call_muted(&call_id, muted)?)
}

#[tauri::command]
#[specta::specta]
fn set_call_camera(app: State<'_, Desktop>, call_id: String, on: bool) -> Answer<()> {
    Ok(app.client.set_call_camera(&call_id, on)?)
}

/// Changes the microphone, speaker or camera of a call in progress, and keeps the choice for the next
/// calls. A device that does not open leaves the call as it was and says why.
#[tauri::command]
#[specta::specta]
async fn switch_call_device(
    app: State<'_, Desktop>,
    call_id: String,
    device: CallDevice,
    name: Option<String>,
) -> Answer<()> {
    let (devices, chosen, call) = (app.devices.clone(), name.clone(), call_id.clone());
    let opened = tauri::async_runtime::spawn_blocking(move || devices.open_for_call(&call, device, chosen.as_deref()))
        .await
        .map_err(|e| UiError::local(e.to_string()))?
        .map_err(UiError::local)?;
    match opened {
        OpenedDevice::Microphone(mic) => app.client.switch_call_microphone(&call_id, Some(mic))?,
        OpenedDevice::Speaker(speaker) => app.client.switch_call_speaker(&call_id, Some(speaker))?,
        OpenedDevice::Camera(camera) => app.client.switch_call_camera(&call_id, Some(camera))?,
    }
    let mut settings = app.devices.settings.get();
    match device {
        CallDevice::Microphone => settings.microphone = name,
        CallDevice::Speaker => settings.speaker = name,
        CallDevice::Camera => settings.camera = name,
    }
    app.devices.settings.set(settings).map_err(UiError::local)
}

/// The calls of this device as they are now (after lost events, or when the page loads).
#[tauri::command]
#[specta::specta]
fn calls_now(app: State<'_, Desktop>) -> Answer<Vec<CallSnapshot>> {
    Ok(app.client.calls_now())
}

#[tauri::command]
#[specta::specta]
fn call_stats(app: State<'_, Desktop>, call_id: String) -> Answer<Option<CallStats>> {
    Ok(app.client.call_stats(&call_id))
}

/// Enumerating devices may block on the sound server: off the async runtime's threads.
#[tauri::command]
#[specta::specta]
async fn list_devices() -> Answer<DeviceList> {
    tauri::async_runtime::spawn_blocking(crate::media::list_devices).await.map_err(|e| UiError::local(e.to_string()))
}

#[tauri::command]
#[specta::specta]
fn get_settings(app: State<'_, Desktop>) -> Answer<Settings> {
    Ok(app.devices.settings.get())
}

/// Saves the settings; new ICE servers apply to the next call, as do the chosen devices.
#[tauri::command]
#[specta::specta]
fn set_settings(app: State<'_, Desktop>, settings: Settings) -> Answer<()> {
    app.devices.settings.set(settings.clone()).map_err(UiError::local)?;
    app.client.set_call_config(settings.call_config());
    Ok(())
}

/// Where calls get their ICE servers: the server's list (fetched if the cached one is stale) and the
/// user's own, without credentials.
#[tauri::command]
#[specta::specta]
async fn ice_server_sources(app: State<'_, Desktop>) -> Answer<IceServerSources> {
    Ok(app.client.ice_server_sources().await)
}

/// Where video frames go (see `media.rs` for the message layout).
#[tauri::command]
#[specta::specta]
fn watch_video(app: State<'_, Desktop>, channel: Channel<VideoNotice>) -> Answer<()> {
    app.devices.video.watch(channel);
    Ok(())
}

#[tauri::command]
#[specta::specta]
fn video_transport_stats(app: State<'_, Desktop>) -> Answer<VideoTransportStats> {
    Ok(app.devices.video.stats())
}

impl From<HostingError> for UiError {
    fn from(e: HostingError) -> Self {
        let code = match e {
            HostingError::PortTaken(_) => "port_taken",
            _ => "hosting",
        };
        UiError { code: code.into(), message: e.to_string() }
    }
}

/// Whether a Confab server answers at `url` (`GET <url>/healthz`), asked from here rather than
/// from the webview, whose content security policy and CORS would get in the way.
#[tauri::command]
#[specta::specta]
async fn probe_server(url: String) -> Answer<bool> {
    tauri::async_runtime::spawn_blocking(move || crate::hosting::healthy(&url, Duration::from_secs(2)))
        .await
        .map_err(|e| UiError::local(e.to_string()))
}

/// Starts the bundled server (`thisComputer`: 127.0.0.1:4000, `localNetwork`: 0.0.0.0:4000) and
/// answers once it does; remembered, so the app hosts again at its next start.
#[tauri::command]
#[specta::specta]
async fn host_server(app: State<'_, Desktop>, scope: Scope) -> Answer<HostedServer> {
    let hosting = app.hosting.clone();
    let server = tauri::async_runtime::spawn_blocking(move || hosting.host(scope))
        .await
        .map_err(|e| UiError::local(e.to_string()))??;
    let settings = Settings { hosting: Some(scope), ..app.devices.settings.get() };
    app.devices.settings.set(settings).map_err(UiError::local)?;
    Ok(server)
}

/// The server this app hosts, if it runs.
#[tauri::command]
#[specta::specta]
async fn hosting_status(app: State<'_, Desktop>) -> Answer<Option<HostedServer>> {
    let hosting = app.hosting.clone();
    tauri::async_runtime::spawn_blocking(move || hosting.status()).await.map_err(|e| UiError::local(e.to_string()))
}

/// Stops the hosted server, and stops hosting at the next starts too.
#[tauri::command]
#[specta::specta]
async fn stop_hosting(app: State<'_, Desktop>) -> Answer<()> {
    let hosting = app.hosting.clone();
    tauri::async_runtime::spawn_blocking(move || hosting.stop()).await.map_err(|e| UiError::local(e.to_string()))?;
    let settings = Settings { hosting: None, ..app.devices.settings.get() };
    app.devices.settings.set(settings).map_err(UiError::local)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// How to regenerate, in the file and in the failure message.
    const REGENERATE: &str = "CONFAB_WRITE_BINDINGS=1 cargo test -p confab-desktop --locked ui_bindings_are_current";

    /// The bindings as they should be: tauri-specta renders types in name order, so the text only
    /// changes when a type or a command does.
    fn render() -> String {
        let header = format!(
            "// Generated by tauri-specta from src-tauri/src/commands.rs and the Rust types it names. Do not edit.\n\
             // Regenerate: {REGENERATE}\n"
        );
        // tauri-specta exports to a file only.
        let tmp = std::env::temp_dir().join(format!("confab-bindings-{}.ts", std::process::id()));
        super::builder().export(specta_typescript::Typescript::default().header(header), &tmp).expect("export");
        let text = std::fs::read_to_string(&tmp).expect("read the exported bindings");
        let _ = std::fs::remove_file(&tmp);
        text
    }

    /// `ui/src/bindings.ts` matches the Rust types; with `CONFAB_WRITE_BINDINGS=1` it is rewritten.
    #[test]
    fn ui_bindings_are_current() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings.ts");
        let rendered = render();
        assert!(!rendered.contains("bigint"), "ids and times must reach the UI as numbers");
        if std::env::var("CONFAB_WRITE_BINDINGS").as_deref() == Ok("1") {
            std::fs::write(&path, &rendered).expect("write ui/src/bindings.ts");
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != rendered {
            let line = current
                .lines()
                .zip(rendered.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| current.lines().count().min(rendered.lines().count()) + 1, |i| i + 1);
            panic!(
                "ui/src/bindings.ts is stale (it differs from the Rust types from line {line} on).\n\
                 Regenerate it from the repository root with:\n    {REGENERATE}\n\
                 and commit the result."
            );
        }
    }
}
