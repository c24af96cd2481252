-- Confab's schema. Portable SQL on purpose (a PostgreSQL twin follows with scale-out):
-- integer ids, times as BIGINT milliseconds since the Unix epoch, no JSON functions.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,   -- stored lower-case: unique case-insensitively
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,          -- argon2id PHC string
    created_at    BIGINT  NOT NULL,
    last_seen     BIGINT                     -- when the user's last device disconnected
);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    token_hash  TEXT    NOT NULL UNIQUE,     -- hex SHA-256 of the bearer token; the token itself is never stored
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE friend_requests (
    id         INTEGER PRIMARY KEY,
    from_user  INTEGER NOT NULL REFERENCES users(id),
    to_user    INTEGER NOT NULL REFERENCES users(id),
    created_at BIGINT  NOT NULL,
    UNIQUE (from_user, to_user)
);
CREATE INDEX friend_requests_to ON friend_requests (to_user);

-- One row per direction, so "friends of X" is one index range.
CREATE TABLE friendships (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    friend_id  INTEGER NOT NULL REFERENCES users(id),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL,        -- 'direct' | 'group'
    title            TEXT,
    direct_key       TEXT    UNIQUE,          -- 'lowId:highId' for direct conversations: one per pair
    created_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       BIGINT  NOT NULL,
    last_seq         BIGINT  NOT NULL DEFAULT 0,   -- the conversation's change counter (see messages.seq)
    last_activity_at BIGINT  NOT NULL
);

CREATE TABLE conversation_members (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    user_id         INTEGER NOT NULL REFERENCES users(id),
    joined_at       BIGINT  NOT NULL,
    last_read_seq   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    seq             BIGINT  NOT NULL,         -- the conversation's seq when the message was created
    updated_seq     BIGINT  NOT NULL,         -- the seq of its newest change (edit, delete, reaction, pin)
    sender_id       INTEGER NOT NULL REFERENCES users(id),
    kind            TEXT    NOT NULL,         -- 'text' | 'call'
    content         TEXT,                     -- NULL once deleted (erased, not hidden)
    client_msg_id   TEXT,
    call_json       TEXT,                     -- CallRecord for kind = 'call'
    created_at      BIGINT  NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    pinned_at       BIGINT,
    pinned_by       INTEGER REFERENCES users(id),
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX messages_changes ON messages (conversation_id, updated_seq);

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    emoji      TEXT    NOT NULL,
    added_seq  BIGINT  NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
