-- The desktop client's local cache: what the UI shows without a server, and what is waiting to be sent.
-- Messages and conversations are kept as the server's JSON (their current state) with the columns
-- needed to query them.

CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    json          TEXT    NOT NULL,          -- confab_protocol::Conversation
    last_activity BIGINT  NOT NULL,          -- newest message timestamp or creation time, for sorting
    muted         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    seq             BIGINT  NOT NULL,
    updated_seq     BIGINT  NOT NULL,
    json            TEXT    NOT NULL         -- confab_protocol::Message, current state
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);

-- The newest seq up to which the cache holds every change of a conversation: what `sync` asks from.
CREATE TABLE sync_points (
    conversation_id INTEGER PRIMARY KEY,
    seq             BIGINT NOT NULL
);

-- Messages written but not yet acknowledged by the server, in the order written.
CREATE TABLE outbox (
    local_id        INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL,
    client_msg_id   TEXT    NOT NULL UNIQUE,
    content         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    error_json      TEXT                     -- ErrorBody of a refusal that needs the user (retry clears it)
);

CREATE TABLE read_cursors (
    conversation_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    seq             BIGINT  NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
