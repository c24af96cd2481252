//! `confab-desktop`: the Tauri shell. It opens a [`confab_client::Client`], exposes it to the
//! webview as commands, forwards its events, and shows the notifications the core decides on.
//! No domain logic lives here.
//!
//! Calls: [`media::AppDevices`] gives the client core its microphone, speaker, the test-pattern
//! "camera" and the video path to the webview; [`settings`] keeps the ICE servers and chosen
//! devices.
//!
//! Hosting: [`hosting`] starts the bundled `confab-server` for the user who has none (issue 18),
//! and this module stops it when the app quits, unless the settings say to keep hosting.

mod commands;
pub mod hosting;
pub mod media;
pub mod settings;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use confab_client::notify::{Attention, notice_for};
use confab_client::{Client, ClientEvent};
use confab_protocol::ConversationId;
use tauri::{Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

/// The event name the webview listens to; its payload is a [`ClientEvent`].
pub const EVENT: &str = "confab://event";
/// Several [`ClientEvent`]s that queued together (a burst), in order, as one array: one message to
/// the webview and one render instead of one per event.
pub const EVENTS: &str = "confab://events";

/// The app's state, shared by the commands.
pub struct Desktop {
    pub client: Client,
    /// What the UI shows, for the notification policy.
    pub attention: Mutex<Attention>,
    /// The call devices given to the client (settings, video to the webview).
    pub devices: Arc<media::AppDevices>,
    /// The server this app hosts, if any.
    pub hosting: Arc<hosting::Hosting>,
}

/// The server the sign-in screen proposes: `CONFAB_SERVER_URL`, else the local one.
pub fn default_server_url() -> String {
    std::env::var("CONFAB_SERVER_URL").unwrap_or_else(|_| "http://127.0.0.1:4000".into())
}

/// On Linux, WebKitGTK composites the page with OpenGL. Without a GPU (virtual machines, remote
/// desktops, Xvfb) that is Mesa's software rasterizer, and a video call's two pictures then cost the
/// web process 1.2 cores; drawn without compositing they cost 0.2 (docs/performance.md, "Video to the
/// webview"). So when the machine has no GPU render node (`/dev/dri/renderD*`), compositing is
/// turned off, unless the user set `WEBKIT_DISABLE_COMPOSITING_MODE` themselves (`0` keeps it on).
#[cfg(target_os = "linux")]
fn prefer_cpu_rendering_without_gpu() {
    const VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    let has_gpu = std::fs::read_dir("/dev/dri")
        .map(|nodes| nodes.flatten().any(|node| node.file_name().to_string_lossy().starts_with("renderD")))
        .unwrap_or(false);
    if !has_gpu && std::env::var_os(VAR).is_none() {
        // SAFETY: called first thing in `run`, before any thread of this process exists; WebKit
        // reads the variable in the web process it starts later, which inherits it.
        unsafe { std::env::set_var(VAR, "1") };
    }
}

pub fn run() {
    #[cfg(target_os = "linux")]
    prefer_cpu_rendering_without_gpu();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,confab_client=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let video = Arc::new(media::VideoOut::default());
    let frames = video.clone();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .register_uri_scheme_protocol(media::FRAME_SCHEME, move |_, request| media::serve_frame(&frames, &request))
        .setup(move |app| {
            // CONFAB_DATA_DIR overrides the platform's app data directory (tests, portable installs).
            let data_dir = match std::env::var_os("CONFAB_DATA_DIR") {
                Some(dir) => dir.into(),
                None => app.path().app_data_dir()?,
            };
            let opening = std::time::Instant::now();
            let client = tauri::async_runtime::block_on(Client::open(data_dir.clone()))?;
            tracing::info!(ms = opening.elapsed().as_millis() as u64, "client core opened (cache, session)");
            let settings = Arc::new(settings::SettingsStore::open(&data_dir));
            client.set_call_config(settings.get().call_config());
            let hosted_scope = settings.get().hosting;
            let devices = Arc::new(media::AppDevices::new(settings, video));
            client.set_media_devices(devices.clone());
            tauri::async_runtime::spawn(forward_events(app.handle().clone(), client.clone()));
            #[cfg(unix)]
            tauri::async_runtime::spawn(exit_on_signal(app.handle().clone()));
            let hosting = Arc::new(hosting::Hosting::new(data_dir.join("server")));
            if let Some(scope) = hosted_scope {
                resume_hosting(hosting.clone(), scope);
            }
            app.manage(Desktop { client, attention: Mutex::new(Attention::default()), devices, hosting });
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::Focused(focused) = event
                && let Some(desktop) = window.try_state::<Desktop>()
            {
                desktop.attention.lock().unwrap_or_else(|p| p.into_inner()).focused = *focused;
            }
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                on_exit(app);
            }
        }),
        Err(e) => {
            eprintln!("confab: {e}");
            std::process::exit(1);
        }
    }
}

/// The app hosted a server when it last ran (settings `hosting`) and the user may be signed in to
/// it: take over the server kept hosting in the background, or start it again
/// ([`hosting::Hosting::resume`]). On a thread of its own, so the window opens meanwhile; the client
/// connects once it answers.
fn resume_hosting(hosting: Arc<hosting::Hosting>, scope: hosting::Scope) {
    std::thread::spawn(move || {
        if let Err(e) = hosting.resume(scope) {
            tracing::warn!(error = %e, "hosting the Confab server again failed");
        }
    });
}

/// SIGTERM (the desktop session ending, `kill`) and SIGHUP quit the app the way closing its window
/// does, so that [`on_exit`] runs and the hosted server does not outlive it. (SIGKILL cannot be
/// caught: a server left behind that way answers at the next start and is used as it is.)
#[cfg(unix)]
async fn exit_on_signal(app: tauri::AppHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    app.exit(0);
}

/// Stops the hosted server, unless the user chose to keep hosting in the background.
fn on_exit(app: &tauri::AppHandle) {
    let Some(desktop) = app.try_state::<Desktop>() else { return };
    if desktop.devices.settings.get().keep_hosting {
        desktop.hosting.detach();
    } else {
        desktop.hosting.stop();
    }
}

/// Most events forwarded together (see [`forward_events`]).
const FORWARD_BATCH: usize = 1000;

/// Sends every client event to the webview and raises the notifications it deserves. Events that
/// queued meanwhile (a burst) are forwarded together, and their new messages make one notification.
async fn forward_events(app: tauri::AppHandle, client: Client) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut events = client.subscribe();
    let lagged = |missed: u64| {
        tracing::warn!(missed, "the UI fell behind; it will re-read its state");
        ClientEvent::Lagged
    };
    let mut since_trim = 0;
    loop {
        let next = if since_trim < TRIM_AFTER {
            events.recv().await
        } else {
            match tokio::time::timeout(TRIM_WHEN_IDLE_FOR, events.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    since_trim = 0;
                    tokio::task::spawn_blocking(return_freed_memory);
                    continue;
                }
            }
        };
        let mut batch = match next {
            Ok(event) => vec![event],
            Err(RecvError::Lagged(missed)) => vec![lagged(missed)],
            Err(RecvError::Closed) => return,
        };
        while batch.len() < FORWARD_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(TryRecvError::Lagged(missed)) => batch.push(lagged(missed)),
                Err(_) => break,
            }
        }
        since_trim += batch.len();
        let open = app.state::<Desktop>().attention.lock().map(|a| a.open_conversation).unwrap_or_default();
        let shown = for_the_webview(&batch, open);
        let sent = match shown.as_slice() {
            [one] => app.emit(EVENT, one),
            many => app.emit(EVENTS, many),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "forwarding events to the webview failed");
        }
        let (messages, others): (Vec<ClientEvent>, Vec<ClientEvent>) =
            batch.into_iter().partition(|e| matches!(e, ClientEvent::Message { is_new: true, .. }));
        for event in &others {
            notify(&app, &client, event).await;
        }
        match <[ClientEvent; 1]>::try_from(messages) {
            Ok([one]) => notify(&app, &client, &one).await,
            Err(messages) if !messages.is_empty() => notify(&app, &client, &as_page(messages)).await,
            Err(_) => {}
        }
    }
}

/// After this many events (a burst), the heap is trimmed once the stream is idle.
const TRIM_AFTER: usize = 1000;
const TRIM_WHEN_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// A burst frees what it allocated (pushed JSON, queued events), but glibc's malloc keeps freed
/// pages in its per-thread arenas, so the app's resident memory stayed ~30 MiB higher after one
/// (docs/performance.md, issue 18). Gives them back to the system.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas; it takes the
    // arenas' locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What of a batch the webview needs: of the messages of a conversation it does not show, only the
/// last (its summary is the batch's final one; the store keeps no messages of closed conversations).
fn for_the_webview(batch: &[ClientEvent], open: Option<ConversationId>) -> Vec<&ClientEvent> {
    let mut later = HashSet::new();
    let mut shown: Vec<&ClientEvent> = batch
        .iter()
        .rev()
        .filter(|event| match event {
            ClientEvent::Message { message, .. } if Some(message.conversation_id) != open => {
                later.insert(message.conversation_id)
            }
            _ => true,
        })
        .collect();
    shown.reverse();
    shown
}

/// Several new messages as one page, for the notification policy: one notice says how many.
fn as_page(events: Vec<ClientEvent>) -> ClientEvent {
    let mut messages = Vec::with_capacity(events.len());
    let mut conversations: Vec<confab_protocol::Conversation> = Vec::new();
    for event in events {
        if let ClientEvent::Message { message, conversation, .. } = event {
            messages.push(*message);
            match conversations.iter_mut().find(|c| c.id == conversation.id) {
                Some(held) => *held = *conversation,
                None => conversations.push(*conversation),
            }
        }
    }
    ClientEvent::SyncPage { messages, conversations }
}

async fn notify(app: &tauri::AppHandle, client: &Client, event: &ClientEvent) {
    let Some((_, me)) = client.session() else { return };
    let attention = app.state::<Desktop>().attention.lock().map(|a| *a).unwrap_or_default();
    let conversations: Vec<ConversationId> = match event {
        ClientEvent::Message { message, .. } => vec![message.conversation_id],
        ClientEvent::SyncPage { conversations, .. } => conversations.iter().map(|c| c.id).collect(),
        _ => Vec::new(),
    };
    let mut muted = HashSet::new();
    for id in conversations {
        if client.is_muted(id).await.unwrap_or(false) {
            muted.insert(id);
        }
    }
    if let Some(notice) = notice_for(event, me.id, attention, &|id| muted.contains(&id))
        && let Err(e) = app.notification().builder().title(&notice.title).body(&notice.body).show()
    {
        tracing::warn!(error = %e, "showing a notification failed");
    }
}
